//! `AutoencoderKL`: the SD 2.1 VAE (encoder, `quant_conv`, diagonal Gaussian posterior,
//! `post_quant_conv`, decoder).
//!
//! The 8-channel output of `quant_conv` (mean and log-variance; the paper's QC layer) is
//! available on its own from [`AutoencoderKL::moments`]: DiffMAC's Stage II normalises it
//! (Algorithm 1, line 17).

use std::path::Path;

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{Device, FloatDType, Tensor};
use diffmac_io::SafetensorsFile;

use crate::attention::SpatialAttention;
use crate::config::VaeConfig;
use crate::error::Result;
use crate::loader::VarBuilder;
use crate::nn::{Conv2d, GroupNorm};
use crate::resnet::{Downsample2D, ResnetBlock2D, ResnetSpec, Upsample2D};

/// GroupNorm epsilon of every VAE norm (fixed in diffusers' `Encoder`/`Decoder`).
const VAE_EPS: f64 = 1e-6;

fn spec(i: usize, o: usize, groups: usize) -> ResnetSpec {
    ResnetSpec {
        in_channels: i,
        out_channels: o,
        temb_channels: None,
        groups,
        eps: VAE_EPS,
        output_scale_factor: 1.0,
    }
}

/// `DownEncoderBlock2D` / `UpDecoderBlock2D`: ResNets and an optional resampler.
#[derive(Module, Debug)]
pub struct VaeBlock<B: Backend> {
    /// ResNets.
    pub resnets: Vec<ResnetBlock2D<B>>,
    /// Zero or one downsampler (encoder).
    pub downsamplers: Vec<Downsample2D<B>>,
    /// Zero or one upsampler (decoder).
    pub upsamplers: Vec<Upsample2D<B>>,
}

impl<B: Backend> VaeBlock<B> {
    /// `[B, C_in, H, W]` → `[B, C_out, H', W']`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut h = x;
        for r in &self.resnets {
            h = r.forward(h, None);
        }
        for d in &self.downsamplers {
            h = d.forward(h);
        }
        for u in &self.upsamplers {
            h = u.forward(h, None);
        }
        h
    }
}

/// `UNetMidBlock2D` without time features: ResNet, spatial attention, ResNet.
#[derive(Module, Debug)]
pub struct VaeMidBlock<B: Backend> {
    /// Two ResNets.
    pub resnets: Vec<ResnetBlock2D<B>>,
    /// Zero or one attention layer.
    pub attentions: Vec<SpatialAttention<B>>,
}

impl<B: Backend> VaeMidBlock<B> {
    fn load(vb: &VarBuilder<B>, c: usize, groups: usize, attention: bool) -> Result<Self> {
        Ok(Self {
            resnets: (0..2)
                .map(|i| ResnetBlock2D::load(&vb.pp("resnets").pp(i), spec(c, c, groups)))
                .collect::<Result<_>>()?,
            attentions: if attention {
                vec![SpatialAttention::load(
                    &vb.pp("attentions").pp(0),
                    c,
                    groups,
                )?]
            } else {
                vec![]
            },
        })
    }

    /// `[B, C, H, W]` → `[B, C, H, W]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut h = self.resnets[0].forward(x, None);
        for a in &self.attentions {
            h = a.forward(h);
        }
        self.resnets[1].forward(h, None)
    }
}

/// The VAE encoder (image → 2·latent channels, before `quant_conv`).
#[derive(Module, Debug)]
pub struct Encoder<B: Backend> {
    /// Image → first level.
    pub conv_in: Conv2d<B>,
    /// Levels, each halving the resolution but the last.
    pub down_blocks: Vec<VaeBlock<B>>,
    /// Bottleneck.
    pub mid_block: VaeMidBlock<B>,
    /// Output norm.
    pub conv_norm_out: GroupNorm<B>,
    /// → 2·latent channels.
    pub conv_out: Conv2d<B>,
}

impl<B: Backend> Encoder<B> {
    fn load(vb: &VarBuilder<B>, c: &VaeConfig) -> Result<Self> {
        let ch = &c.block_out_channels;
        let n = ch.len();
        let g = c.norm_num_groups;
        let mut down_blocks = Vec::with_capacity(n);
        let mut out = ch[0];
        for (i, &level) in ch.iter().enumerate() {
            let inp = out;
            out = level;
            let bvb = vb.pp("down_blocks").pp(i);
            down_blocks.push(VaeBlock {
                resnets: (0..c.layers_per_block)
                    .map(|j| {
                        ResnetBlock2D::load(
                            &bvb.pp("resnets").pp(j),
                            spec(if j == 0 { inp } else { out }, out, g),
                        )
                    })
                    .collect::<Result<_>>()?,
                downsamplers: if i + 1 < n {
                    vec![Downsample2D::load(&bvb.pp("downsamplers").pp(0), out, 0)?]
                } else {
                    vec![]
                },
                upsamplers: vec![],
            });
        }
        Ok(Self {
            conv_in: Conv2d::load(&vb.pp("conv_in"), c.in_channels, ch[0], 3, 1, 1)?,
            down_blocks,
            mid_block: VaeMidBlock::load(
                &vb.pp("mid_block"),
                ch[n - 1],
                g,
                c.mid_block_add_attention,
            )?,
            conv_norm_out: GroupNorm::load(&vb.pp("conv_norm_out"), g, ch[n - 1], VAE_EPS)?,
            conv_out: Conv2d::load(
                &vb.pp("conv_out"),
                ch[n - 1],
                2 * c.latent_channels,
                3,
                1,
                1,
            )?,
        })
    }

    /// `[B, in, H, W]` → `[B, 2·latent, H/f, W/f]` (f = 2^(levels−1)).
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut h = self.conv_in.forward(x);
        for b in &self.down_blocks {
            h = b.forward(h);
        }
        let h = self.mid_block.forward(h);
        self.conv_out.forward(self.conv_norm_out.forward_silu(h))
    }
}

/// The VAE decoder (latent → image, after `post_quant_conv`).
#[derive(Module, Debug)]
pub struct Decoder<B: Backend> {
    /// Latent → deepest level.
    pub conv_in: Conv2d<B>,
    /// Bottleneck.
    pub mid_block: VaeMidBlock<B>,
    /// Levels, each doubling the resolution but the last.
    pub up_blocks: Vec<VaeBlock<B>>,
    /// Output norm.
    pub conv_norm_out: GroupNorm<B>,
    /// → image channels.
    pub conv_out: Conv2d<B>,
}

impl<B: Backend> Decoder<B> {
    fn load(vb: &VarBuilder<B>, c: &VaeConfig) -> Result<Self> {
        let rev: Vec<usize> = c.block_out_channels.iter().rev().copied().collect();
        let n = rev.len();
        let g = c.norm_num_groups;
        let mut up_blocks = Vec::with_capacity(n);
        let mut out = rev[0];
        for (i, &level) in rev.iter().enumerate() {
            let prev = out;
            out = level;
            let bvb = vb.pp("up_blocks").pp(i);
            up_blocks.push(VaeBlock {
                resnets: (0..=c.layers_per_block)
                    .map(|j| {
                        ResnetBlock2D::load(
                            &bvb.pp("resnets").pp(j),
                            spec(if j == 0 { prev } else { out }, out, g),
                        )
                    })
                    .collect::<Result<_>>()?,
                downsamplers: vec![],
                upsamplers: if i + 1 < n {
                    vec![Upsample2D::load(&bvb.pp("upsamplers").pp(0), out)?]
                } else {
                    vec![]
                },
            });
        }
        Ok(Self {
            conv_in: Conv2d::load(&vb.pp("conv_in"), c.latent_channels, rev[0], 3, 1, 1)?,
            mid_block: VaeMidBlock::load(
                &vb.pp("mid_block"),
                rev[0],
                g,
                c.mid_block_add_attention,
            )?,
            up_blocks,
            conv_norm_out: GroupNorm::load(&vb.pp("conv_norm_out"), g, rev[n - 1], VAE_EPS)?,
            conv_out: Conv2d::load(&vb.pp("conv_out"), rev[n - 1], c.out_channels, 3, 1, 1)?,
        })
    }

    /// `[B, latent, h, w]` → `[B, out, h·f, w·f]`.
    pub fn forward(&self, z: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut h = self.mid_block.forward(self.conv_in.forward(z));
        for b in &self.up_blocks {
            h = b.forward(h);
        }
        self.conv_out.forward(self.conv_norm_out.forward_silu(h))
    }
}

/// The VAE's posterior `N(mean, std²)` per latent element.
#[derive(Debug, Clone)]
pub struct DiagonalGaussian<B: Backend> {
    /// Mean `[B, latent, h, w]`.
    pub mean: Tensor<B, 4>,
    /// Log-variance, clamped to [-30, 20] as diffusers does.
    pub logvar: Tensor<B, 4>,
    /// Standard deviation `exp(logvar / 2)`.
    pub std: Tensor<B, 4>,
}

impl<B: Backend> DiagonalGaussian<B> {
    /// Splits `quant_conv`'s output `[B, 2·latent, h, w]` into mean and log-variance.
    pub fn from_moments(moments: Tensor<B, 4>) -> Self {
        let mut halves = moments.chunk(2, 1);
        let logvar = halves.pop().expect("two halves").clamp(-30.0, 20.0);
        let mean = halves.pop().expect("two halves");
        let std = (logvar.clone() * 0.5).exp();
        Self { mean, logvar, std }
    }

    /// `mean + std · noise`, with the caller's standard-normal `noise` (same shape), so that
    /// sampling is reproducible and backend-independent.
    pub fn sample(&self, noise: Tensor<B, 4>) -> Tensor<B, 4> {
        self.mean.clone() + self.std.clone() * noise
    }
}

/// diffusers' `AutoencoderKL`.
#[derive(Module, Debug)]
pub struct AutoencoderKL<B: Backend> {
    /// Image → moments.
    pub encoder: Encoder<B>,
    /// Latent → image.
    pub decoder: Decoder<B>,
    /// 1×1 on the moments (the paper's QC layer).
    pub quant_conv: Option<Conv2d<B>>,
    /// 1×1 on the latent before decoding.
    pub post_quant_conv: Option<Conv2d<B>>,
    /// Latent scale factor from the config (SD: 0.18215); the diffusion model works on
    /// `latent · scaling_factor`.
    pub scaling_factor: f64,
}

impl<B: Backend> AutoencoderKL<B> {
    /// Builds the model from `vb` (diffusers' key layout, no prefix).
    ///
    /// # Errors
    /// A loader error naming the missing or mis-shaped key.
    pub fn load(config: &VaeConfig, vb: &VarBuilder<B>) -> Result<Self> {
        let l = config.latent_channels;
        Ok(Self {
            encoder: Encoder::load(&vb.pp("encoder"), config)?,
            decoder: Decoder::load(&vb.pp("decoder"), config)?,
            quant_conv: if config.use_quant_conv {
                Some(Conv2d::load(&vb.pp("quant_conv"), 2 * l, 2 * l, 1, 1, 0)?)
            } else {
                None
            },
            post_quant_conv: if config.use_post_quant_conv {
                Some(Conv2d::load(&vb.pp("post_quant_conv"), l, l, 1, 1, 0)?)
            } else {
                None
            },
            scaling_factor: config.scaling_factor,
        })
    }

    /// Loads a diffusers `vae/` folder (`config.json` + `diffusion_pytorch_model.safetensors`)
    /// with every weight converted to `dtype`.
    ///
    /// # Errors
    /// Config, file, missing/unexpected-key and shape errors, each naming the file and key.
    pub fn from_dir(dir: impl AsRef<Path>, device: &Device<B>, dtype: FloatDType) -> Result<Self> {
        let dir = dir.as_ref();
        let config = VaeConfig::from_file(dir.join("config.json"))?;
        let file = SafetensorsFile::open(dir.join("diffusion_pytorch_model.safetensors"))?;
        let vb = VarBuilder::from_file(file, device, dtype);
        let model = Self::load(&config, &vb)?;
        vb.finish()?;
        Ok(model)
    }

    /// Number of parameters a checkpoint for `config` holds, from shapes only.
    ///
    /// # Errors
    /// Only if the config cannot be built.
    pub fn parameter_count(config: &VaeConfig, device: &Device<B>) -> Result<usize> {
        let vb = VarBuilder::shapes_only(device);
        drop(Self::load(config, &vb)?);
        Ok(vb.recorded_numel())
    }

    /// The QC output: image `[B, 3, H, W]` in [-1, 1] → moments `[B, 2·latent, H/8, W/8]`
    /// (mean channels first, then log-variance; for SD's 4 levels the factor is 8).
    pub fn moments(&self, image: Tensor<B, 4>) -> Tensor<B, 4> {
        let h = self.encoder.forward(image);
        match &self.quant_conv {
            Some(q) => q.forward(h),
            None => h,
        }
    }

    /// The posterior of `image` (`[B, 3, H, W]` in [-1, 1]).
    pub fn encode(&self, image: Tensor<B, 4>) -> DiagonalGaussian<B> {
        DiagonalGaussian::from_moments(self.moments(image))
    }

    /// Unscaled latent `[B, latent, h, w]` → image `[B, 3, 8h, 8w]` (not clamped).
    pub fn decode(&self, z: Tensor<B, 4>) -> Tensor<B, 4> {
        let z = match &self.post_quant_conv {
            Some(p) => p.forward(z),
            None => z,
        };
        self.decoder.forward(z)
    }
}
