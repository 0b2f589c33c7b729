//! The UNet's down, mid and up blocks (`CrossAttnDownBlock2D` / `DownBlock2D`,
//! `UNetMidBlock2DCrossAttn`, `CrossAttnUpBlock2D` / `UpBlock2D`).
//!
//! A plain block is the cross-attention block without attentions, so one type serves both;
//! the parameter paths stay diffusers' (`resnets.N`, `attentions.N`, `downsamplers.0`).

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::attention::{Transformer2DModel, TransformerSpec};
use crate::error::Result;
use crate::loader::VarBuilder;
use crate::resnet::{Downsample2D, ResnetBlock2D, ResnetSpec, Upsample2D};

/// Settings shared by all blocks of one UNet.
#[derive(Debug, Clone, Copy)]
pub struct BlockSettings {
    /// Time-feature width.
    pub temb_channels: usize,
    /// GroupNorm groups.
    pub groups: usize,
    /// ResNet GroupNorm epsilon.
    pub eps: f64,
    /// Context width.
    pub context_dim: usize,
    /// Linear (true) or conv projections in the transformers.
    pub linear_projection: bool,
    /// f32 attention scores.
    pub upcast: bool,
}

impl BlockSettings {
    fn resnet(&self, i: usize, o: usize, scale: f64) -> ResnetSpec {
        ResnetSpec {
            in_channels: i,
            out_channels: o,
            temb_channels: Some(self.temb_channels),
            groups: self.groups,
            eps: self.eps,
            output_scale_factor: scale,
        }
    }

    fn transformer(&self, channels: usize, heads: usize, layers: usize) -> TransformerSpec {
        TransformerSpec {
            channels,
            heads,
            layers,
            context_dim: self.context_dim,
            groups: self.groups,
            linear_projection: self.linear_projection,
            upcast: self.upcast,
        }
    }
}

/// Attention of one level: `None` for a plain block, else (heads, transformer layers).
pub type LevelAttention = Option<(usize, usize)>;

/// A down (encoder) block: ResNets, each followed by a transformer in cross-attention
/// blocks, then an optional stride-2 downsampler.
#[derive(Module, Debug)]
pub struct DownBlock<B: Backend> {
    /// ResNets.
    pub resnets: Vec<ResnetBlock2D<B>>,
    /// Transformers (empty in a plain block).
    pub attentions: Vec<Transformer2DModel<B>>,
    /// Zero or one downsampler.
    pub downsamplers: Vec<Downsample2D<B>>,
}

impl<B: Backend> DownBlock<B> {
    /// Loads a down block under `vb`.
    ///
    /// # Errors
    /// A loader error naming the missing or mis-shaped key.
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        vb: &VarBuilder<B>,
        s: &BlockSettings,
        in_channels: usize,
        out_channels: usize,
        layers: usize,
        attn: LevelAttention,
        downsample: bool,
        downsample_padding: usize,
    ) -> Result<Self> {
        let mut resnets = Vec::new();
        let mut attentions = Vec::new();
        for i in 0..layers {
            let cin = if i == 0 { in_channels } else { out_channels };
            resnets.push(ResnetBlock2D::load(
                &vb.pp("resnets").pp(i),
                s.resnet(cin, out_channels, 1.0),
            )?);
            if let Some((heads, tl)) = attn {
                attentions.push(Transformer2DModel::load(
                    &vb.pp("attentions").pp(i),
                    s.transformer(out_channels, heads, tl),
                )?);
            }
        }
        let downsamplers = if downsample {
            vec![Downsample2D::load(
                &vb.pp("downsamplers").pp(0),
                out_channels,
                downsample_padding,
            )?]
        } else {
            vec![]
        };
        Ok(Self {
            resnets,
            attentions,
            downsamplers,
        })
    }

    /// `x` `[B, C_in, H, W]` → (output, skip states pushed in order: one per ResNet at
    /// `[B, C_out, H, W]`, plus the downsampled output `[B, C_out, H/2, W/2]` if any).
    pub fn forward(
        &self,
        x: Tensor<B, 4>,
        temb: &Tensor<B, 2>,
        context: &Tensor<B, 3>,
        skips: &mut Vec<Tensor<B, 4>>,
    ) -> Tensor<B, 4> {
        let mut h = x;
        for (i, resnet) in self.resnets.iter().enumerate() {
            h = resnet.forward(h, Some(temb));
            if let Some(attn) = self.attentions.get(i) {
                h = attn.forward(h, context);
            }
            skips.push(h.clone());
        }
        for down in &self.downsamplers {
            h = down.forward(h);
            skips.push(h.clone());
        }
        h
    }
}

/// `UNetMidBlock2DCrossAttn`: ResNet, transformer(s), ResNet.
#[derive(Module, Debug)]
pub struct MidBlock<B: Backend> {
    /// Two ResNets (before and after the attention).
    pub resnets: Vec<ResnetBlock2D<B>>,
    /// One transformer.
    pub attentions: Vec<Transformer2DModel<B>>,
}

impl<B: Backend> MidBlock<B> {
    /// Loads the mid block under `vb`.
    ///
    /// # Errors
    /// A loader error naming the missing or mis-shaped key.
    pub fn load(
        vb: &VarBuilder<B>,
        s: &BlockSettings,
        channels: usize,
        heads: usize,
        transformer_layers: usize,
        scale: f64,
    ) -> Result<Self> {
        Ok(Self {
            resnets: (0..2)
                .map(|i| {
                    ResnetBlock2D::load(
                        &vb.pp("resnets").pp(i),
                        s.resnet(channels, channels, scale),
                    )
                })
                .collect::<Result<_>>()?,
            attentions: vec![Transformer2DModel::load(
                &vb.pp("attentions").pp(0),
                s.transformer(channels, heads, transformer_layers),
            )?],
        })
    }

    /// `[B, C, H, W]` → `[B, C, H, W]`.
    pub fn forward(
        &self,
        x: Tensor<B, 4>,
        temb: &Tensor<B, 2>,
        context: &Tensor<B, 3>,
    ) -> Tensor<B, 4> {
        let h = self.resnets[0].forward(x, Some(temb));
        let h = self.attentions[0].forward(h, context);
        self.resnets[1].forward(h, Some(temb))
    }
}

/// An up (decoder) block: each ResNet takes the running features concatenated with one
/// skip state (last pushed first), a transformer follows in cross-attention blocks, then
/// an optional 2× upsampler.
#[derive(Module, Debug)]
pub struct UpBlock<B: Backend> {
    /// ResNets (layers_per_block + 1).
    pub resnets: Vec<ResnetBlock2D<B>>,
    /// Transformers (empty in a plain block).
    pub attentions: Vec<Transformer2DModel<B>>,
    /// Zero or one upsampler.
    pub upsamplers: Vec<Upsample2D<B>>,
}

/// Channel bookkeeping of an [`UpBlock`] (diffusers' names).
#[derive(Debug, Clone, Copy)]
pub struct UpChannels {
    /// Channels of the deepest skip state this block consumes.
    pub in_channels: usize,
    /// Channels of the block's output.
    pub out_channels: usize,
    /// Channels coming from the previous (deeper) block.
    pub prev_output_channels: usize,
}

impl<B: Backend> UpBlock<B> {
    /// Loads an up block under `vb`.
    ///
    /// # Errors
    /// A loader error naming the missing or mis-shaped key.
    pub fn load(
        vb: &VarBuilder<B>,
        s: &BlockSettings,
        ch: UpChannels,
        layers: usize,
        attn: LevelAttention,
        upsample: bool,
    ) -> Result<Self> {
        let mut resnets = Vec::new();
        let mut attentions = Vec::new();
        for i in 0..layers {
            let skip = if i == layers - 1 {
                ch.in_channels
            } else {
                ch.out_channels
            };
            let cin = if i == 0 {
                ch.prev_output_channels
            } else {
                ch.out_channels
            };
            resnets.push(ResnetBlock2D::load(
                &vb.pp("resnets").pp(i),
                s.resnet(cin + skip, ch.out_channels, 1.0),
            )?);
            if let Some((heads, tl)) = attn {
                attentions.push(Transformer2DModel::load(
                    &vb.pp("attentions").pp(i),
                    s.transformer(ch.out_channels, heads, tl),
                )?);
            }
        }
        let upsamplers = if upsample {
            vec![Upsample2D::load(
                &vb.pp("upsamplers").pp(0),
                ch.out_channels,
            )?]
        } else {
            vec![]
        };
        Ok(Self {
            resnets,
            attentions,
            upsamplers,
        })
    }

    /// `x` `[B, C_prev, H, W]`; pops one skip state per ResNet from `skips`. The upsampler
    /// (if any) targets the size of the next skip state, which is 2H × 2W unless the input
    /// size was not a multiple of the UNet's total downsampling (diffusers does the same)
    /// → `[B, C_out, H', W']`.
    pub fn forward(
        &self,
        x: Tensor<B, 4>,
        temb: &Tensor<B, 2>,
        context: &Tensor<B, 3>,
        skips: &mut Vec<Tensor<B, 4>>,
    ) -> Tensor<B, 4> {
        let mut h = x;
        for (i, resnet) in self.resnets.iter().enumerate() {
            let skip = skips
                .pop()
                .expect("the UNet pushes one skip state per up-block ResNet");
            h = resnet.forward(Tensor::cat(vec![h, skip], 1), Some(temb));
            if let Some(attn) = self.attentions.get(i) {
                h = attn.forward(h, context);
            }
        }
        let upsample_size = skips.last().map(|s| {
            let [_, _, sh, sw] = s.dims();
            [sh, sw]
        });
        for up in &self.upsamplers {
            h = up.forward(h, upsample_size);
        }
        h
    }
}
