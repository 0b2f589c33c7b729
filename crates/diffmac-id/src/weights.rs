//! Reading safetensors weight files with PyTorch key names into Burn layers.
//!
//! The file is read by `diffmac_io::SafetensorsFile` (tensors looked up by their original
//! state-dict key, checked for dtype f32 and for the exact shape the layer needs);
//! [`IResNetWeights`] adds the layers IResNet needs on top of it. Real checkpoints are converted to safetensors once by a committed
//! Python script (`scripts/reference/iresnet_convert.py`), so no pickle is read here.

use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::backend::Backend;
use diffmac_io::SafetensorsFile;

use crate::batch_norm::FrozenBatchNorm;
use crate::error::Result;

/// PyTorch's default BatchNorm epsilon, which insightface's IResNet uses everywhere.
pub const BN_EPSILON: f64 = 1e-5;

/// IResNet's layers read from a weight file.
pub trait IResNetWeights {
    /// A bias-free square `Conv2d` from `{prefix}.weight` `[out, in, k, k]`, with zero padding
    /// `k / 2` on every side and the given stride (PyTorch's `conv3x3` / `conv1x1`).
    fn conv2d_no_bias<B: Backend>(
        &self,
        prefix: &str,
        channels: [usize; 2],
        kernel: usize,
        stride: usize,
        device: &B::Device,
    ) -> Result<Conv2d<B>>;

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
    fn conv2d_no_bias<B: Backend>(
        &self,
        prefix: &str,
        channels: [usize; 2],
        kernel: usize,
        stride: usize,
        device: &B::Device,
    ) -> Result<Conv2d<B>> {
        let [c_in, c_out] = channels;
        let weight = self.f32_tensor(
            &format!("{prefix}.weight"),
            [c_out, c_in, kernel, kernel],
            device,
        )?;
        let pad = kernel / 2;
        let mut conv = Conv2dConfig::new(channels, [kernel, kernel])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .with_bias(false)
            .init(device);
        conv.weight = Param::from_tensor(weight);
        Ok(conv)
    }

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
