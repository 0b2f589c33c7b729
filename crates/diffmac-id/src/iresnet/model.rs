//! The whole ArcFace IResNet: stem, four stages of [`IBasicBlock`]s, BN, FC and BN1d.

use std::path::Path;

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{Linear, PRelu};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use diffmac_io::SafetensorsFile;

use super::block::IBasicBlock;
use super::config::IResNetConfig;
use crate::batch_norm::FrozenBatchNorm;
use crate::encoder::IdentityEncoder;
use crate::error::{IdError, Result};
use crate::weights::{IResNetWeights, iresnet_conv};

/// insightface's `arcface_torch` IResNet (`iresnet50`, `iresnet100`, ...), in evaluation mode.
///
/// Field names follow the PyTorch state dict (`conv1`, `bn1`, `prelu`, `layer1`..`layer4`,
/// `bn2`, `fc`, `features`), so converted checkpoints load with no renaming table. Dropout sits
/// between `bn2` and `fc` upstream and is the identity at inference, so it is left out.
#[derive(Module, Debug)]
pub struct IResNet<B: Backend> {
    /// Stem 3×3 convolution, 3 → `stem` channels, stride 1.
    pub conv1: Conv2d<B>,
    /// Stem BatchNorm.
    pub bn1: FrozenBatchNorm<B>,
    /// Stem PReLU.
    pub prelu: PRelu<B>,
    /// The four stages (`layer1`..`layer4`), each halving the resolution in its first block.
    pub layers: Vec<Vec<IBasicBlock<B>>>,
    /// BatchNorm on the last feature map.
    pub bn2: FrozenBatchNorm<B>,
    /// Flattened feature map → D.
    pub fc: Linear<B>,
    /// BatchNorm1d on the embedding.
    pub features: FrozenBatchNorm<B>,
    /// Side of the square input.
    pub input_size: usize,
}

impl<B: Backend> IResNet<B> {
    /// Builds the network from a parsed state dict with the given configuration, checking every
    /// tensor's shape.
    pub fn from_weights(
        weights: &SafetensorsFile,
        config: &IResNetConfig,
        device: &B::Device,
    ) -> Result<Self> {
        if config.input_size == 0 || !config.input_size.is_multiple_of(16) {
            return Err(IdError::Shape(format!(
                "input size {} is not a positive multiple of 16",
                config.input_size
            )));
        }
        let mut layers = Vec::with_capacity(4);
        let mut c_in = config.stem;
        for (s, (&n, &w)) in config.layers.iter().zip(&config.widths).enumerate() {
            let mut blocks = Vec::with_capacity(n);
            for i in 0..n {
                let (c, stride) = if i == 0 { (c_in, 2) } else { (w, 1) };
                let prefix = format!("layer{}.{i}", s + 1);
                blocks.push(IBasicBlock::load(weights, &prefix, c, w, stride, device)?);
            }
            layers.push(blocks);
            c_in = w;
        }
        Ok(Self {
            conv1: weights.conv2d("conv1", &iresnet_conv([3, config.stem], 3, 1), device)?,
            bn1: weights.batch_norm("bn1", config.stem, device)?,
            prelu: weights.prelu("prelu", config.stem, device)?,
            layers,
            bn2: weights.batch_norm("bn2", c_in, device)?,
            fc: weights.linear("fc", config.fc_inputs(), config.num_features, device)?,
            features: weights.batch_norm("features", config.num_features, device)?,
            input_size: config.input_size,
        })
    }

    /// Builds the network from a weight file, reading the configuration off the keys
    /// ([`IResNetConfig::infer`]).
    pub fn from_file(weights: &SafetensorsFile, device: &B::Device) -> Result<Self> {
        let config = IResNetConfig::infer(weights)?;
        Self::from_weights(weights, &config, device)
    }

    /// [`IResNet::from_file`] on safetensors bytes; `path` only names the source in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path, device: &B::Device) -> Result<Self> {
        Self::from_file(&SafetensorsFile::from_bytes(path, bytes.to_vec())?, device)
    }

    /// Loads a safetensors file written by `scripts/reference/iresnet_convert.py`.
    pub fn load(path: &Path, device: &B::Device) -> Result<Self> {
        Self::from_file(&SafetensorsFile::open(path)?, device)
    }

    /// Loads insightface's PyTorch weights (`backbone.pth` of `arcface_torch`, a state dict)
    /// directly, without a conversion step (`diffmac_io::read_pth`).
    pub fn load_pth(path: &Path, device: &B::Device) -> Result<Self> {
        Self::from_file(&diffmac_io::read_pth(path)?, device)
    }

    /// `[N, 3, S, S]` faces in [-1, 1] (S = `input_size`) → `[N, D]` embeddings.
    ///
    /// # Panics
    ///
    /// If the input is not `[N, 3, S, S]`.
    pub fn forward(&self, faces: Tensor<B, 4>) -> Tensor<B, 2> {
        let [n, c, h, w] = faces.dims();
        assert!(
            c == 3 && h == self.input_size && w == self.input_size,
            "IResNet expects [N, 3, {s}, {s}] input, got [{n}, {c}, {h}, {w}]",
            s = self.input_size
        );
        let mut x = self
            .prelu
            .forward(self.bn1.forward(self.conv1.forward(faces)));
        for stage in &self.layers {
            for block in stage {
                x = block.forward(x);
            }
        }
        let x: Tensor<B, 2> = self.bn2.forward(x).flatten(1, 3);
        self.features.forward(self.fc.forward(x))
    }
}

impl<B: Backend> IdentityEncoder<B> for IResNet<B> {
    fn input_size(&self) -> usize {
        self.input_size
    }

    fn embedding_dim(&self) -> usize {
        self.features.channels()
    }

    fn embed(&self, faces: Tensor<B, 4>) -> Tensor<B, 2> {
        self.forward(faces)
    }
}
