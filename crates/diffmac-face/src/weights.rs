//! Reading weights from safetensors files with PyTorch state-dict key names (`conv1.weight`,
//! `prelu1.weight`, `dense4.bias`, ...) into Burn layers; shared with `diffmac-id`.
//!
//! The pretrained weights are compiled into the crate ([`PNET`], [`RNET`], [`ONET`]); they were
//! converted once from facenet-pytorch 2.6.0's pickles by `scripts/reference/mtcnn_convert.py`.

use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::{Linear, PRelu, PaddingConfig2d};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

use crate::error::{FaceError, Result};

/// P-Net weights of facenet-pytorch 2.6.0 (`data/pnet.pt`), as safetensors.
pub static PNET: &[u8] = include_bytes!("../weights/pnet.safetensors");
/// R-Net weights of facenet-pytorch 2.6.0 (`data/rnet.pt`), as safetensors.
pub static RNET: &[u8] = include_bytes!("../weights/rnet.safetensors");
/// O-Net weights of facenet-pytorch 2.6.0 (`data/onet.pt`), as safetensors.
pub static ONET: &[u8] = include_bytes!("../weights/onet.safetensors");

/// A parsed safetensors buffer that hands out f32 tensors by name, checking their shapes.
pub struct WeightFile<'a> {
    path: PathBuf,
    tensors: SafeTensors<'a>,
}

impl<'a> WeightFile<'a> {
    /// Parses `bytes`; `path` only names the source in error messages.
    pub fn parse(bytes: &'a [u8], path: &Path) -> Result<Self> {
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| FaceError::Safetensors {
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

    /// The shape of tensor `name`, if present.
    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.tensors.tensor(name).ok().map(|v| v.shape().to_vec())
    }

    /// An error about tensor `name` of this file.
    pub fn error(&self, name: &str, problem: impl Into<String>) -> FaceError {
        FaceError::Weights {
            path: self.path.clone(),
            name: name.to_owned(),
            problem: problem.into(),
        }
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

    /// A valid-padding, stride-1 `Conv2d` from `{prefix}.weight` `[out, in, k, k]` and
    /// `{prefix}.bias`.
    pub fn conv2d<B: Backend>(
        &self,
        prefix: &str,
        channels: [usize; 2],
        kernel: usize,
        device: &B::Device,
    ) -> Result<Conv2d<B>> {
        let [c_in, c_out] = channels;
        let weight = self.tensor(
            &format!("{prefix}.weight"),
            [c_out, c_in, kernel, kernel],
            device,
        )?;
        let bias = self.tensor(&format!("{prefix}.bias"), [c_out], device)?;
        let mut conv = burn::nn::conv::Conv2dConfig::new(channels, [kernel, kernel])
            .with_padding(PaddingConfig2d::Valid)
            .init(device);
        conv.weight = Param::from_tensor(weight);
        conv.bias = Some(Param::from_tensor(bias));
        Ok(conv)
    }

    /// A `Linear` layer from PyTorch's `{prefix}.weight` `[out, in]` (stored transposed, as
    /// Burn's row layout wants `[in, out]`) and `{prefix}.bias`.
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
        let mut prelu = burn::nn::PReluConfig::new()
            .with_num_parameters(channels)
            .init(device);
        prelu.alpha = Param::from_tensor(alpha);
        Ok(prelu)
    }
}
