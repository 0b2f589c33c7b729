//! # diffmac-degrade
//!
//! The synthetic degradation of DiffMAC's training data (paper §4.1.1, eq. 14):
//!
//! `X_LQ = {[(X_HQ ⊛ k_G)↓r + n_σ]_JPEG_q}↑r`
//!
//! Gaussian blur ([`blur`], [`kernel`], [`fft_blur`]), down-sampling by r ([`resize`]), additive Gaussian
//! noise ([`noise`]), a real JPEG round trip ([`jpeg`]) and up-sampling back to the input size,
//! each stage switched on by a probability and drawn from the ranges of a serde
//! [`DegradationConfig`] whose defaults are the paper's. Everything is reproducible from a seed
//! (`diffmac_io::stream_rng`, one stream per image).
//!
//! [`job`] is the folder batch behind the `diffmac-degrade` tool. Image files themselves
//! (loading, writing, tensors) belong to `diffmac-io`.
//!
//! ```
//! use diffmac_degrade::{degrade_random, DegradationConfig};
//! use diffmac_io::stream_rng;
//!
//! let hq = image::Rgb32FImage::from_pixel(64, 64, image::Rgb([0.5, 0.4, 0.3]));
//! let mut rng = stream_rng(7, b"face.png");
//! let (lq, params) = degrade_random(&hq, &DegradationConfig::default(), &mut rng).unwrap();
//! assert_eq!(lq.dimensions(), (64, 64));
//! println!("{params:?}");
//! ```

pub mod blur;
pub mod config;
pub mod error;
pub mod fft_blur;
pub mod job;
pub mod jpeg;
pub mod kernel;
pub mod noise;
pub mod params;
pub mod pipeline;
pub mod resize;

pub use config::{
    BlurConfig, DegradationConfig, DownsampleConfig, Interpolation, JpegConfig, NoiseConfig,
    UniformRange,
};
pub use error::{DegradeError, Result};
pub use params::{BlurParams, DegradationParams, DownsampleParams};
pub use pipeline::{degrade, degrade_random, degrade_rgb8, quantize_8bit};
