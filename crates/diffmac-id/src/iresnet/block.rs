//! The pre-activation residual block of insightface's IResNet (`IBasicBlock`).

use burn::module::Module;
use burn::nn::PRelu;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use diffmac_io::SafetensorsFile;

use crate::batch_norm::FrozenBatchNorm;
use crate::error::Result;
use crate::weights::{IResNetWeights, iresnet_conv};

/// The shortcut of a stage's first block: strided 1×1 convolution then BatchNorm
/// (`downsample.0`, `downsample.1`).
#[derive(Module, Debug)]
pub struct Downsample<B: Backend> {
    /// `downsample.0`: 1×1 convolution, stride 2, no bias.
    pub conv: Conv2d<B>,
    /// `downsample.1`: BatchNorm2d.
    pub bn: FrozenBatchNorm<B>,
}

/// `IBasicBlock`: `bn1 → conv1 (3×3) → bn2 → prelu → conv2 (3×3, strided) → bn3`, plus the
/// input (or its [`Downsample`]).
#[derive(Module, Debug)]
pub struct IBasicBlock<B: Backend> {
    /// BatchNorm on the block input.
    pub bn1: FrozenBatchNorm<B>,
    /// 3×3 convolution, stride 1, input → output channels.
    pub conv1: Conv2d<B>,
    /// BatchNorm after `conv1`.
    pub bn2: FrozenBatchNorm<B>,
    /// Per-channel PReLU.
    pub prelu: PRelu<B>,
    /// 3×3 convolution carrying the block's stride.
    pub conv2: Conv2d<B>,
    /// BatchNorm after `conv2`.
    pub bn3: FrozenBatchNorm<B>,
    /// Shortcut projection, present when the stride or channel count changes.
    pub downsample: Option<Downsample<B>>,
}

impl<B: Backend> IBasicBlock<B> {
    /// Loads block `prefix` (e.g. `layer2.0`) mapping `c_in` to `c_out` channels with `stride`.
    pub fn load(
        weights: &SafetensorsFile,
        prefix: &str,
        c_in: usize,
        c_out: usize,
        stride: usize,
        device: &B::Device,
    ) -> Result<Self> {
        let downsample = if stride != 1 || c_in != c_out {
            Some(Downsample {
                conv: weights.conv2d(
                    &format!("{prefix}.downsample.0"),
                    &iresnet_conv([c_in, c_out], 1, stride),
                    device,
                )?,
                bn: weights.batch_norm(&format!("{prefix}.downsample.1"), c_out, device)?,
            })
        } else {
            None
        };
        Ok(Self {
            bn1: weights.batch_norm(&format!("{prefix}.bn1"), c_in, device)?,
            conv1: weights.conv2d(
                &format!("{prefix}.conv1"),
                &iresnet_conv([c_in, c_out], 3, 1),
                device,
            )?,
            bn2: weights.batch_norm(&format!("{prefix}.bn2"), c_out, device)?,
            prelu: weights.prelu(&format!("{prefix}.prelu"), c_out, device)?,
            conv2: weights.conv2d(
                &format!("{prefix}.conv2"),
                &iresnet_conv([c_out, c_out], 3, stride),
                device,
            )?,
            bn3: weights.batch_norm(&format!("{prefix}.bn3"), c_out, device)?,
            downsample,
        })
    }

    /// `[N, c_in, H, W]` → `[N, c_out, H / stride, W / stride]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let out = self.bn1.forward(x.clone());
        let out = self.conv1.forward(out);
        let out = self.prelu.forward(self.bn2.forward(out));
        let out = self.bn3.forward(self.conv2.forward(out));
        let shortcut = match &self.downsample {
            Some(d) => d.bn.forward(d.conv.forward(x)),
            None => x,
        };
        out + shortcut
    }
}
