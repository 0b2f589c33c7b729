//! R-Net, MTCNN's refinement network on 24×24 candidates.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, PRelu};
use burn::tensor::Tensor;
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use diffmac_io::{Conv2dSpec, SafetensorsFile};

use crate::error::Result;

/// R-Net: scores and refines P-Net's candidates, resampled to 24×24.
#[derive(Module, Debug)]
pub struct RNet<B: Backend> {
    conv1: Conv2d<B>,
    prelu1: PRelu<B>,
    pool1: MaxPool2d,
    conv2: Conv2d<B>,
    prelu2: PRelu<B>,
    pool2: MaxPool2d,
    conv3: Conv2d<B>,
    prelu3: PRelu<B>,
    dense4: Linear<B>,
    prelu4: PRelu<B>,
    dense5_1: Linear<B>,
    dense5_2: Linear<B>,
}

/// R-Net's outputs for `N` candidates.
#[derive(Debug, Clone)]
pub struct RNetOutput<B: Backend> {
    /// Box regression `[N, 4]`.
    pub reg: Tensor<B, 2>,
    /// Softmax over (not face, face) `[N, 2]`.
    pub prob: Tensor<B, 2>,
}

impl<B: Backend> RNet<B> {
    /// Builds R-Net from a weights file in facenet-pytorch's layout.
    pub fn from_weights(file: &SafetensorsFile, device: &B::Device) -> Result<Self> {
        let pool = || {
            MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_ceil_mode(true)
                .init()
        };
        Ok(Self {
            conv1: file.conv2d("conv1", &Conv2dSpec::square([3, 28], 3), device)?,
            prelu1: file.prelu("prelu1", 28, device)?,
            pool1: pool(),
            conv2: file.conv2d("conv2", &Conv2dSpec::square([28, 48], 3), device)?,
            prelu2: file.prelu("prelu2", 48, device)?,
            pool2: pool(),
            conv3: file.conv2d("conv3", &Conv2dSpec::square([48, 64], 2), device)?,
            prelu3: file.prelu("prelu3", 64, device)?,
            dense4: file.linear("dense4", 576, 128, device)?,
            prelu4: file.prelu("prelu4", 128, device)?,
            dense5_1: file.linear("dense5_1", 128, 2, device)?,
            dense5_2: file.linear("dense5_2", 128, 4, device)?,
        })
    }

    /// The pretrained R-Net compiled into the crate.
    pub fn pretrained(device: &B::Device) -> Result<Self> {
        let file =
            SafetensorsFile::from_bytes("<built-in>/rnet.safetensors", crate::weights::RNET)?;
        Self::from_weights(&file, device)
    }

    /// Runs R-Net on `[N, 3, 24, 24]` normalised crops.
    pub fn forward(&self, x: Tensor<B, 4>) -> RNetOutput<B> {
        let x = self
            .pool1
            .forward(self.prelu1.forward(self.conv1.forward(x)));
        let x = self
            .pool2
            .forward(self.prelu2.forward(self.conv2.forward(x)));
        let x = self.prelu3.forward(self.conv3.forward(x));
        // The original flattens in (W, H, C) order.
        let [n, _, _, _] = x.dims();
        let x: Tensor<B, 2> = x.permute([0, 3, 2, 1]).reshape([n as i32, -1]);
        let x = self.prelu4.forward(self.dense4.forward(x));
        RNetOutput {
            prob: softmax(self.dense5_1.forward(x.clone()), 1),
            reg: self.dense5_2.forward(x),
        }
    }
}
