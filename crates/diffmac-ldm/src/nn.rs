//! Small layers with PyTorch's parameter names (`weight`, `bias`) and semantics.
//!
//! Burn's own `nn` layers name their norm parameters `gamma`/`beta` and keep some settings
//! private; these layers keep the upstream names so that a module's parameter paths are the
//! checkpoint's keys.

use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::module::{conv2d, linear};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, FloatDType, Tensor};

use crate::error::Result;
use crate::loader::VarBuilder;

/// `x` in f32 (a no-op for f32 inputs).
fn upcast<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    if x.dtype() == DType::F32 {
        x
    } else {
        x.cast(FloatDType::F32)
    }
}

/// 2-D convolution, weight `[out, in, k, k]` as in PyTorch.
#[derive(Module, Debug)]
pub struct Conv2d<B: Backend> {
    /// Kernel `[out_channels, in_channels, k, k]`.
    pub weight: Param<Tensor<B, 4>>,
    /// Bias `[out_channels]`.
    pub bias: Option<Param<Tensor<B, 1>>>,
    /// Stride (both axes).
    pub stride: usize,
    /// Zero padding (all sides).
    pub padding: usize,
}

impl<B: Backend> Conv2d<B> {
    /// Loads `weight` and `bias` under `vb`.
    ///
    /// # Errors
    /// A loader error naming the missing or mis-shaped key.
    pub fn load(
        vb: &VarBuilder<B>,
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Result<Self> {
        Ok(Self {
            weight: vb.param("weight", [out_channels, in_channels, kernel, kernel])?,
            bias: Some(vb.param("bias", [out_channels])?),
            stride,
            padding,
        })
    }

    /// `[N, C_in, H, W]` → `[N, C_out, H', W']`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let options = ConvOptions::new([self.stride; 2], [self.padding; 2], [1, 1], 1);
        conv2d(
            x,
            self.weight.val(),
            self.bias.as_ref().map(Param::val),
            options,
        )
    }
}

/// Fully connected layer. The weight is kept as Burn lays it out, `[in, out]` (the
/// transpose of PyTorch's `[out, in]`, done once at load time).
#[derive(Module, Debug)]
pub struct Linear<B: Backend> {
    /// Weight `[in_features, out_features]`.
    pub weight: Param<Tensor<B, 2>>,
    /// Bias `[out_features]`.
    pub bias: Option<Param<Tensor<B, 1>>>,
}

impl<B: Backend> Linear<B> {
    /// Loads a PyTorch `nn.Linear` (`weight` `[out, in]`, optional `bias`) under `vb`.
    ///
    /// # Errors
    /// A loader error naming the missing or mis-shaped key.
    pub fn load(
        vb: &VarBuilder<B>,
        in_features: usize,
        out_features: usize,
        bias: bool,
    ) -> Result<Self> {
        let weight = vb.linear_weight("weight", [out_features, in_features])?;
        let bias = if bias {
            Some(vb.param("bias", [out_features])?)
        } else {
            None
        };
        Ok(Self { weight, bias })
    }

    /// `[..., in]` → `[..., out]`.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        linear(x, self.weight.val(), self.bias.as_ref().map(Param::val))
    }
}

/// Group normalisation over `[N, C, ...]` with per-channel affine parameters.
#[derive(Module, Debug)]
pub struct GroupNorm<B: Backend> {
    /// Scale `[C]`.
    pub weight: Param<Tensor<B, 1>>,
    /// Shift `[C]`.
    pub bias: Param<Tensor<B, 1>>,
    /// Number of groups.
    pub num_groups: usize,
    /// Added to the variance.
    pub eps: f64,
}

impl<B: Backend> GroupNorm<B> {
    /// Loads `weight` and `bias` (`[channels]`) under `vb`.
    ///
    /// # Errors
    /// A loader error naming the missing or mis-shaped key.
    pub fn load(vb: &VarBuilder<B>, num_groups: usize, channels: usize, eps: f64) -> Result<Self> {
        Ok(Self {
            weight: vb.param("weight", [channels])?,
            bias: vb.param("bias", [channels])?,
            num_groups,
            eps,
        })
    }

    /// `[N, C, H, W]` → same shape. Statistics are computed in f32 whatever the input's
    /// precision (as PyTorch's half-precision kernels accumulate).
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [n, c, h, w] = x.dims();
        let g = self.num_groups;
        let dtype = x.dtype();
        let grouped = upcast(x).reshape([n, g, (c / g) * h * w]);
        let mean = grouped.clone().mean_dim(2);
        let centred = grouped - mean;
        let var = centred.clone().square().mean_dim(2);
        let normed = (centred / (var + self.eps).sqrt()).cast(dtype);
        let normed = normed.reshape([n, c, h, w]);
        let weight = self.weight.val().reshape([1, c, 1, 1]);
        let bias = self.bias.val().reshape([1, c, 1, 1]);
        normed * weight + bias
    }
}

/// Layer normalisation over the last axis.
#[derive(Module, Debug)]
pub struct LayerNorm<B: Backend> {
    /// Scale `[D]`.
    pub weight: Param<Tensor<B, 1>>,
    /// Shift `[D]`.
    pub bias: Param<Tensor<B, 1>>,
    /// Added to the variance.
    pub eps: f64,
}

impl<B: Backend> LayerNorm<B> {
    /// Loads `weight` and `bias` (`[dim]`) under `vb`.
    ///
    /// # Errors
    /// A loader error naming the missing or mis-shaped key.
    pub fn load(vb: &VarBuilder<B>, dim: usize, eps: f64) -> Result<Self> {
        Ok(Self {
            weight: vb.param("weight", [dim])?,
            bias: vb.param("bias", [dim])?,
            eps,
        })
    }

    /// `[..., D]` → same shape (statistics in f32, as for [`GroupNorm`]).
    pub fn forward<const N: usize>(&self, x: Tensor<B, N>) -> Tensor<B, N> {
        let dtype = x.dtype();
        let x = upcast(x);
        let mean = x.clone().mean_dim(N - 1);
        let centred = x - mean;
        let var = centred.clone().square().mean_dim(N - 1);
        let normed = (centred / (var + self.eps).sqrt()).cast(dtype);
        let mut shape = [1usize; N];
        shape[N - 1] = self.weight.val().dims()[0];
        normed * self.weight.val().reshape(shape) + self.bias.val().reshape(shape)
    }
}
