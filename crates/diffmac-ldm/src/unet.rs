//! `UNet2DConditionModel` (SD 2.1-base and 2.1-768) with a hook on the input of each
//! encoder block.
//!
//! DiffMAC's Stage I (eqs. 2–4) modulates the feature `hⁱ` entering the *i*-th encoder
//! (down) block of the SD UNet. [`UNet2DConditionModel::forward_modulated`] hands that
//! tensor to an [`EncoderModulation`] and feeds the block what it returns; with
//! [`NoModulation`] it is exactly the plain UNet.

use std::path::Path;

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{Device, FloatDType, Tensor};
use diffmac_io::SafetensorsFile;

use crate::config::UNetConfig;
use crate::embeddings::{TimestepEmbedding, timestep_embedding};
use crate::error::{LdmError, Result};
use crate::loader::VarBuilder;
use crate::nn::{Conv2d, GroupNorm};
use crate::unet_blocks::{BlockSettings, DownBlock, MidBlock, UpBlock, UpChannels};

/// A transformation of the input of each encoder block.
pub trait EncoderModulation<B: Backend> {
    /// `h` is the input of down block `level` (`[B, C, H, W]`: after `conv_in` for level 0,
    /// else the previous block's downsampled output); returns what the block receives
    /// (same shape).
    fn modulate(&self, level: usize, h: Tensor<B, 4>) -> Tensor<B, 4>;
}

/// The identity modulation: the plain UNet.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoModulation;

impl<B: Backend> EncoderModulation<B> for NoModulation {
    fn modulate(&self, _level: usize, h: Tensor<B, 4>) -> Tensor<B, 4> {
        h
    }
}

/// Adds a precomputed tensor to the input of the levels that have one.
#[derive(Debug, Clone)]
pub struct AddModulation<B: Backend>(pub Vec<Option<Tensor<B, 4>>>);

impl<B: Backend> EncoderModulation<B> for AddModulation<B> {
    fn modulate(&self, level: usize, h: Tensor<B, 4>) -> Tensor<B, 4> {
        match self.0.get(level) {
            Some(Some(m)) => h + m.clone(),
            _ => h,
        }
    }
}

impl<B: Backend, F: Fn(usize, Tensor<B, 4>) -> Tensor<B, 4>> EncoderModulation<B> for F {
    fn modulate(&self, level: usize, h: Tensor<B, 4>) -> Tensor<B, 4> {
        self(level, h)
    }
}

/// diffusers' `UNet2DConditionModel` restricted to what SD 2.x uses (see [`UNetConfig`]).
#[derive(Module, Debug)]
pub struct UNet2DConditionModel<B: Backend> {
    /// 3×3, latent → first level.
    pub conv_in: Conv2d<B>,
    /// Timestep MLP.
    pub time_embedding: TimestepEmbedding<B>,
    /// Encoder blocks, highest resolution first.
    pub down_blocks: Vec<DownBlock<B>>,
    /// Bottleneck.
    pub mid_block: MidBlock<B>,
    /// Decoder blocks, lowest resolution first.
    pub up_blocks: Vec<UpBlock<B>>,
    /// Output GroupNorm.
    pub conv_norm_out: GroupNorm<B>,
    /// 3×3, first level → output channels.
    pub conv_out: Conv2d<B>,
    /// Width of the sinusoidal timestep embedding.
    pub time_proj_dim: usize,
    /// Sinusoid order.
    pub flip_sin_to_cos: bool,
    /// Sinusoid frequency shift.
    pub freq_shift: f64,
    /// Map the input from [0, 1] to [-1, 1] first.
    pub center_input_sample: bool,
}

impl<B: Backend> UNet2DConditionModel<B> {
    /// Builds the model from `vb` (weights in diffusers' key layout, no prefix).
    ///
    /// Call [`VarBuilder::finish`] afterwards to reject files with extra tensors
    /// ([`UNet2DConditionModel::from_dir`] does).
    ///
    /// # Errors
    /// A loader error naming the missing or mis-shaped key.
    pub fn load(config: &UNetConfig, vb: &VarBuilder<B>) -> Result<Self> {
        let chans = &config.block_out_channels;
        let n = chans.len();
        let heads = config.heads().unwrap_or_else(|| vec![1; n]);
        let tl = config.transformer_layers().unwrap_or_else(|| vec![1; n]);
        let c0 = chans[0];
        let temb = config.time_embed_dim();
        let s = BlockSettings {
            temb_channels: temb,
            groups: config.norm_num_groups,
            eps: config.norm_eps,
            context_dim: config.cross_attention_dim,
            linear_projection: config.use_linear_projection,
            upcast: config.upcast_attention,
        };
        let conv_in = Conv2d::load(&vb.pp("conv_in"), config.in_channels, c0, 3, 1, 1)?;
        let time_embedding = TimestepEmbedding::load(&vb.pp("time_embedding"), c0, temb)?;

        let mut down_blocks = Vec::with_capacity(n);
        let mut out_ch = c0;
        for (i, kind) in config.down_block_types.iter().enumerate() {
            let in_ch = out_ch;
            out_ch = chans[i];
            let attn = (kind == "CrossAttnDownBlock2D").then_some((heads[i], tl[i]));
            down_blocks.push(DownBlock::load(
                &vb.pp("down_blocks").pp(i),
                &s,
                in_ch,
                out_ch,
                config.layers_per_block,
                attn,
                i + 1 < n,
                config.downsample_padding,
            )?);
        }

        let mid_block = MidBlock::load(
            &vb.pp("mid_block"),
            &s,
            chans[n - 1],
            heads[n - 1],
            tl[n - 1],
            config.mid_block_scale_factor,
        )?;

        let rev_ch: Vec<usize> = chans.iter().rev().copied().collect();
        let rev_heads: Vec<usize> = heads.iter().rev().copied().collect();
        let rev_tl: Vec<usize> = config
            .reverse_transformer_layers_per_block
            .clone()
            .unwrap_or_else(|| tl.iter().rev().copied().collect());
        let mut up_blocks = Vec::with_capacity(n);
        let mut out_ch = rev_ch[0];
        for (i, kind) in config.up_block_types.iter().enumerate() {
            let prev = out_ch;
            out_ch = rev_ch[i];
            let in_ch = rev_ch[(i + 1).min(n - 1)];
            let attn = (kind == "CrossAttnUpBlock2D")
                .then_some((rev_heads[i], rev_tl.get(i).copied().unwrap_or(1)));
            up_blocks.push(UpBlock::load(
                &vb.pp("up_blocks").pp(i),
                &s,
                UpChannels {
                    in_channels: in_ch,
                    out_channels: out_ch,
                    prev_output_channels: prev,
                },
                config.layers_per_block + 1,
                attn,
                i + 1 < n,
            )?);
        }

        Ok(Self {
            conv_in,
            time_embedding,
            down_blocks,
            mid_block,
            up_blocks,
            conv_norm_out: GroupNorm::load(
                &vb.pp("conv_norm_out"),
                config.norm_num_groups,
                c0,
                config.norm_eps,
            )?,
            conv_out: Conv2d::load(&vb.pp("conv_out"), c0, config.out_channels, 3, 1, 1)?,
            time_proj_dim: c0,
            flip_sin_to_cos: config.flip_sin_to_cos,
            freq_shift: config.freq_shift,
            center_input_sample: config.center_input_sample,
        })
    }

    /// Loads a diffusers `unet/` folder (`config.json` + `diffusion_pytorch_model.safetensors`)
    /// with every weight converted to `dtype`.
    ///
    /// # Errors
    /// Config, file, missing/unexpected-key and shape errors, each naming the file and key.
    pub fn from_dir(dir: impl AsRef<Path>, device: &Device<B>, dtype: FloatDType) -> Result<Self> {
        let dir = dir.as_ref();
        let config = UNetConfig::from_file(dir.join("config.json"))?;
        let file = SafetensorsFile::open(dir.join("diffusion_pytorch_model.safetensors"))?;
        let vb = VarBuilder::from_file(file, device, dtype);
        let model = Self::load(&config, &vb)?;
        vb.finish()?;
        Ok(model)
    }

    /// Number of parameters a checkpoint for `config` holds, computed from the shapes the
    /// loader would ask for (nothing of that size is allocated).
    ///
    /// # Errors
    /// Only if the config cannot be built.
    pub fn parameter_count(config: &UNetConfig, device: &Device<B>) -> Result<usize> {
        let vb = VarBuilder::shapes_only(device);
        drop(Self::load(config, &vb)?);
        Ok(vb.recorded_numel())
    }

    /// Channels of the input of each encoder block (what an [`EncoderModulation`] sees).
    pub fn encoder_input_channels(&self) -> Vec<usize> {
        let mut chans = vec![self.time_proj_dim];
        for block in &self.down_blocks[..self.down_blocks.len().saturating_sub(1)] {
            chans.push(block.downsamplers[0].conv.weight.dims()[0]);
        }
        chans
    }

    /// The noise prediction of the plain UNet.
    ///
    /// `sample` `[B, in, H, W]`, `timesteps` `[B]` (float, may be fractional),
    /// `context` `[B, L, cross_attention_dim]` → `[B, out, H, W]`.
    pub fn forward(
        &self,
        sample: Tensor<B, 4>,
        timesteps: Tensor<B, 1>,
        context: Tensor<B, 3>,
    ) -> Tensor<B, 4> {
        self.forward_modulated(sample, timesteps, context, &NoModulation)
    }

    /// Like [`UNet2DConditionModel::forward`], with the input of each encoder block passed
    /// through `modulation` first.
    pub fn forward_modulated(
        &self,
        sample: Tensor<B, 4>,
        timesteps: Tensor<B, 1>,
        context: Tensor<B, 3>,
        modulation: &impl EncoderModulation<B>,
    ) -> Tensor<B, 4> {
        let dtype = sample.dtype();
        let t = timestep_embedding(
            timesteps,
            self.time_proj_dim,
            self.flip_sin_to_cos,
            self.freq_shift,
        );
        let temb = self.time_embedding.forward(t.cast(dtype));
        let sample = if self.center_input_sample {
            sample * 2.0 - 1.0
        } else {
            sample
        };
        let mut h = self.conv_in.forward(sample);
        let mut skips = vec![h.clone()];
        for (level, block) in self.down_blocks.iter().enumerate() {
            h = modulation.modulate(level, h);
            // Skip states stay unmodulated (conv_in's and each downsampler's output): the
            // hook changes only what enters the block.
            h = block.forward(h, &temb, &context, &mut skips);
        }
        h = self.mid_block.forward(h, &temb, &context);
        for block in &self.up_blocks {
            h = block.forward(h, &temb, &context, &mut skips);
        }
        self.conv_out.forward(self.conv_norm_out.forward_silu(h))
    }

    /// Checks that `sample`, `timesteps` and `context` fit together and fit this model.
    ///
    /// # Errors
    /// [`LdmError::InvalidInput`] describing the first mismatch.
    pub fn check_inputs(
        &self,
        sample: [usize; 4],
        timesteps: [usize; 1],
        context: [usize; 3],
    ) -> Result<()> {
        let in_ch = self.conv_in.weight.dims()[1];
        let ctx = self.down_blocks.iter().find_map(|b| {
            b.attentions
                .first()
                .map(|a| a.transformer_blocks[0].attn2.to_k.weight.dims()[0])
        });
        if sample[1] != in_ch {
            return Err(LdmError::InvalidInput(format!(
                "sample has {} channels, the UNet takes {in_ch}",
                sample[1]
            )));
        }
        if timesteps[0] != sample[0] || context[0] != sample[0] {
            return Err(LdmError::InvalidInput(format!(
                "batch sizes differ: sample {}, timestep {}, encoder_hidden_states {}",
                sample[0], timesteps[0], context[0]
            )));
        }
        if let Some(c) = ctx
            && c != context[2]
        {
            return Err(LdmError::InvalidInput(format!(
                "encoder_hidden_states width {} but the UNet's cross-attention takes {c}",
                context[2]
            )));
        }
        Ok(())
    }
}
