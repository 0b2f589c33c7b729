//! Face restoration metrics of the DiffMAC paper (Tables 1–2), computed the way the field
//! computes them so numbers are comparable with published ones.
//!
//! | metric | module | convention |
//! |---|---|---|
//! | PSNR | [`psnr`] | basicsr `calculate_psnr` (= scikit-image `peak_signal_noise_ratio`, `data_range=255`) |
//! | SSIM | [`ssim`] | basicsr `calculate_ssim` (default) or scikit-image `structural_similarity` |
//! | NIQE | [`niqe()`] | basicsr `calculate_niqe` with its pristine parameters (shipped) |
//! | LPIPS | [`lpips`] | PyPI `lpips` 0.1.4 (AlexNet/VGG16, shipped heads, user backbone), Burn |
//! | FID | [`fid`] | pytorch-fid 0.3.0 (FID Inception-v3 on Burn, Fréchet distance) |
//! | identity | [`identity_score`] | cosine and angle of identity embeddings |
//! | LMD | [`landmark_distance`] | mean landmark distance (5-point MTCNN in [`job`]) |
//!
//! [`job::run_eval`] runs a whole batch (pairing, every metric, FID with its cache, the JSON
//! report): what the `diffmac-eval` tool calls.
//!
//! Images enter as [`Image255`]: `f64` samples on the 0–255 scale (RGB or one channel). See
//! `docs/evaluation.md` for every convention and its source.

mod color;
mod error;
pub mod fid;
mod filter;
mod identity;
mod image;
pub mod job;
mod landmarks;
mod load;
pub mod lpips;
mod metric;
pub mod niqe;
mod options;
mod pairing;
mod psnr;
mod report;
mod ssim;

pub use color::{y_channel, y_of_rgb};
pub use error::{EvalError, Result, UnknownName};
pub use filter::{filter_valid, gaussian_kernel, uniform_kernel};
pub use identity::{IdentityScore, identity_score};
pub use image::Image255;
pub use landmarks::landmark_distance;
pub use load::load_image255;
pub use lpips::{Lpips, LpipsNet};
pub use metric::Metric;
pub use niqe::{NiqeParams, niqe};
pub use options::FullReferenceOptions;
pub use pairing::{Pair, Pairing, pair_folders};
pub use psnr::psnr;
pub use report::{ImageScores, MetricSummary, format_table, summarize};
pub use ssim::{SsimConvention, ssim};
