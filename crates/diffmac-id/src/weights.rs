//! Reading safetensors weight files with PyTorch key names into Burn layers.
//!
//! The file is read by `diffmac_io::SafetensorsFile` (tensors looked up by their original
//! state-dict key, checked for dtype f32 and for the exact shape the layer needs);
//! [`IResNetWeights`] adds the batch norm IResNet needs on top of it. Real checkpoints are converted to safetensors once by a committed
//! Python script (`scripts/reference/iresnet_convert.py`), so no pickle is read here.

use burn::tensor::backend::Backend;
use diffmac_io::{Conv2dSpec, SafetensorsFile};

use crate::batch_norm::FrozenBatchNorm;
use crate::error::Result;

/// PyTorch's default BatchNorm epsilon, which insightface's IResNet uses everywhere.
pub const BN_EPSILON: f64 = 1e-5;

/// IResNet's convolution (PyTorch's `conv3x3` / `conv1x1`): a bias-free square `kernel`,
/// zero padding `kernel / 2` on every side and the given stride, read with
/// [`SafetensorsFile::conv2d`].
pub fn iresnet_conv(channels: [usize; 2], kernel: usize, stride: usize) -> Conv2dSpec {
    Conv2dSpec::square(channels, kernel)
        .with_stride(stride)
        .with_zero_padding(kernel / 2)
        .without_bias()
}

/// IResNet's layers read from a weight file, beside [`SafetensorsFile::conv2d`] (with
/// [`iresnet_conv`]) and [`SafetensorsFile::prelu`].
pub trait IResNetWeights {
    /// A [`FrozenBatchNorm`] from `{prefix}.{weight,bias,running_mean,running_var}`, each
    /// `[channels]`, with epsilon [`BN_EPSILON`].
    fn batch_norm<B: Backend>(
        &self,
        prefix: &str,
        channels: usize,
        device: &B::Device,
    ) -> Result<FrozenBatchNorm<B>>;
}

impl IResNetWeights for SafetensorsFile {
    fn batch_norm<B: Backend>(
        &self,
        prefix: &str,
        channels: usize,
        device: &B::Device,
    ) -> Result<FrozenBatchNorm<B>> {
        let get = |what: &str| self.f32_values(&format!("{prefix}.{what}"), &[channels]);
        let weight = get("weight")?;
        let bias = get("bias")?;
        let mean = get("running_mean")?;
        let var = get("running_var")?;
        if let Some(i) = var.iter().position(|v| v.is_nan() || *v < 0.0) {
            return Err(self
                .tensor_error(
                    &format!("{prefix}.running_var"),
                    format!("entry {i} is {}, expected a variance >= 0", var[i]),
                )
                .into());
        }
        Ok(FrozenBatchNorm::from_statistics(
            &weight, &bias, &mean, &var, BN_EPSILON, device,
        ))
    }
}
