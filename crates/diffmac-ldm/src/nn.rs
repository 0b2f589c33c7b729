//! Small layers with PyTorch's parameter names (`weight`, `bias`) and semantics.
//!
//! Burn's own `nn` layers name their norm parameters `gamma`/`beta` and keep some settings
//! private; these layers keep the upstream names so that a module's parameter paths are the
//! checkpoint's keys.

//!
//! Their `forward`s run on [`diffmac_ops`], the operation layer that picks a fast kernel for
//! the backend at hand (the multi-core CPU one on `Flex`) or the generic Burn composition.

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use diffmac_ops::Activation;

use crate::error::Result;
use crate::loader::VarBuilder;

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
        let bias = self.bias.as_ref().map(Param::val);
        diffmac_ops::conv2d(
            x,
            &self.weight.val(),
            bias.as_ref(),
            self.stride,
            self.padding,
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
        let bias = self.bias.as_ref().map(Param::val);
        diffmac_ops::linear(x, &self.weight.val(), bias.as_ref())
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
        self.forward_then(x, Activation::Identity)
    }

    /// `silu(self.forward(x))` in one pass (the ResNet blocks' and output heads' pattern).
    pub fn forward_silu(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.forward_then(x, Activation::Silu)
    }

    fn forward_then(&self, x: Tensor<B, 4>, activation: Activation) -> Tensor<B, 4> {
        diffmac_ops::group_norm(
            x,
            &self.weight.val(),
            &self.bias.val(),
            self.num_groups,
            self.eps,
            activation,
        )
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
        diffmac_ops::layer_norm(x, &self.weight.val(), &self.bias.val(), self.eps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::{Int, TensorData, Tolerance};

    type B = Flex;

    /// Deterministic values with a per-channel offset, so that groups differ in mean.
    fn map(n: usize, c: usize, h: usize, w: usize) -> Tensor<B, 4> {
        let len = (n * c * h * w) as i64;
        Tensor::<B, 1, Int>::arange(0..len, &Default::default())
            .float()
            .mul_scalar(0.73)
            .sin()
            .mul_scalar(3.0)
            .reshape([n, c, h, w])
            + Tensor::<B, 1, Int>::arange(0..c as i64, &Default::default())
                .float()
                .reshape([1, c, 1, 1])
    }

    fn norm(c: usize, groups: usize) -> GroupNorm<B> {
        let device = Default::default();
        let ramp = |scale: f32, shift: f32| {
            Tensor::<B, 1, Int>::arange(0..c as i64, &device)
                .float()
                .mul_scalar(scale)
                .add_scalar(shift)
        };
        GroupNorm {
            weight: Param::from_tensor(ramp(0.25, 0.5)),
            bias: Param::from_tensor(ramp(-0.1, 0.3)),
            num_groups: groups,
            eps: 1e-5,
        }
    }

    /// PyTorch's `group_norm` written out on the host, `[N, C, H, W]` row-major.
    fn reference(x: &Tensor<B, 4>, gn: &GroupNorm<B>) -> Vec<f32> {
        let [_, c, h, w] = x.dims();
        let data = x.to_data().to_vec::<f32>().unwrap();
        let weight = gn.weight.val().to_data().to_vec::<f32>().unwrap();
        let bias = gn.bias.val().to_data().to_vec::<f32>().unwrap();
        let per_group = c / gn.num_groups * h * w;
        let mut out = vec![0.0; data.len()];
        for (s, chunk) in data.chunks(per_group).enumerate() {
            let mean = chunk.iter().map(|&v| v as f64).sum::<f64>() / per_group as f64;
            let var = chunk
                .iter()
                .map(|&v| (v as f64 - mean).powi(2))
                .sum::<f64>()
                / per_group as f64;
            for (i, &v) in chunk.iter().enumerate() {
                let flat = s * per_group + i;
                let channel = flat / (h * w) % c;
                let normed = (v as f64 - mean) / (var + gn.eps).sqrt();
                out[flat] = (normed * weight[channel] as f64 + bias[channel] as f64) as f32;
            }
        }
        out
    }

    fn assert_close(actual: TensorData, expected: Vec<f32>, shape: Vec<usize>) {
        actual
            .assert_approx_eq::<f32>(&TensorData::new(expected, shape), Tolerance::absolute(1e-4));
    }

    #[test]
    fn group_norm_matches_the_per_group_formula() {
        let (x, gn) = (map(2, 8, 3, 5), norm(8, 4));
        let expected = reference(&x, &gn);
        assert_close(
            gn.forward(x.clone()).to_data(),
            expected.clone(),
            vec![2, 8, 3, 5],
        );

        // An input laid out channels-last in memory (a convolution's output on the GPU) gives
        // the same result: the reshape of the permuted map copies it into NHWC order, and the
        // permute back is a view of that memory.
        let nhwc = x.permute([0, 2, 3, 1]).reshape([2 * 3 * 5, 8]);
        let channels_last = nhwc.reshape([2, 3, 5, 8]).permute([0, 3, 1, 2]);
        assert_close(
            gn.forward(channels_last).to_data(),
            expected,
            vec![2, 8, 3, 5],
        );
    }
}
