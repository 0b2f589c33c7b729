//! The original single-file SD 2.x checkpoint layout (`v2-1_512-ema-pruned.safetensors`):
//! UNet under `model.diffusion_model.`, VAE under `first_stage_model.`, OpenCLIP text tower
//! under `cond_stage_model.model.`.
//!
//! Each component is renamed into the diffusers layout (the mapping of diffusers'
//! `convert_ldm_unet_checkpoint`, `convert_ldm_vae_checkpoint` and
//! `convert_open_clip_checkpoint`): fused q/k/v projections are split, the VAE's 1×1-conv
//! attention weights become linear ones, and the result goes through the same loader as a
//! diffusers folder. The components are views of the one file: nothing is copied until a
//! loader reads a tensor. A key that fits no rule is an error, as are keys outside the three
//! components other than the training buffers listed in [`IGNORED_KEYS`].

use std::path::{Path, PathBuf};

use diffmac_io::SafetensorsFile;
use diffmac_io::weights::TensorView;

use crate::config::{ClipTextConfig, UNetConfig, VaeConfig};
use crate::error::{LdmError, Result};

/// Prefix of the UNet's keys.
pub const UNET_PREFIX: &str = "model.diffusion_model.";
/// Prefix of the VAE's keys.
pub const VAE_PREFIX: &str = "first_stage_model.";
/// Prefix of the OpenCLIP text tower's keys.
pub const TEXT_PREFIX: &str = "cond_stage_model.model.";

/// Top-level keys of the original checkpoint that are not weights of the three components
/// (the DDPM schedule buffers, EMA bookkeeping); they are skipped.
pub const IGNORED_KEYS: &[&str] = &[
    "betas",
    "alphas_cumprod",
    "alphas_cumprod_prev",
    "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod",
    "log_one_minus_alphas_cumprod",
    "sqrt_recip_alphas_cumprod",
    "sqrt_recipm1_alphas_cumprod",
    "posterior_variance",
    "posterior_log_variance_clipped",
    "posterior_mean_coef1",
    "posterior_mean_coef2",
    "logvar",
    "model_ema.decay",
    "model_ema.num_updates",
];

/// Text-tower keys that SD does not use (CLIP's image-text projection and temperature).
const IGNORED_TEXT_KEYS: &[&str] = &["text_projection", "logit_scale", "attn_mask"];

/// An original single-file SD checkpoint, split into per-component files on demand.
#[derive(Debug)]
pub struct SdCheckpoint {
    file: SafetensorsFile,
}

fn resnet_name(rest: &str) -> Option<String> {
    const MAP: &[(&str, &str)] = &[
        ("in_layers.0.", "norm1."),
        ("in_layers.2.", "conv1."),
        ("emb_layers.1.", "time_emb_proj."),
        ("out_layers.0.", "norm2."),
        ("out_layers.3.", "conv2."),
        ("skip_connection.", "conv_shortcut."),
    ];
    MAP.iter()
        .find_map(|(old, new)| rest.strip_prefix(old).map(|p| format!("{new}{p}")))
}

/// Splits `a.b.rest` into (`a` as a number, the rest).
fn index_and_rest(s: &str) -> Option<(usize, &str)> {
    let (i, rest) = s.split_once('.')?;
    Some((i.parse().ok()?, rest))
}

/// Original UNet key (without prefix) → diffusers key.
fn unet_key(key: &str, layers_per_block: usize) -> Option<String> {
    let per = layers_per_block + 1;
    for (old, new) in [
        ("time_embed.0.", "time_embedding.linear_1."),
        ("time_embed.2.", "time_embedding.linear_2."),
        ("input_blocks.0.0.", "conv_in."),
        ("out.0.", "conv_norm_out."),
        ("out.2.", "conv_out."),
    ] {
        if let Some(p) = key.strip_prefix(old) {
            return Some(format!("{new}{p}"));
        }
    }
    if let Some(s) = key.strip_prefix("input_blocks.") {
        let (i, s) = index_and_rest(s)?;
        let (k, rest) = index_and_rest(s)?;
        if i == 0 {
            return None;
        }
        let (b, j) = ((i - 1) / per, (i - 1) % per);
        return match k {
            0 if j == layers_per_block => rest
                .strip_prefix("op.")
                .map(|p| format!("down_blocks.{b}.downsamplers.0.conv.{p}")),
            0 => resnet_name(rest).map(|r| format!("down_blocks.{b}.resnets.{j}.{r}")),
            1 if j < layers_per_block => Some(format!("down_blocks.{b}.attentions.{j}.{rest}")),
            _ => None,
        };
    }
    if let Some(s) = key.strip_prefix("middle_block.") {
        let (k, rest) = index_and_rest(s)?;
        return match k {
            0 | 2 => resnet_name(rest).map(|r| format!("mid_block.resnets.{}.{r}", k / 2)),
            1 => Some(format!("mid_block.attentions.0.{rest}")),
            _ => None,
        };
    }
    if let Some(s) = key.strip_prefix("output_blocks.") {
        let (i, s) = index_and_rest(s)?;
        let (k, rest) = index_and_rest(s)?;
        let (b, j) = (i / per, i % per);
        if let Some(p) = rest.strip_prefix("conv.")
            && k >= 1
            && j == layers_per_block
        {
            return Some(format!("up_blocks.{b}.upsamplers.0.conv.{p}"));
        }
        return match k {
            0 => resnet_name(rest).map(|r| format!("up_blocks.{b}.resnets.{j}.{r}")),
            1 => Some(format!("up_blocks.{b}.attentions.{j}.{rest}")),
            _ => None,
        };
    }
    None
}

/// Original VAE key (without prefix) → diffusers key, and whether a 1×1-conv weight must
/// become a linear one.
fn vae_key(key: &str, levels: usize) -> Option<(String, bool)> {
    let (part, s) = key.split_once('.')?;
    if part != "encoder" && part != "decoder" {
        return match key {
            "quant_conv.weight"
            | "quant_conv.bias"
            | "post_quant_conv.weight"
            | "post_quant_conv.bias" => Some((key.to_string(), false)),
            _ => None,
        };
    }
    let resnet = |r: &str| r.replace("nin_shortcut.", "conv_shortcut.");
    let new = if let Some(p) = s.strip_prefix("norm_out.") {
        format!("conv_norm_out.{p}")
    } else if s.starts_with("conv_in.") || s.starts_with("conv_out.") {
        s.to_string()
    } else if let Some(d) = s.strip_prefix("down.").filter(|_| part == "encoder") {
        let (i, rest) = index_and_rest(d)?;
        if let Some(r) = rest.strip_prefix("block.") {
            let (j, r) = index_and_rest(r)?;
            format!("down_blocks.{i}.resnets.{j}.{}", resnet(r))
        } else {
            format!(
                "down_blocks.{i}.downsamplers.0.conv.{}",
                rest.strip_prefix("downsample.conv.")?
            )
        }
    } else if let Some(u) = s.strip_prefix("up.").filter(|_| part == "decoder") {
        let (i, rest) = index_and_rest(u)?;
        let i = levels.checked_sub(1)?.checked_sub(i)?;
        if let Some(r) = rest.strip_prefix("block.") {
            let (j, r) = index_and_rest(r)?;
            format!("up_blocks.{i}.resnets.{j}.{}", resnet(r))
        } else {
            format!(
                "up_blocks.{i}.upsamplers.0.conv.{}",
                rest.strip_prefix("upsample.conv.")?
            )
        }
    } else if let Some(r) = s.strip_prefix("mid.block_1.") {
        format!("mid_block.resnets.0.{}", resnet(r))
    } else if let Some(r) = s.strip_prefix("mid.block_2.") {
        format!("mid_block.resnets.1.{}", resnet(r))
    } else if let Some(r) = s.strip_prefix("mid.attn_1.") {
        let (name, param) = r.split_once('.')?;
        let new = match name {
            "norm" => "group_norm",
            "q" => "to_q",
            "k" => "to_k",
            "v" => "to_v",
            "proj_out" => "to_out.0",
            _ => return None,
        };
        let squeeze = name != "norm" && param == "weight";
        return Some((
            format!("{part}.mid_block.attentions.0.{new}.{param}"),
            squeeze,
        ));
    } else {
        return None;
    };
    Some((format!("{part}.{new}"), false))
}

impl SdCheckpoint {
    /// Reads a single-file checkpoint and checks that every key belongs to one of the three
    /// components or is a known non-weight buffer.
    ///
    /// # Errors
    /// File errors, or [`LdmError::UnexpectedKeys`] for keys of unknown origin.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let file = SafetensorsFile::open(path)?;
        let unknown: Vec<String> = file
            .keys()
            .filter(|k| {
                !(k.starts_with(UNET_PREFIX)
                    || k.starts_with(VAE_PREFIX)
                    || k.starts_with(TEXT_PREFIX)
                    || k.starts_with("model_ema.")
                    || IGNORED_KEYS.contains(k))
            })
            .map(str::to_string)
            .collect();
        if !unknown.is_empty() {
            return Err(LdmError::UnexpectedKeys {
                path: file.path().to_path_buf(),
                count: unknown.len(),
                keys: unknown.into_iter().take(8).collect(),
            });
        }
        Ok(Self { file })
    }

    fn label(&self, component: &str) -> PathBuf {
        PathBuf::from(format!("{} ({component})", self.file.path().display()))
    }

    fn unmapped(&self, keys: Vec<String>) -> LdmError {
        LdmError::UnexpectedKeys {
            path: self.file.path().to_path_buf(),
            count: keys.len(),
            keys: keys.into_iter().take(8).collect(),
        }
    }

    /// The UNet's weights in the diffusers layout, as a view of the file for
    /// [`crate::UNet2DConditionModel::load`].
    ///
    /// # Errors
    /// [`LdmError::UnexpectedKeys`] for UNet keys that fit no rule.
    pub fn unet(&self, config: &UNetConfig) -> Result<SafetensorsFile> {
        let mut out = Vec::new();
        let mut bad = Vec::new();
        for key in self.file.keys().filter(|k| k.starts_with(UNET_PREFIX)) {
            match unet_key(&key[UNET_PREFIX.len()..], config.layers_per_block) {
                Some(new) => out.push(TensorView::new(new, key)),
                None => bad.push(key.to_string()),
            }
        }
        if !bad.is_empty() {
            return Err(self.unmapped(bad));
        }
        Ok(self.file.view(self.label("unet"), out)?)
    }

    /// The VAE's weights in the diffusers layout.
    ///
    /// # Errors
    /// [`LdmError::UnexpectedKeys`] for VAE keys that fit no rule.
    pub fn vae(&self, config: &VaeConfig) -> Result<SafetensorsFile> {
        let mut out = Vec::new();
        let mut bad = Vec::new();
        let levels = config.block_out_channels.len();
        for key in self.file.keys().filter(|k| k.starts_with(VAE_PREFIX)) {
            match vae_key(&key[VAE_PREFIX.len()..], levels) {
                Some((new, squeeze)) => {
                    let view = TensorView::new(new, key);
                    // The attention's 1×1 convolutions are linear layers in diffusers.
                    out.push(match self.file.shape(key) {
                        Some(&[rows, cols, ..]) if squeeze => view.reshaped(vec![rows, cols]),
                        _ => view,
                    });
                }
                None => bad.push(key.to_string()),
            }
        }
        if !bad.is_empty() {
            return Err(self.unmapped(bad));
        }
        Ok(self.file.view(self.label("vae"), out)?)
    }

    /// The text encoder's weights in the transformers `CLIPTextModel` layout.
    ///
    /// Transformer layers at or beyond `config.num_hidden_layers` are skipped: SD 2.x's
    /// diffusers config has 23 of OpenCLIP's 24 layers, because SD 2.x conditions on the
    /// penultimate layer (diffusers' converter drops layer 23 the same way). With a 24-layer
    /// config, use [`crate::ClipOutput::penultimate_hidden_state`] instead.
    ///
    /// # Errors
    /// [`LdmError::UnexpectedKeys`] for text keys that fit no rule.
    pub fn text_encoder(&self, config: &ClipTextConfig) -> Result<SafetensorsFile> {
        let mut out = Vec::new();
        let mut bad = Vec::new();
        for key in self.file.keys().filter(|k| k.starts_with(TEXT_PREFIX)) {
            let k = &key[TEXT_PREFIX.len()..];
            if IGNORED_TEXT_KEYS.contains(&k) {
                continue;
            }
            let fixed = match k {
                "token_embedding.weight" => Some("embeddings.token_embedding.weight".to_string()),
                "positional_embedding" => Some("embeddings.position_embedding.weight".to_string()),
                "ln_final.weight" => Some("final_layer_norm.weight".to_string()),
                "ln_final.bias" => Some("final_layer_norm.bias".to_string()),
                _ => None,
            };
            if let Some(new) = fixed {
                out.push(TensorView::new(format!("text_model.{new}"), key));
                continue;
            }
            let Some((i, rest)) = k
                .strip_prefix("transformer.resblocks.")
                .and_then(index_and_rest)
            else {
                bad.push(key.to_string());
                continue;
            };
            if i >= config.num_hidden_layers {
                continue;
            }
            let base = format!("text_model.encoder.layers.{i}");
            if let Some(param) = rest.strip_prefix("attn.in_proj_") {
                let param = match param {
                    "weight" => "weight",
                    "bias" => "bias",
                    _ => {
                        bad.push(key.to_string());
                        continue;
                    }
                };
                // OpenCLIP fuses the three projections; transformers keeps them apart.
                for (i, name) in ["q_proj", "k_proj", "v_proj"].into_iter().enumerate() {
                    let new = format!("{base}.self_attn.{name}.{param}");
                    out.push(TensorView::new(new, key).part(i, 3));
                }
                continue;
            }
            let renamed = [
                ("attn.out_proj.", "self_attn.out_proj."),
                ("ln_1.", "layer_norm1."),
                ("ln_2.", "layer_norm2."),
                ("mlp.c_fc.", "mlp.fc1."),
                ("mlp.c_proj.", "mlp.fc2."),
            ]
            .iter()
            .find_map(|(old, new)| rest.strip_prefix(old).map(|p| format!("{new}{p}")));
            match renamed {
                Some(r) => out.push(TensorView::new(format!("{base}.{r}"), key)),
                None => bad.push(key.to_string()),
            }
        }
        if !bad.is_empty() {
            return Err(self.unmapped(bad));
        }
        Ok(self.file.view(self.label("text_encoder"), out)?)
    }
}
