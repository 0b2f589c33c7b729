//! Configs read from the real diffusers / transformers `config.json` files.
//!
//! Fields that these files may omit get the library's default. Fields this port does not
//! model are accepted only with the value that leaves them unused (e.g.
//! `class_embed_type: null`); anything else is an [`LdmError::UnsupportedConfig`] rather than
//! a silently different model. Bookkeeping fields (`_class_name`, `_diffusers_version`, ...)
//! are ignored.

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{LdmError, Result};

/// A config value that diffusers accepts either once for all blocks or once per block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PerBlock<T> {
    /// The same value for every block.
    One(T),
    /// One value per block.
    Many(Vec<T>),
}

impl<T: Clone> PerBlock<T> {
    /// The value for each of `n` blocks; `None` if a list has another length.
    pub fn expand(&self, n: usize) -> Option<Vec<T>> {
        match self {
            Self::One(v) => Some(vec![v.clone(); n]),
            Self::Many(v) if v.len() == n => Some(v.clone()),
            Self::Many(_) => None,
        }
    }
}

/// A model config read from JSON: parsed, then checked against what this port supports.
/// [`UNetConfig`], [`VaeConfig`] and [`ClipTextConfig`] read their files through
/// [`read_config`] and [`parse_config`], so that every config reports a file the same way.
trait JsonConfig: DeserializeOwned {
    /// Checks the parsed config; `path` names its source in the error.
    fn validate(&self, path: &Path) -> Result<()>;
}

/// Reads, parses and validates the config file at `path`.
fn read_config<T: JsonConfig>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| LdmError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_config_at(path, &text)
}

/// Parses and validates a config from a JSON string, named `<in memory>` in errors.
fn parse_config<T: JsonConfig>(json: &str) -> Result<T> {
    parse_config_at(Path::new("<in memory>"), json)
}

/// Parses and validates `json`, the text of the config at `path`.
fn parse_config_at<T: JsonConfig>(path: &Path, json: &str) -> Result<T> {
    let config: T = serde_json::from_str(json).map_err(|source| LdmError::ConfigParse {
        path: path.to_path_buf(),
        source,
    })?;
    config.validate(path)?;
    Ok(config)
}

fn unsupported(path: &Path, message: impl Into<String>) -> LdmError {
    LdmError::UnsupportedConfig {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Checks that every key of `allowed` present in `rest` has one of its accepted values.
fn check_rest(
    path: &Path,
    rest: &BTreeMap<String, Value>,
    allowed: &[(&str, Vec<Value>)],
) -> Result<()> {
    for (key, values) in allowed {
        if let Some(v) = rest.get(*key)
            && !values.contains(v)
        {
            return Err(unsupported(path, format!("`{key}` = {v} is not supported")));
        }
    }
    Ok(())
}

fn default_true() -> bool {
    true
}
fn default_one() -> f64 {
    1.0
}
fn default_in4() -> usize {
    4
}
fn default_groups() -> usize {
    32
}
fn default_norm_eps() -> f64 {
    1e-5
}
fn default_heads() -> PerBlock<usize> {
    PerBlock::One(8)
}
fn default_tlpb() -> PerBlock<usize> {
    PerBlock::One(1)
}
fn default_mid() -> String {
    "UNetMidBlock2DCrossAttn".into()
}
fn default_silu() -> String {
    "silu".into()
}
fn default_cross_dim() -> usize {
    1280
}
fn default_padding() -> usize {
    1
}
fn default_layers() -> usize {
    2
}
fn default_flip() -> bool {
    true
}

/// `unet/config.json` of a diffusers `UNet2DConditionModel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UNetConfig {
    /// Latent channels in.
    #[serde(default = "default_in4")]
    pub in_channels: usize,
    /// Channels out (the noise prediction).
    #[serde(default = "default_in4")]
    pub out_channels: usize,
    /// Whether the input is mapped from [0, 1] to [-1, 1] first.
    #[serde(default)]
    pub center_input_sample: bool,
    /// Timestep embedding: cos before sin.
    #[serde(default = "default_flip")]
    pub flip_sin_to_cos: bool,
    /// Timestep embedding frequency shift.
    #[serde(default)]
    pub freq_shift: f64,
    /// `CrossAttnDownBlock2D` or `DownBlock2D`, per level.
    pub down_block_types: Vec<String>,
    /// `UNetMidBlock2DCrossAttn` (the only one supported).
    #[serde(default = "default_mid")]
    pub mid_block_type: String,
    /// `CrossAttnUpBlock2D` or `UpBlock2D`, per level (lowest resolution first).
    pub up_block_types: Vec<String>,
    /// Output channels of each level.
    pub block_out_channels: Vec<usize>,
    /// ResNet layers per down block (up blocks have one more).
    #[serde(default = "default_layers")]
    pub layers_per_block: usize,
    /// Padding of the downsampling convolutions.
    #[serde(default = "default_padding")]
    pub downsample_padding: usize,
    /// Output scale of the mid block's ResNets.
    #[serde(default = "default_one")]
    pub mid_block_scale_factor: f64,
    /// Activation (`silu`).
    #[serde(default = "default_silu")]
    pub act_fn: String,
    /// Groups of every GroupNorm.
    #[serde(default = "default_groups")]
    pub norm_num_groups: usize,
    /// Epsilon of the ResNet and output GroupNorms.
    #[serde(default = "default_norm_eps")]
    pub norm_eps: f64,
    /// Width of the cross-attention context (1024 for SD 2.x).
    #[serde(default = "default_cross_dim")]
    pub cross_attention_dim: usize,
    /// Transformer layers in each attention block, per level.
    #[serde(default = "default_tlpb")]
    pub transformer_layers_per_block: PerBlock<usize>,
    /// Up-block transformer layers (default: the down values reversed).
    #[serde(default)]
    pub reverse_transformer_layers_per_block: Option<Vec<usize>>,
    /// Despite its name, SD 2.x's configs use this for the number of heads per level
    /// (diffusers reads it so when `num_attention_heads` is null).
    #[serde(default = "default_heads")]
    pub attention_head_dim: PerBlock<usize>,
    /// Heads per level, if given explicitly.
    #[serde(default)]
    pub num_attention_heads: Option<PerBlock<usize>>,
    /// Linear (true) or 1×1-conv (false) projections into and out of the transformers.
    #[serde(default)]
    pub use_linear_projection: bool,
    /// Compute attention scores in f32 (SD 2.1-768).
    #[serde(default)]
    pub upcast_attention: bool,
    /// Training resolution of the latent (informative).
    #[serde(default)]
    pub sample_size: Option<usize>,
    /// Every other field, checked against the values this port supports.
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

impl UNetConfig {
    /// Reads and validates a `config.json`.
    ///
    /// # Errors
    /// I/O, parse or unsupported-config errors naming the file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        read_config(path.as_ref())
    }

    /// Parses and validates a config from a JSON string.
    ///
    /// # Errors
    /// Parse or unsupported-config errors.
    pub fn from_json(json: &str) -> Result<Self> {
        parse_config(json)
    }

    /// Attention heads per level (diffusers' reading of `attention_head_dim`).
    pub fn heads(&self) -> Option<Vec<usize>> {
        self.num_attention_heads
            .as_ref()
            .unwrap_or(&self.attention_head_dim)
            .expand(self.block_out_channels.len())
    }

    /// Transformer layers per level, down blocks.
    pub fn transformer_layers(&self) -> Option<Vec<usize>> {
        self.transformer_layers_per_block
            .expand(self.block_out_channels.len())
    }

    /// Width of the timestep embedding (4 × the first level's channels).
    pub fn time_embed_dim(&self) -> usize {
        self.block_out_channels[0] * 4
    }
}

impl JsonConfig for UNetConfig {
    fn validate(&self, path: &Path) -> Result<()> {
        let n = self.block_out_channels.len();
        if n == 0 || self.down_block_types.len() != n || self.up_block_types.len() != n {
            return Err(unsupported(
                path,
                "block_out_channels, down_block_types and up_block_types need the same, non-zero length",
            ));
        }
        for t in &self.down_block_types {
            if t != "CrossAttnDownBlock2D" && t != "DownBlock2D" {
                return Err(unsupported(path, format!("down block type `{t}`")));
            }
        }
        for t in &self.up_block_types {
            if t != "CrossAttnUpBlock2D" && t != "UpBlock2D" {
                return Err(unsupported(path, format!("up block type `{t}`")));
            }
        }
        if self.mid_block_type != "UNetMidBlock2DCrossAttn" {
            return Err(unsupported(
                path,
                format!("mid block type `{}`", self.mid_block_type),
            ));
        }
        if self.act_fn != "silu" {
            return Err(unsupported(path, format!("act_fn `{}`", self.act_fn)));
        }
        if self.heads().is_none() || self.transformer_layers().is_none() {
            return Err(unsupported(
                path,
                "per-block lists must have one entry per level",
            ));
        }
        for (&c, &h) in self
            .block_out_channels
            .iter()
            .zip(self.heads().unwrap_or_default().iter())
        {
            if !c.is_multiple_of(self.norm_num_groups) || h == 0 || !c.is_multiple_of(h) {
                return Err(unsupported(
                    path,
                    format!(
                        "{c} channels do not split into {} groups and {h} heads",
                        self.norm_num_groups
                    ),
                ));
            }
        }
        let null = || vec![Value::Null];
        let no = || vec![Value::Bool(false)];
        check_rest(
            path,
            &self.rest,
            &[
                (
                    "only_cross_attention",
                    vec![Value::Bool(false), Value::Array(vec![])],
                ),
                ("dual_cross_attention", no()),
                ("class_embed_type", null()),
                ("num_class_embeds", null()),
                ("addition_embed_type", null()),
                ("encoder_hid_dim", null()),
                ("encoder_hid_dim_type", null()),
                ("time_cond_proj_dim", null()),
                ("time_embedding_dim", null()),
                ("time_embedding_act_fn", null()),
                ("timestep_post_act", null()),
                ("cross_attention_norm", null()),
                ("resnet_time_scale_shift", vec![Value::from("default")]),
                ("resnet_skip_time_act", no()),
                (
                    "resnet_out_scale_factor",
                    vec![Value::from(1.0), Value::from(1)],
                ),
                ("time_embedding_type", vec![Value::from("positional")]),
                ("conv_in_kernel", vec![Value::from(3)]),
                ("conv_out_kernel", vec![Value::from(3)]),
                ("attention_type", vec![Value::from("default")]),
                ("dropout", vec![Value::from(0.0), Value::from(0)]),
                (
                    "mid_block_only_cross_attention",
                    vec![Value::Null, Value::Bool(false)],
                ),
                ("class_embeddings_concat", no()),
            ],
        )
    }
}

fn default_scaling() -> f64 {
    0.18215
}
fn default_latent() -> usize {
    4
}
fn default_three() -> usize {
    3
}
fn default_vae_layers() -> usize {
    1
}

/// `vae/config.json` of a diffusers `AutoencoderKL`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaeConfig {
    /// Image channels in.
    #[serde(default = "default_three")]
    pub in_channels: usize,
    /// Image channels out.
    #[serde(default = "default_three")]
    pub out_channels: usize,
    /// `DownEncoderBlock2D` per level.
    pub down_block_types: Vec<String>,
    /// `UpDecoderBlock2D` per level.
    pub up_block_types: Vec<String>,
    /// Channels of each level.
    pub block_out_channels: Vec<usize>,
    /// ResNets per encoder block (decoder blocks have one more).
    #[serde(default = "default_vae_layers")]
    pub layers_per_block: usize,
    /// Activation (`silu`).
    #[serde(default = "default_silu")]
    pub act_fn: String,
    /// Latent channels (the quant_conv output has twice as many: mean and log-variance).
    #[serde(default = "default_latent")]
    pub latent_channels: usize,
    /// Groups of every GroupNorm.
    #[serde(default = "default_groups")]
    pub norm_num_groups: usize,
    /// Training image size (informative).
    #[serde(default)]
    pub sample_size: Option<usize>,
    /// Latent scale factor (0.18215 for SD; diffusers' default when the file omits it).
    #[serde(default = "default_scaling")]
    pub scaling_factor: f64,
    /// Latent shift (SD: none).
    #[serde(default)]
    pub shift_factor: Option<f64>,
    /// Whether the model has `quant_conv`.
    #[serde(default = "default_true")]
    pub use_quant_conv: bool,
    /// Whether the model has `post_quant_conv`.
    #[serde(default = "default_true")]
    pub use_post_quant_conv: bool,
    /// Whether the mid blocks have their attention layer.
    #[serde(default = "default_true")]
    pub mid_block_add_attention: bool,
    /// Every other field, checked against the values this port supports.
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

impl VaeConfig {
    /// Reads and validates a `config.json`.
    ///
    /// # Errors
    /// I/O, parse or unsupported-config errors naming the file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        read_config(path.as_ref())
    }

    /// Parses and validates a config from a JSON string.
    ///
    /// # Errors
    /// Parse or unsupported-config errors.
    pub fn from_json(json: &str) -> Result<Self> {
        parse_config(json)
    }
}

impl JsonConfig for VaeConfig {
    fn validate(&self, path: &Path) -> Result<()> {
        let n = self.block_out_channels.len();
        if n == 0 || self.down_block_types.len() != n || self.up_block_types.len() != n {
            return Err(unsupported(
                path,
                "block lists need the same, non-zero length",
            ));
        }
        if self
            .down_block_types
            .iter()
            .any(|t| t != "DownEncoderBlock2D")
            || self.up_block_types.iter().any(|t| t != "UpDecoderBlock2D")
        {
            return Err(unsupported(
                path,
                "only DownEncoderBlock2D / UpDecoderBlock2D blocks",
            ));
        }
        if self.act_fn != "silu" {
            return Err(unsupported(path, format!("act_fn `{}`", self.act_fn)));
        }
        if self
            .block_out_channels
            .iter()
            .any(|c| !c.is_multiple_of(self.norm_num_groups))
        {
            return Err(unsupported(
                path,
                "channels must split into norm_num_groups groups",
            ));
        }
        if self.shift_factor.is_some_and(|s| s != 0.0) {
            return Err(unsupported(path, "a latent shift_factor"));
        }
        check_rest(
            path,
            &self.rest,
            &[
                ("latents_mean", vec![Value::Null]),
                ("latents_std", vec![Value::Null]),
            ],
        )
    }
}

fn default_vocab() -> usize {
    49408
}
fn default_hidden() -> usize {
    512
}
fn default_inter() -> usize {
    2048
}
fn default_clip_layers() -> usize {
    12
}
fn default_clip_heads() -> usize {
    8
}
fn default_positions() -> usize {
    77
}
fn default_act() -> String {
    "quick_gelu".into()
}

/// `text_encoder/config.json` of a transformers `CLIPTextModel`.
#[derive(Debug, Clone, Deserialize)]
pub struct ClipTextConfig {
    /// Token vocabulary size.
    #[serde(default = "default_vocab")]
    pub vocab_size: usize,
    /// Width of the hidden states (1024 for SD 2.x).
    #[serde(default = "default_hidden")]
    pub hidden_size: usize,
    /// Width of the MLP.
    #[serde(default = "default_inter")]
    pub intermediate_size: usize,
    /// Transformer layers (23 in SD 2.x's diffusers folder: the last OpenCLIP layer is
    /// already dropped there).
    #[serde(default = "default_clip_layers")]
    pub num_hidden_layers: usize,
    /// Attention heads.
    #[serde(default = "default_clip_heads")]
    pub num_attention_heads: usize,
    /// Sequence length (77).
    #[serde(default = "default_positions")]
    pub max_position_embeddings: usize,
    /// `gelu` (SD 2.x) or `quick_gelu` (SD 1.x).
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// LayerNorm epsilon.
    #[serde(default = "default_norm_eps")]
    pub layer_norm_eps: f64,
    /// Every other field (ignored: token ids, projection width of the full CLIP, ...).
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

impl ClipTextConfig {
    /// Reads and validates a `config.json`.
    ///
    /// # Errors
    /// I/O, parse or unsupported-config errors naming the file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        read_config(path.as_ref())
    }

    /// Parses and validates a config from a JSON string.
    ///
    /// # Errors
    /// Parse or unsupported-config errors.
    pub fn from_json(json: &str) -> Result<Self> {
        parse_config(json)
    }
}

impl JsonConfig for ClipTextConfig {
    fn validate(&self, path: &Path) -> Result<()> {
        if self.hidden_act != "gelu" && self.hidden_act != "quick_gelu" {
            return Err(unsupported(
                path,
                format!("hidden_act `{}`", self.hidden_act),
            ));
        }
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err(unsupported(path, "hidden_size must split into the heads"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every config is parsed and checked the same way, from a string or a file, and its
    /// errors name the source.
    #[test]
    fn configs_from_strings_and_files_are_parsed_and_checked_alike() {
        let ok = ClipTextConfig::from_json(r#"{"hidden_act": "gelu"}"#).unwrap();
        assert_eq!(ok.hidden_act, "gelu");
        let err = ClipTextConfig::from_json(r#"{"hidden_act": "relu"}"#).unwrap_err();
        assert!(
            matches!(&err, LdmError::UnsupportedConfig { path, .. } if path == Path::new("<in memory>")),
            "{err}"
        );
        assert!(err.to_string().contains("hidden_act `relu`"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, "{ not json").unwrap();
        let err = VaeConfig::from_file(&path).unwrap_err();
        assert!(
            matches!(&err, LdmError::ConfigParse { path: p, .. } if p == &path),
            "{err}"
        );
        std::fs::write(&path, r#"{"hidden_act": "relu"}"#).unwrap();
        let err = ClipTextConfig::from_file(&path).unwrap_err();
        assert!(
            matches!(&err, LdmError::UnsupportedConfig { path: p, .. } if p == &path),
            "{err}"
        );
    }
}
