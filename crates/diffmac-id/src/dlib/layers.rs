//! dlib's convolution and affine layers read from a converted weight file.

use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::backend::Backend;
use diffmac_io::SafetensorsFile;

use crate::batch_norm::FrozenBatchNorm;
use crate::error::Result;

/// A square `Conv2d` with bias from `{prefix}.weight` `[out, in, k, k]` and `{prefix}.bias`
/// `[out]`, with `stride` and zero `padding` on every side.
///
/// dlib's `con_` computes a cross-correlation with filters laid out `[out, in, rows, cols]`,
/// exactly what Burn's (and PyTorch's) convolution does, so the weights are used as stored.
pub fn conv2d<B: Backend>(
    weights: &SafetensorsFile,
    prefix: &str,
    channels: [usize; 2],
    kernel: usize,
    stride: usize,
    padding: usize,
    device: &B::Device,
) -> Result<Conv2d<B>> {
    let [c_in, c_out] = channels;
    let weight = weights.f32_tensor(
        &format!("{prefix}.weight"),
        [c_out, c_in, kernel, kernel],
        device,
    )?;
    let bias = weights.f32_tensor(&format!("{prefix}.bias"), [c_out], device)?;
    let mut conv = Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(
            padding, padding, padding, padding,
        ))
        .init(device);
    conv.weight = Param::from_tensor(weight);
    conv.bias = Some(Param::from_tensor(bias));
    Ok(conv)
}

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
