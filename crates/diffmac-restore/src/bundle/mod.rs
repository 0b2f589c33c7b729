//! Model bundles: one folder holding everything a DiffMAC restoration needs.
//!
//! ```text
//! config.json                 BundleConfig: architectures, schedule, μ_QC/σ_QC, provenance
//! vae.safetensors             the shared, frozen VAE (diffusers keys)
//! unet.safetensors            the UNet (diffusers keys); stages may name their own
//! control_stage1.safetensors  Stage I's AdaIN control (module-path keys)
//! control_stage2.safetensors  Stage II's AdaIN control
//! mib.safetensors             the manifold information bottleneck (not in 2AdaIN bundles)
//! identity.safetensors        F_ID (ArcFace IResNet, insightface keys)
//! context.safetensors         the empty prompt's text encoding `context` [1, 77, D]
//! ```

pub mod config;
pub mod convert;
pub mod load;
pub mod locate;
pub mod merge;
pub mod random;
pub mod tiny;
pub mod tiny_diffusers;

pub use config::{BundleConfig, IdentityFiles, MibFiles, Stage2Variant, StageFiles};
pub use load::{ModelBundle, StageModels};
pub use locate::{MODEL_ENV, default_model_dir, resolve_model_dir};
pub use random::{Preset, random_bundle};
pub use tiny::write_tiny_bundle;
pub use tiny_diffusers::{TINY_TEXT_ENCODER, write_tiny_diffusers};
