//! The CLIP text encoder SD 2.x conditions on (OpenCLIP ViT-H's text tower in the
//! transformers `CLIPTextModel` layout).
//!
//! Which output SD 2.x uses: the original model runs OpenCLIP's 24 layers but takes the
//! *penultimate* layer's output followed by the final LayerNorm. The diffusers folder of
//! SD 2.1 already drops the last layer (its config has 23 layers), so there the context is
//! simply [`ClipOutput::last_hidden_state`]. [`ClipOutput::penultimate_hidden_state`] is the
//! second-to-last layer's output *with* the final LayerNorm applied, i.e. the context when
//! the encoder holds all 24 layers.
//!
//! DiffMAC always conditions on the empty prompt, so [`sd2_empty_prompt_ids`] gives its
//! token ids and no tokenizer is needed.

use std::path::Path;

use burn::module::{Module, Param};
use burn::tensor::activation::{gelu, sigmoid};
use burn::tensor::backend::Backend;
use burn::tensor::{Device, ElementConversion, FloatDType, Int, Tensor};
use diffmac_io::SafetensorsFile;

use crate::attention::{merge_heads, sdpa, split_heads};
use crate::config::ClipTextConfig;
use crate::error::{LdmError, Result};
use crate::loader::VarBuilder;
use crate::nn::{LayerNorm, Linear};

/// SD 2.x tokenizer: start-of-text id.
pub const SD2_BOS: i64 = 49406;
/// SD 2.x tokenizer: end-of-text id.
pub const SD2_EOS: i64 = 49407;
/// SD 2.x tokenizer: padding id (it pads with `!`, id 0, not with end-of-text as SD 1.x).
pub const SD2_PAD: i64 = 0;
/// Sequence length of SD's text encoder.
pub const MAX_LEN: usize = 77;

/// Token ids of the empty prompt `""` as SD 2.x's tokenizer writes it: start, end, then
/// padding up to 77.
pub fn sd2_empty_prompt_ids() -> [i64; MAX_LEN] {
    let mut ids = [SD2_PAD; MAX_LEN];
    ids[0] = SD2_BOS;
    ids[1] = SD2_EOS;
    ids
}

/// Self-attention of a CLIP layer (biased `q/k/v/out_proj`, causal).
#[derive(Module, Debug)]
pub struct ClipAttention<B: Backend> {
    /// Query projection.
    pub q_proj: Linear<B>,
    /// Key projection.
    pub k_proj: Linear<B>,
    /// Value projection.
    pub v_proj: Linear<B>,
    /// Output projection.
    pub out_proj: Linear<B>,
    /// Heads.
    pub heads: usize,
}

/// The MLP of a CLIP layer.
#[derive(Module, Debug)]
pub struct ClipMlp<B: Backend> {
    /// `hidden → intermediate`.
    pub fc1: Linear<B>,
    /// `intermediate → hidden`.
    pub fc2: Linear<B>,
    /// `quick_gelu` (x·σ(1.702x)) instead of the exact GELU.
    pub quick_gelu: bool,
}

/// One pre-norm transformer layer.
#[derive(Module, Debug)]
pub struct ClipEncoderLayer<B: Backend> {
    /// Norm before attention.
    pub layer_norm1: LayerNorm<B>,
    /// Causal self-attention.
    pub self_attn: ClipAttention<B>,
    /// Norm before the MLP.
    pub layer_norm2: LayerNorm<B>,
    /// MLP.
    pub mlp: ClipMlp<B>,
}

impl<B: Backend> ClipEncoderLayer<B> {
    fn load(vb: &VarBuilder<B>, c: &ClipTextConfig) -> Result<Self> {
        let (d, m) = (c.hidden_size, c.intermediate_size);
        let a = vb.pp("self_attn");
        Ok(Self {
            layer_norm1: LayerNorm::load(&vb.pp("layer_norm1"), d, c.layer_norm_eps)?,
            self_attn: ClipAttention {
                q_proj: Linear::load(&a.pp("q_proj"), d, d, true)?,
                k_proj: Linear::load(&a.pp("k_proj"), d, d, true)?,
                v_proj: Linear::load(&a.pp("v_proj"), d, d, true)?,
                out_proj: Linear::load(&a.pp("out_proj"), d, d, true)?,
                heads: c.num_attention_heads,
            },
            layer_norm2: LayerNorm::load(&vb.pp("layer_norm2"), d, c.layer_norm_eps)?,
            mlp: ClipMlp {
                fc1: Linear::load(&vb.pp("mlp").pp("fc1"), d, m, true)?,
                fc2: Linear::load(&vb.pp("mlp").pp("fc2"), m, d, true)?,
                quick_gelu: c.hidden_act == "quick_gelu",
            },
        })
    }

    /// `[B, L, D]` → `[B, L, D]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let h = self.layer_norm1.forward(x.clone());
        let a = &self.self_attn;
        let q = split_heads(a.q_proj.forward(h.clone()), a.heads);
        let k = split_heads(a.k_proj.forward(h.clone()), a.heads);
        let v = split_heads(a.v_proj.forward(h), a.heads);
        let x = a.out_proj.forward(merge_heads(sdpa(q, k, v, false, true))) + x;
        let h = self.mlp.fc1.forward(self.layer_norm2.forward(x.clone()));
        let h = if self.mlp.quick_gelu {
            h.clone() * sigmoid(h * 1.702)
        } else {
            gelu(h)
        };
        self.mlp.fc2.forward(h) + x
    }
}

/// The two hidden states SD may condition on.
#[derive(Debug, Clone)]
pub struct ClipOutput<B: Backend> {
    /// Final LayerNorm of the last layer's output `[B, L, D]` (transformers'
    /// `last_hidden_state`; the SD 2.x context for the diffusers folder).
    pub last_hidden_state: Tensor<B, 3>,
    /// Final LayerNorm of the second-to-last layer's output `[B, L, D]` (the SD 2.x context
    /// when the encoder holds OpenCLIP's full 24 layers).
    pub penultimate_hidden_state: Tensor<B, 3>,
}

/// transformers' `CLIPTextModel` (no pooled output: SD does not use it).
#[derive(Module, Debug)]
pub struct ClipTextModel<B: Backend> {
    /// `[vocab, D]`.
    pub token_embedding: Param<Tensor<B, 2>>,
    /// `[max_positions, D]`.
    pub position_embedding: Param<Tensor<B, 2>>,
    /// Transformer layers.
    pub layers: Vec<ClipEncoderLayer<B>>,
    /// Final LayerNorm.
    pub final_layer_norm: LayerNorm<B>,
}

impl<B: Backend> ClipTextModel<B> {
    /// Builds the model from `vb`. Accepts keys with the `text_model.` prefix (files written
    /// by transformers 4.x, as SD 2.1's) or without it (transformers 5.x), and ignores the
    /// `embeddings.position_ids` buffer that older exports contain.
    ///
    /// # Errors
    /// A loader error naming the missing or mis-shaped key.
    pub fn load(config: &ClipTextConfig, vb: &VarBuilder<B>) -> Result<Self> {
        let vb = if vb.contains("text_model.final_layer_norm.weight") {
            vb.pp("text_model")
        } else {
            vb.clone()
        };
        let emb = vb.pp("embeddings");
        if emb.contains("position_ids") {
            emb.ignore("position_ids");
        }
        let d = config.hidden_size;
        let enc = vb.pp("encoder").pp("layers");
        Ok(Self {
            token_embedding: emb
                .pp("token_embedding")
                .param("weight", [config.vocab_size, d])?,
            position_embedding: emb
                .pp("position_embedding")
                .param("weight", [config.max_position_embeddings, d])?,
            layers: (0..config.num_hidden_layers)
                .map(|i| ClipEncoderLayer::load(&enc.pp(i), config))
                .collect::<Result<_>>()?,
            final_layer_norm: LayerNorm::load(
                &vb.pp("final_layer_norm"),
                d,
                config.layer_norm_eps,
            )?,
        })
    }

    /// Loads a transformers `text_encoder/` folder (`config.json` + `model.safetensors`).
    ///
    /// # Errors
    /// Config, file, missing/unexpected-key and shape errors, each naming the file and key.
    pub fn from_dir(dir: impl AsRef<Path>, device: &Device<B>, dtype: FloatDType) -> Result<Self> {
        let dir = dir.as_ref();
        let config = ClipTextConfig::from_file(dir.join("config.json"))?;
        let file = SafetensorsFile::open(dir.join("model.safetensors"))?;
        let vb = VarBuilder::from_file(file, device, dtype);
        let model = Self::load(&config, &vb)?;
        vb.finish()?;
        Ok(model)
    }

    /// Number of parameters a checkpoint for `config` holds, from shapes only.
    ///
    /// # Errors
    /// Only if the config cannot be built.
    pub fn parameter_count(config: &ClipTextConfig, device: &Device<B>) -> Result<usize> {
        let vb = VarBuilder::shapes_only(device);
        drop(Self::load(config, &vb)?);
        Ok(vb.recorded_numel())
    }

    /// `input_ids` `[B, L]` (L ≤ max positions, ids < vocab) → both candidate contexts.
    ///
    /// # Errors
    /// [`LdmError::InvalidInput`] for too long sequences or out-of-range ids.
    pub fn forward(&self, input_ids: Tensor<B, 2, Int>) -> Result<ClipOutput<B>> {
        let [b, l] = input_ids.dims();
        let [vocab, d] = self.token_embedding.val().dims();
        let max_pos = self.position_embedding.val().dims()[0];
        if l > max_pos {
            return Err(LdmError::InvalidInput(format!(
                "{l} tokens, the encoder takes at most {max_pos}"
            )));
        }
        let ids = input_ids.reshape([b * l]);
        let lo: i64 = ids.clone().min().into_scalar().elem();
        let hi: i64 = ids.clone().max().into_scalar().elem();
        if lo < 0 || hi >= vocab as i64 {
            return Err(LdmError::InvalidInput(format!(
                "token ids range over {lo}..={hi}, the vocabulary has {vocab}"
            )));
        }
        let tokens = self.token_embedding.val().select(0, ids).reshape([b, l, d]);
        let positions = self
            .position_embedding
            .val()
            .slice(0..l)
            .unsqueeze_dim::<3>(0);
        let mut h = tokens + positions;
        let mut before_last = h.clone();
        for layer in &self.layers {
            before_last = h.clone();
            h = layer.forward(h);
        }
        Ok(ClipOutput {
            last_hidden_state: self.final_layer_norm.forward(h),
            penultimate_hidden_state: self.final_layer_norm.forward(before_last),
        })
    }
}
