//! ResNet block and the resampling layers shared by the UNet and the VAE.

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::activation::silu;
use burn::tensor::backend::Backend;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

use crate::error::Result;
use crate::loader::VarBuilder;
use crate::nn::{Conv2d, GroupNorm, Linear};

/// diffusers' `ResnetBlock2D` (time-scale-shift "default", SiLU, no up/down sampling).
#[derive(Module, Debug)]
pub struct ResnetBlock2D<B: Backend> {
    /// GroupNorm before `conv1`.
    pub norm1: GroupNorm<B>,
    /// 3×3, in → out.
    pub conv1: Conv2d<B>,
    /// Time features → out channels (absent in the VAE).
    pub time_emb_proj: Option<Linear<B>>,
    /// GroupNorm before `conv2`.
    pub norm2: GroupNorm<B>,
    /// 3×3, out → out.
    pub conv2: Conv2d<B>,
    /// 1×1 projection of the skip path when in ≠ out.
    pub conv_shortcut: Option<Conv2d<B>>,
    /// The sum is divided by this (1 in SD).
    pub output_scale_factor: f64,
}

/// Shape parameters of a [`ResnetBlock2D`].
#[derive(Debug, Clone, Copy)]
pub struct ResnetSpec {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Width of the time features, if any.
    pub temb_channels: Option<usize>,
    /// GroupNorm groups.
    pub groups: usize,
    /// GroupNorm epsilon.
    pub eps: f64,
    /// Output divisor.
    pub output_scale_factor: f64,
}

impl<B: Backend> ResnetBlock2D<B> {
    /// Loads a block under `vb`.
    ///
    /// # Errors
    /// A loader error naming the missing or mis-shaped key.
    pub fn load(vb: &VarBuilder<B>, s: ResnetSpec) -> Result<Self> {
        let (i, o) = (s.in_channels, s.out_channels);
        Ok(Self {
            norm1: GroupNorm::load(&vb.pp("norm1"), s.groups, i, s.eps)?,
            conv1: Conv2d::load(&vb.pp("conv1"), i, o, 3, 1, 1)?,
            time_emb_proj: match s.temb_channels {
                Some(t) => Some(Linear::load(&vb.pp("time_emb_proj"), t, o, true)?),
                None => None,
            },
            norm2: GroupNorm::load(&vb.pp("norm2"), s.groups, o, s.eps)?,
            conv2: Conv2d::load(&vb.pp("conv2"), o, o, 3, 1, 1)?,
            conv_shortcut: if i != o {
                Some(Conv2d::load(&vb.pp("conv_shortcut"), i, o, 1, 1, 0)?)
            } else {
                None
            },
            output_scale_factor: s.output_scale_factor,
        })
    }

    /// `x` `[N, in, H, W]`, `temb` `[N, T]` (ignored without `time_emb_proj`) → `[N, out, H, W]`.
    pub fn forward(&self, x: Tensor<B, 4>, temb: Option<&Tensor<B, 2>>) -> Tensor<B, 4> {
        // With a shortcut convolution, it reads `x` first, so that the normalisation can
        // reuse `x`'s memory (the VAE decoder's peak is such a block at 512²).
        let (h, skip) = match &self.conv_shortcut {
            Some(c) => {
                let skip = c.forward(x.clone());
                (self.conv1.forward(self.norm1.forward_silu(x)), skip)
            }
            None => (self.conv1.forward(self.norm1.forward_silu(x.clone())), x),
        };
        let h = match (&self.time_emb_proj, temb) {
            (Some(proj), Some(t)) => {
                let t = proj.forward(silu(t.clone()));
                h + t.unsqueeze_dim::<3>(2).unsqueeze_dim::<4>(3)
            }
            _ => h,
        };
        let h = self.conv2.forward(self.norm2.forward_silu(h));
        let out = diffmac_ops::add(h, skip);
        if self.output_scale_factor == 1.0 {
            out
        } else {
            out / self.output_scale_factor
        }
    }
}

/// Stride-2 3×3 convolution (`downsamplers.0.conv`).
///
/// The UNet pads by 1 on every side; the VAE pads by 0 and first adds one row and one
/// column of zeros at the bottom/right, as diffusers' `Downsample2D(padding=0)` does.
#[derive(Module, Debug)]
pub struct Downsample2D<B: Backend> {
    /// The convolution.
    pub conv: Conv2d<B>,
    /// Whether to pad (0, 1, 0, 1) before a padding-0 convolution.
    pub asymmetric_pad: bool,
}

impl<B: Backend> Downsample2D<B> {
    /// Loads `conv` under `vb`; `padding` 1 (UNet) or 0 (VAE).
    ///
    /// # Errors
    /// A loader error naming the missing or mis-shaped key.
    pub fn load(vb: &VarBuilder<B>, channels: usize, padding: usize) -> Result<Self> {
        Ok(Self {
            conv: Conv2d::load(&vb.pp("conv"), channels, channels, 3, 2, padding)?,
            asymmetric_pad: padding == 0,
        })
    }

    /// `[N, C, H, W]` → `[N, C, ⌈H/2⌉, ⌈W/2⌉]` (even sizes: exactly half).
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let x = if self.asymmetric_pad {
            // Zero column on the right, zero row at the bottom. Built with `cat` rather than
            // `Tensor::pad`, whose padding takes the device's default dtype on Burn 0.21's
            // CPU backend and fails for f16 / bf16 inputs.
            let [n, c, h, w] = x.dims();
            let opts = (&x.device(), x.dtype());
            let x = Tensor::cat(vec![x, Tensor::zeros([n, c, h, 1], opts)], 3);
            Tensor::cat(vec![x, Tensor::zeros([n, c, 1, w + 1], opts)], 2)
        } else {
            x
        };
        self.conv.forward(x)
    }
}

/// Nearest-neighbour upsampling followed by a 3×3 convolution (`upsamplers.0.conv`).
#[derive(Module, Debug)]
pub struct Upsample2D<B: Backend> {
    /// The convolution.
    pub conv: Conv2d<B>,
}

impl<B: Backend> Upsample2D<B> {
    /// Loads `conv` under `vb`.
    ///
    /// # Errors
    /// A loader error naming the missing or mis-shaped key.
    pub fn load(vb: &VarBuilder<B>, channels: usize) -> Result<Self> {
        Ok(Self {
            conv: Conv2d::load(&vb.pp("conv"), channels, channels, 3, 1, 1)?,
        })
    }

    /// `[N, C, H, W]` → `[N, C, size]` (default `2H × 2W`).
    pub fn forward(&self, x: Tensor<B, 4>, size: Option<[usize; 2]>) -> Tensor<B, 4> {
        let [_, _, h, w] = x.dims();
        let size = size.unwrap_or([2 * h, 2 * w]);
        let x = interpolate(x, size, InterpolateOptions::new(InterpolateMode::Nearest));
        self.conv.forward(x)
    }
}
