//! The whole dlib face recognition ResNet (`dlib_face_recognition_resnet_model_v1`).

use std::path::Path;

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::tensor::backend::Backend;
use burn::tensor::module::max_pool2d;
use burn::tensor::{Tensor, TensorData};
use diffmac_io::{Conv2dSpec, SafetensorsFile};

use super::architecture::DlibArchitecture;
use super::block::DlibBlock;
use super::layers::affine;
use crate::batch_norm::FrozenBatchNorm;
use crate::encoder::IdentityEncoder;
use crate::error::{IdError, Result};

/// dlib's face recognition ResNet (the `anet_type` of `dnn_face_recognition_ex.cpp`), in
/// inference mode, as converted by `scripts/reference/dlib_convert.py`.
///
/// ```text
/// 150×150 RGB chip → (pixel − mean) / 256
/// conv 7×7/2 (32) → affine → relu → max pool 3×3/2
/// 14 residual blocks: 3 × 32, [64↓, 3 × 64], [128↓, 2 × 128], [256↓, 2 × 256], 256↓
/// average over the whole map → fc (no bias) → 128-D descriptor
/// ```
///
/// The descriptor is dlib's `compute_face_descriptor` output, **not** L2-normalised (its norm
/// is about 1.4 on real faces); dlib calls two faces the same person when the Euclidean
/// distance of their descriptors is below [`distance_threshold`](Self::distance_threshold)
/// (0.6). Cosine similarity works on them as on any embedding.
#[derive(Module, Debug)]
pub struct DlibResNet<B: Backend> {
    /// From the workspace's [-1, 1] images to dlib's input: per channel,
    /// `x · 127.5 / 256 + (127.5 − mean) / 256`.
    pub input: FrozenBatchNorm<B>,
    /// Stem convolution, 7×7, stride 2, no padding.
    pub conv1: Conv2d<B>,
    /// Stem affine.
    pub affine1: FrozenBatchNorm<B>,
    /// Max pool window, stride and padding after the stem.
    pub max_pool: [usize; 3],
    /// The residual blocks, input to output.
    pub blocks: Vec<DlibBlock<B>>,
    /// Averaged features → descriptor, without bias.
    pub fc: Linear<B>,
    /// Side of the square input chip (150).
    pub input_size: usize,
    /// dlib's same-person distance threshold, read from the file (0.6).
    pub distance_threshold: f64,
}

impl<B: Backend> DlibResNet<B> {
    /// Builds the network from a parsed weight file with the given architecture, checking every
    /// tensor's shape.
    pub fn from_weights(
        weights: &SafetensorsFile,
        arch: &DlibArchitecture,
        device: &B::Device,
    ) -> Result<Self> {
        let mean = weights.f32_values("input.mean", &[3])?;
        let divisor = arch.input_divisor;
        let scale = vec![127.5 / divisor; 3];
        let shift: Vec<f32> = mean.iter().map(|m| (127.5 - m) / divisor).collect();
        let input = FrozenBatchNorm {
            scale: Tensor::from_data(TensorData::new(scale, [3]), device),
            shift: Tensor::from_data(TensorData::new(shift, [3]), device),
        };
        let stem = &arch.stem;
        let conv1 = weights.conv2d(
            "conv1",
            &Conv2dSpec::square([3, stem.channels], stem.kernel)
                .with_stride(stem.stride)
                .with_zero_padding(stem.padding),
            device,
        )?;
        let affine1 = affine(weights, "affine1", stem.channels, device)?;
        let mut blocks = Vec::with_capacity(arch.blocks.len());
        let mut c_in = stem.channels;
        for (i, config) in arch.blocks.iter().enumerate() {
            blocks.push(DlibBlock::load(weights, i, c_in, config, device)?);
            c_in = config.channels;
        }
        let fc_weight = weights.f32_tensor("fc.weight", [c_in, arch.embedding_dim], device)?;
        let fc = Linear {
            weight: Param::from_tensor(fc_weight),
            bias: None,
        };
        let pool = &arch.max_pool;
        Ok(Self {
            input,
            conv1,
            affine1,
            max_pool: [pool.size, pool.stride, pool.padding],
            blocks,
            fc,
            input_size: arch.input_size,
            distance_threshold: arch.distance_threshold,
        })
    }

    /// Builds the network from the bytes of a converted safetensors file (architecture from
    /// its metadata); `path` only names the source in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path, device: &B::Device) -> Result<Self> {
        Self::from_file(&SafetensorsFile::from_bytes(path, bytes.to_vec())?, device)
    }

    /// Builds the network from a converted weight file (architecture from its metadata).
    pub fn from_file(weights: &SafetensorsFile, device: &B::Device) -> Result<Self> {
        let arch = DlibArchitecture::from_file(weights)?;
        Self::from_weights(weights, &arch, device)
    }

    /// Loads a safetensors file written by `scripts/reference/dlib_convert.py` (by default
    /// `weights/identity/dlib_resnet_v1.safetensors`, see `scripts/fetch_identity_weights.sh`).
    pub fn load(path: &Path, device: &B::Device) -> Result<Self> {
        Self::from_file(&SafetensorsFile::open(path)?, device)
    }

    /// Checks that `dims` is `[N, 3, S, S]` with N ≥ 1 and S = `input_size`.
    pub fn check_input(&self, dims: [usize; 4]) -> Result<()> {
        let [n, c, h, w] = dims;
        let s = self.input_size;
        if n == 0 || c != 3 || h != s || w != s {
            return Err(IdError::Shape(format!(
                "dlib ResNet expects [N, 3, {s}, {s}] chips, got {dims:?}"
            )));
        }
        Ok(())
    }

    /// `[N, 3, S, S]` chips in [-1, 1] (S = `input_size`) → `[N, 128]` descriptors; an input of
    /// another shape is an error.
    pub fn try_forward(&self, chips: Tensor<B, 4>) -> Result<Tensor<B, 2>> {
        self.check_input(chips.dims())?;
        Ok(self.forward(chips))
    }

    /// `[N, 3, S, S]` chips in [-1, 1] → `[N, 128]` descriptors.
    ///
    /// # Panics
    ///
    /// If the input is not `[N, 3, S, S]` (use [`try_forward`](Self::try_forward) to get an
    /// error instead).
    pub fn forward(&self, chips: Tensor<B, 4>) -> Tensor<B, 2> {
        if let Err(e) = self.check_input(chips.dims()) {
            panic!("{e}");
        }
        let x = self.input.forward(chips);
        let x = self.affine1.forward(self.conv1.forward(x));
        let [size, stride, pad] = self.max_pool;
        let mut x = max_pool2d(
            burn::tensor::activation::relu(x),
            [size, size],
            [stride, stride],
            [pad, pad],
            [1, 1],
            false,
        );
        for block in &self.blocks {
            x = block.forward(x);
        }
        let features: Tensor<B, 2> = x.mean_dim(3).mean_dim(2).flatten(1, 3);
        self.fc.forward(features)
    }
}

impl<B: Backend> IdentityEncoder<B> for DlibResNet<B> {
    fn input_size(&self) -> usize {
        self.input_size
    }

    fn embedding_dim(&self) -> usize {
        self.fc.weight.dims()[1]
    }

    fn embed(&self, faces: Tensor<B, 4>) -> Tensor<B, 2> {
        self.forward(faces)
    }
}
