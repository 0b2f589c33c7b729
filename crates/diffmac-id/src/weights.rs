//! Reading safetensors weight files with PyTorch key names into Burn layers.
//!
//! The same approach as `diffmac_face::weights`: tensors are looked up by their original
//! state-dict key, checked for dtype f32 and for the exact shape the layer needs, and copied into
//! freshly built Burn layers. Real checkpoints are converted to safetensors once by a committed
//! Python script (`scripts/reference/iresnet_convert.py`), so no pickle is read here.

use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, PRelu, PReluConfig, PaddingConfig2d};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

use crate::batch_norm::FrozenBatchNorm;
use crate::error::{IdError, Result};

/// PyTorch's default BatchNorm epsilon, which insightface's IResNet uses everywhere.
pub const BN_EPSILON: f64 = 1e-5;

/// A parsed safetensors buffer that hands out f32 tensors by name, checking their shapes.
pub struct WeightFile<'a> {
    path: PathBuf,
    tensors: SafeTensors<'a>,
}

impl<'a> WeightFile<'a> {
    /// Parses `bytes`; `path` only names the source in error messages.
    pub fn parse(bytes: &'a [u8], path: &Path) -> Result<Self> {
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| IdError::Safetensors {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Ok(Self {
            path: path.to_owned(),
            tensors,
        })
    }

    /// The file name used in error messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An error about tensor `name` of this file.
    pub fn error(&self, name: &str, problem: impl Into<String>) -> IdError {
        IdError::Weights {
            path: self.path.clone(),
            name: name.to_owned(),
            problem: problem.into(),
        }
    }

    /// The shape of tensor `name`, if present.
    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.tensors.tensor(name).ok().map(|v| v.shape().to_vec())
    }

    /// The values of tensor `name`, which must be f32 with exactly `shape`.
    pub fn values(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let view = self
            .tensors
            .tensor(name)
            .map_err(|_| self.error(name, "missing"))?;
        if view.dtype() != Dtype::F32 {
            return Err(self.error(name, format!("dtype {:?}, expected F32", view.dtype())));
        }
        if view.shape() != shape {
            return Err(self.error(
                name,
                format!("shape {:?}, expected {shape:?}", view.shape()),
            ));
        }
        Ok(view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    /// Tensor `name` on `device`, checked to have `shape`.
    pub fn tensor<B: Backend, const D: usize>(
        &self,
        name: &str,
        shape: [usize; D],
        device: &B::Device,
    ) -> Result<Tensor<B, D>> {
        let values = self.values(name, &shape)?;
        Ok(Tensor::from_data(TensorData::new(values, shape), device))
    }

    /// A bias-free square `Conv2d` from `{prefix}.weight` `[out, in, k, k]`, with zero padding
    /// `k / 2` on every side and the given stride (PyTorch's `conv3x3` / `conv1x1`).
    pub fn conv2d_no_bias<B: Backend>(
        &self,
        prefix: &str,
        channels: [usize; 2],
        kernel: usize,
        stride: usize,
        device: &B::Device,
    ) -> Result<Conv2d<B>> {
        let [c_in, c_out] = channels;
        let weight = self.tensor(
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

    /// A `Linear` layer from PyTorch's `{prefix}.weight` `[out, in]` (stored transposed, as
    /// Burn wants `[in, out]`) and `{prefix}.bias`.
    pub fn linear<B: Backend>(
        &self,
        prefix: &str,
        d_input: usize,
        d_output: usize,
        device: &B::Device,
    ) -> Result<Linear<B>> {
        let weight: Tensor<B, 2> =
            self.tensor(&format!("{prefix}.weight"), [d_output, d_input], device)?;
        let bias = self.tensor(&format!("{prefix}.bias"), [d_output], device)?;
        Ok(Linear {
            weight: Param::from_tensor(weight.transpose()),
            bias: Some(Param::from_tensor(bias)),
        })
    }

    /// A per-channel `PRelu` from `{prefix}.weight` `[channels]`.
    pub fn prelu<B: Backend>(
        &self,
        prefix: &str,
        channels: usize,
        device: &B::Device,
    ) -> Result<PRelu<B>> {
        let alpha = self.tensor(&format!("{prefix}.weight"), [channels], device)?;
        let mut prelu = PReluConfig::new()
            .with_num_parameters(channels)
            .init(device);
        prelu.alpha = Param::from_tensor(alpha);
        Ok(prelu)
    }

    /// A [`FrozenBatchNorm`] from `{prefix}.{weight,bias,running_mean,running_var}`, each
    /// `[channels]`, with epsilon [`BN_EPSILON`].
    pub fn batch_norm<B: Backend>(
        &self,
        prefix: &str,
        channels: usize,
        device: &B::Device,
    ) -> Result<FrozenBatchNorm<B>> {
        let get = |what: &str| self.values(&format!("{prefix}.{what}"), &[channels]);
        let weight = get("weight")?;
        let bias = get("bias")?;
        let mean = get("running_mean")?;
        let var = get("running_var")?;
        if let Some(i) = var.iter().position(|v| v.is_nan() || *v < 0.0) {
            return Err(self.error(
                &format!("{prefix}.running_var"),
                format!("entry {i} is {}, expected a variance >= 0", var[i]),
            ));
        }
        Ok(FrozenBatchNorm::from_statistics(
            &weight, &bias, &mean, &var, BN_EPSILON, device,
        ))
    }
}
