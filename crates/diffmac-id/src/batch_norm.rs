//! Inference-mode batch normalisation with frozen statistics.

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

/// BatchNorm in evaluation mode, folded into one per-channel affine map:
/// `y = x · scale + shift` with `scale = γ / √(running_var + ε)` and
/// `shift = β − running_mean · scale`.
///
/// The identity encoder is a frozen, pretrained evaluator. Burn's `BatchNorm` switches to batch
/// statistics whenever the backend records gradients, which would change F_ID's output during
/// Stage II training; this layer always uses the stored statistics and holds them as constants
/// (no parameters to train).
#[derive(Module, Debug)]
pub struct FrozenBatchNorm<B: Backend> {
    /// Per-channel factor, `[C]`.
    pub scale: Tensor<B, 1>,
    /// Per-channel offset, `[C]`.
    pub shift: Tensor<B, 1>,
}

impl<B: Backend> FrozenBatchNorm<B> {
    /// Folds PyTorch's BatchNorm tensors (all of length C) into a frozen layer; the folding is
    /// done in f64.
    pub fn from_statistics(
        weight: &[f32],
        bias: &[f32],
        running_mean: &[f32],
        running_var: &[f32],
        epsilon: f64,
        device: &B::Device,
    ) -> Self {
        let channels = weight.len();
        let mut scale = Vec::with_capacity(channels);
        let mut shift = Vec::with_capacity(channels);
        for c in 0..channels {
            let s = f64::from(weight[c]) / (f64::from(running_var[c]) + epsilon).sqrt();
            scale.push(s as f32);
            shift.push((f64::from(bias[c]) - f64::from(running_mean[c]) * s) as f32);
        }
        Self {
            scale: Tensor::from_data(TensorData::new(scale, [channels]), device),
            shift: Tensor::from_data(TensorData::new(shift, [channels]), device),
        }
    }

    /// Number of channels C.
    pub fn channels(&self) -> usize {
        self.scale.dims()[0]
    }

    /// Normalises `[N, C, ...]` (rank `D` ≥ 2) channel-wise; returns the same shape.
    pub fn forward<const D: usize>(&self, input: Tensor<B, D>) -> Tensor<B, D> {
        let mut shape = [1; D];
        shape[1] = self.channels();
        input * self.scale.clone().reshape(shape) + self.shift.clone().reshape(shape)
    }
}
