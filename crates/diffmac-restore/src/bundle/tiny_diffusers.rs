//! A tiny Stable Diffusion folder in diffusers layout (`unet/`, `vae/`, `text_encoder/`,
//! `scheduler/`), with random weights at the tiny bundle's sizes: what `diffmac-convert sd`
//! reads, small enough for tests of conversion and of `--download` (served by a stand-in
//! hub). It restores nothing.

use std::path::Path;

use burn::tensor::backend::Backend;
use burn::tensor::{Device, FloatDType};
use diffmac_io::{IoError, save_safetensors};
use diffmac_ldm::loader::export;
use diffmac_ldm::scheduler::SCHEDULER_CONFIG;
use diffmac_ldm::tiny::{TINY_UNET, TINY_VAE};
use diffmac_ldm::{
    AutoencoderKL, ClipTextConfig, ClipTextModel, UNet2DConditionModel, UNetConfig, VaeConfig,
    VarBuilder,
};

use crate::error::Result;

/// The tiny text encoder: CLIP's layout at the tiny UNet's cross-attention width (24), with
/// CLIP's vocabulary so that the empty prompt's token ids exist.
pub const TINY_TEXT_ENCODER: &str = r#"{
  "architectures": ["CLIPTextModel"],
  "hidden_act": "gelu",
  "hidden_size": 24,
  "intermediate_size": 48,
  "layer_norm_eps": 1e-05,
  "max_position_embeddings": 77,
  "model_type": "clip_text_model",
  "num_attention_heads": 2,
  "num_hidden_layers": 1,
  "vocab_size": 49408
}"#;

/// SD 2.1-base's scheduler config (ε-prediction, scaled-linear β).
const SD21_SCHEDULER: &str = r#"{
  "_class_name": "DDIMScheduler",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "num_train_timesteps": 1000,
  "prediction_type": "epsilon"
}"#;

/// Writes the tiny diffusers folder into `dir` (created if needed; files there are replaced)
/// and returns the repository paths of the files written. Equal seeds give equal folders
/// on the same backend.
///
/// # Errors
/// [`crate::RestoreError`] if a file cannot be written.
pub fn write_tiny_diffusers<B: Backend>(
    dir: &Path,
    seed: u64,
    device: &Device<B>,
) -> Result<Vec<String>> {
    B::seed(device, seed);
    let weights = "diffusion_pytorch_model.safetensors";
    let mut written = Vec::new();
    let mut put = |path: String, text: &str| -> Result<()> {
        let full = dir.join(&path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(|e| IoError::io(parent, e))?;
        }
        std::fs::write(&full, text).map_err(|e| IoError::io(&full, e))?;
        written.push(path);
        Ok(())
    };
    put(SCHEDULER_CONFIG.to_owned(), SD21_SCHEDULER)?;
    put("unet/config.json".into(), TINY_UNET)?;
    put("vae/config.json".into(), TINY_VAE)?;
    put("text_encoder/config.json".into(), TINY_TEXT_ENCODER)?;

    let vb = VarBuilder::<B>::random(device, FloatDType::F32);
    let unet = UNet2DConditionModel::load(&UNetConfig::from_json(TINY_UNET)?, &vb)?;
    save_safetensors(
        dir.join("unet").join(weights),
        &export(&unet, &vb.key_map())?,
    )?;
    written.push(format!("unet/{weights}"));

    let vb = VarBuilder::<B>::random(device, FloatDType::F32);
    let vae_config: VaeConfig = serde_json::from_str(TINY_VAE).expect("a valid VAE config");
    let vae = AutoencoderKL::load(&vae_config, &vb)?;
    save_safetensors(dir.join("vae").join(weights), &export(&vae, &vb.key_map())?)?;
    written.push(format!("vae/{weights}"));

    let vb = VarBuilder::<B>::random(device, FloatDType::F32);
    let text_config: ClipTextConfig =
        serde_json::from_str(TINY_TEXT_ENCODER).expect("a valid CLIP config");
    let clip = ClipTextModel::load(&text_config, &vb)?;
    save_safetensors(
        dir.join("text_encoder/model.safetensors"),
        &export(&clip, &vb.key_map())?,
    )?;
    written.push("text_encoder/model.safetensors".into());
    Ok(written)
}
