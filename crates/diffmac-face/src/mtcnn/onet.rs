//! O-Net, MTCNN's output network on 48×48 candidates: score, box and five landmarks.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, PRelu};
use burn::tensor::Tensor;
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use diffmac_io::{Conv2dSpec, SafetensorsFile};

use crate::error::Result;

/// O-Net: the last stage, which also places the five landmarks.
#[derive(Module, Debug)]
pub struct ONet<B: Backend> {
    conv1: Conv2d<B>,
    prelu1: PRelu<B>,
    pool1: MaxPool2d,
    conv2: Conv2d<B>,
    prelu2: PRelu<B>,
    pool2: MaxPool2d,
    conv3: Conv2d<B>,
    prelu3: PRelu<B>,
    pool3: MaxPool2d,
    conv4: Conv2d<B>,
    prelu4: PRelu<B>,
    dense5: Linear<B>,
    prelu5: PRelu<B>,
    dense6_1: Linear<B>,
    dense6_2: Linear<B>,
    dense6_3: Linear<B>,
}

/// O-Net's outputs for `N` candidates.
#[derive(Debug, Clone)]
pub struct ONetOutput<B: Backend> {
    /// Box regression `[N, 4]`.
    pub reg: Tensor<B, 2>,
    /// Landmarks `[N, 10]`: five x then five y, as fractions of the candidate box.
    pub landmarks: Tensor<B, 2>,
    /// Softmax over (not face, face) `[N, 2]`.
    pub prob: Tensor<B, 2>,
}

impl<B: Backend> ONet<B> {
    /// Builds O-Net from a weights file in facenet-pytorch's layout.
    pub fn from_weights(file: &SafetensorsFile, device: &B::Device) -> Result<Self> {
        let pool3 = || {
            MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_ceil_mode(true)
                .init()
        };
        Ok(Self {
            conv1: file.conv2d("conv1", &Conv2dSpec::square([3, 32], 3), device)?,
            prelu1: file.prelu("prelu1", 32, device)?,
            pool1: pool3(),
            conv2: file.conv2d("conv2", &Conv2dSpec::square([32, 64], 3), device)?,
            prelu2: file.prelu("prelu2", 64, device)?,
            pool2: pool3(),
            conv3: file.conv2d("conv3", &Conv2dSpec::square([64, 64], 3), device)?,
            prelu3: file.prelu("prelu3", 64, device)?,
            pool3: MaxPool2dConfig::new([2, 2]).with_ceil_mode(true).init(),
            conv4: file.conv2d("conv4", &Conv2dSpec::square([64, 128], 2), device)?,
            prelu4: file.prelu("prelu4", 128, device)?,
            dense5: file.linear("dense5", 1152, 256, device)?,
            prelu5: file.prelu("prelu5", 256, device)?,
            dense6_1: file.linear("dense6_1", 256, 2, device)?,
            dense6_2: file.linear("dense6_2", 256, 4, device)?,
            dense6_3: file.linear("dense6_3", 256, 10, device)?,
        })
    }

    /// The pretrained O-Net compiled into the crate.
    pub fn pretrained(device: &B::Device) -> Result<Self> {
        let file =
            SafetensorsFile::from_bytes("<built-in>/onet.safetensors", crate::weights::ONET)?;
        Self::from_weights(&file, device)
    }

    /// Runs O-Net on `[N, 3, 48, 48]` normalised crops.
    pub fn forward(&self, x: Tensor<B, 4>) -> ONetOutput<B> {
        let x = self
            .pool1
            .forward(self.prelu1.forward(self.conv1.forward(x)));
        let x = self
            .pool2
            .forward(self.prelu2.forward(self.conv2.forward(x)));
        let x = self
            .pool3
            .forward(self.prelu3.forward(self.conv3.forward(x)));
        let x = self.prelu4.forward(self.conv4.forward(x));
        let [n, _, _, _] = x.dims();
        let x: Tensor<B, 2> = x.permute([0, 3, 2, 1]).reshape([n as i32, -1]);
        let x = self.prelu5.forward(self.dense5.forward(x));
        ONetOutput {
            prob: softmax(self.dense6_1.forward(x.clone()), 1),
            reg: self.dense6_2.forward(x.clone()),
            landmarks: self.dense6_3.forward(x),
        }
    }
}
