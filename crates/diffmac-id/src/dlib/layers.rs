//! dlib's affine layer read from a converted weight file. Its convolutions are read by
//! `SafetensorsFile::conv2d`: dlib's `con_` computes a cross-correlation with filters laid out
//! `[out, in, rows, cols]`, exactly what Burn's (and PyTorch's) convolution does, so the
//! weights are used as stored.

use burn::tensor::backend::Backend;
use diffmac_io::SafetensorsFile;

use crate::batch_norm::FrozenBatchNorm;
use crate::error::Result;

/// dlib's `affine_` layer (in `CONV_MODE`, a BatchNorm that dlib folded after training):
/// `y = γ · x + β` per channel, from `{prefix}.gamma` and `{prefix}.beta` `[channels]`.
///
/// It is the same per-channel map as [`FrozenBatchNorm`], which holds it as constants.
pub fn affine<B: Backend>(
    weights: &SafetensorsFile,
    prefix: &str,
    channels: usize,
    device: &B::Device,
) -> Result<FrozenBatchNorm<B>> {
    Ok(FrozenBatchNorm {
        scale: weights.f32_tensor(&format!("{prefix}.gamma"), [channels], device)?,
        shift: weights.f32_tensor(&format!("{prefix}.beta"), [channels], device)?,
    })
}
