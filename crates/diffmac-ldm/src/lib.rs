//! Stable Diffusion 2.1 latent diffusion modules for DiffMAC, generic over a Burn backend.
//!
//! What works (each matched against diffusers / transformers on random-weight fixtures, f32):
//! - [`vae::AutoencoderKL`]: encoder, `quant_conv` (its 8-channel output on its own via
//!   [`vae::AutoencoderKL::moments`]), [`vae::DiagonalGaussian`] (mean, std, sampling with
//!   given noise), `post_quant_conv`, decoder; latent scale factor from the config.
//! - [`unet::UNet2DConditionModel`] as SD 2.1-base / 2.1-768 configure it, with
//!   [`unet::UNet2DConditionModel::forward_modulated`]: a hook on the input of each encoder
//!   block for the Stage I AdaIN control (eqs. 2–4).
//! - [`clip::ClipTextModel`]: the CLIP text tower, with both the last and the penultimate
//!   (final-LayerNorm'd) hidden states, and the empty prompt's token ids.
//! - [`config`]: serde structs read from the real `config.json` files.
//! - [`loader`]: diffusers-layout safetensors (f32 / f16 / bf16 files, converted to the
//!   precision asked for) with errors naming the file and key for missing keys, unexpected
//!   keys, wrong shapes and truncated files; parameter counts from shapes alone; writing a
//!   loaded module back in the checkpoint's layout ([`loader::export`]).
//! - [`single_file`]: the original single-file SD 2.x checkpoint layout.
//! - f32, f16 and bf16 execution (norms and upcast attention in f32), tested on the CPU
//!   backend against the f32 reference with loose bounds.
//!
//! - [`control::AdaInControl`]: the Stage I AdaIN control (eqs. 2–4) on that hook, with
//!   zero-initialised γ/β convolutions and a choice of which parts train.
//! - [`stage`]: one DID stage, the controlled UNet sampled by `diffmac-sampler`'s spaced
//!   DDPM / DDIM, as the restorer and the trainer (for `X_D1`) both run it.
//! - [`tiny`]: toy-size model configs for tests and first runs.
//! - [`scheduler`]: a checkpoint's noise schedule, and the refusal of non-ε models (SD 2.x-768).
//!
//! Not yet: sharded or `.bin`
//! checkpoints, and any measured GPU timing (see the crate README and `docs/ldm.md`).

pub mod attention;
pub mod clip;
pub mod config;
pub mod control;
pub mod embeddings;
pub mod error;
pub mod loader;
pub mod module_file;
pub mod nn;
pub mod resnet;
pub mod scheduler;
pub mod single_file;
pub mod stage;
pub mod tiny;
pub mod unet;
pub mod unet_blocks;
pub mod vae;

pub use clip::{ClipOutput, ClipTextModel, sd2_empty_prompt_ids};
pub use config::{ClipTextConfig, UNetConfig, VaeConfig};
pub use control::{AdaInControl, ControlConfig, ControlModulation, ManifoldInput, TrainableParts};
pub use error::{LdmError, Result};
pub use loader::VarBuilder;
pub use module_file::{cast_module, load_module, load_module_file, module_tensors, save_module};
pub use single_file::SdCheckpoint;
pub use stage::{StageDenoiser, sample_stage};
pub use unet::{AddModulation, EncoderModulation, NoModulation, UNet2DConditionModel};
pub use vae::{AutoencoderKL, DiagonalGaussian};
