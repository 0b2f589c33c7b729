//! P-Net, MTCNN's fully convolutional proposal network.

use burn::module::Module;
use burn::nn::PRelu;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::tensor::Tensor;
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use diffmac_io::{Conv2dSpec, SafetensorsFile};

use crate::error::Result;

/// P-Net: three 3×3 convolutions over a 12×12 window (stride 2 after the first pooling), giving
/// a face probability and a box regression for every window position.
#[derive(Module, Debug)]
pub struct PNet<B: Backend> {
    conv1: Conv2d<B>,
    prelu1: PRelu<B>,
    pool1: MaxPool2d,
    conv2: Conv2d<B>,
    prelu2: PRelu<B>,
    conv3: Conv2d<B>,
    prelu3: PRelu<B>,
    conv4_1: Conv2d<B>,
    conv4_2: Conv2d<B>,
}

/// P-Net's outputs for a `[N, 3, H, W]` input.
#[derive(Debug, Clone)]
pub struct PNetOutput<B: Backend> {
    /// Box regression `[N, 4, H', W']` (offsets of x1, y1, x2, y2 in window sizes).
    pub reg: Tensor<B, 4>,
    /// Softmax over (not face, face) `[N, 2, H', W']`.
    pub prob: Tensor<B, 4>,
}

impl<B: Backend> PNet<B> {
    /// Builds P-Net from a weights file in facenet-pytorch's layout.
    pub fn from_weights(file: &SafetensorsFile, device: &B::Device) -> Result<Self> {
        Ok(Self {
            conv1: file.conv2d("conv1", &Conv2dSpec::square([3, 10], 3), device)?,
            prelu1: file.prelu("prelu1", 10, device)?,
            pool1: MaxPool2dConfig::new([2, 2]).with_ceil_mode(true).init(),
            conv2: file.conv2d("conv2", &Conv2dSpec::square([10, 16], 3), device)?,
            prelu2: file.prelu("prelu2", 16, device)?,
            conv3: file.conv2d("conv3", &Conv2dSpec::square([16, 32], 3), device)?,
            prelu3: file.prelu("prelu3", 32, device)?,
            conv4_1: file.conv2d("conv4_1", &Conv2dSpec::square([32, 2], 1), device)?,
            conv4_2: file.conv2d("conv4_2", &Conv2dSpec::square([32, 4], 1), device)?,
        })
    }

    /// The pretrained P-Net compiled into the crate.
    pub fn pretrained(device: &B::Device) -> Result<Self> {
        let file =
            SafetensorsFile::from_bytes("<built-in>/pnet.safetensors", crate::weights::PNET)?;
        Self::from_weights(&file, device)
    }

    /// Runs P-Net on `[N, 3, H, W]` images normalised as `(v - 127.5) / 128` (H, W ≥ 12).
    pub fn forward(&self, x: Tensor<B, 4>) -> PNetOutput<B> {
        let x = self.prelu1.forward(self.conv1.forward(x));
        let x = self.pool1.forward(x);
        let x = self.prelu2.forward(self.conv2.forward(x));
        let x = self.prelu3.forward(self.conv3.forward(x));
        PNetOutput {
            prob: softmax(self.conv4_1.forward(x.clone()), 1),
            reg: self.conv4_2.forward(x),
        }
    }
}
