//! The layers of the FID Inception-v3: torchvision's `BasicConv2d` with its BatchNorm folded
//! in, and pytorch-fid's `FIDInceptionA/C/E_1/E_2` with torchvision's `InceptionB/D`, each
//! loaded from its state-dict prefix.

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use diffmac_io::Conv2dSpec;

use crate::error::Result;

/// BatchNorm's ε in torchvision's `BasicConv2d`.
const BN_EPS: f32 = 0.001;

/// Hands out tensor values by state-dict key, checked against the expected shape.
pub(super) type Fetch<'a> = dyn Fn(&str, &[usize]) -> Result<Vec<f32>> + 'a;

/// Where the layers take their tensors from and which device they go to.
pub(super) struct Loader<'a, B: Backend> {
    /// The tensor source (a weight file or the test-weight hash).
    pub fetch: &'a Fetch<'a>,
    /// The device of the built layers.
    pub device: &'a B::Device,
}

/// A `[c_in, c_out]` convolution with a `kernel` and zero `padding = [rows, cols]`, stride 1.
fn rect(c_in: usize, c_out: usize, kernel: [usize; 2], [ph, pw]: [usize; 2]) -> Conv2dSpec {
    Conv2dSpec::new([c_in, c_out], kernel).with_padding(PaddingConfig2d::Explicit(ph, pw, ph, pw))
}

/// A 1×7 convolution, stride 1, padding (0, 3).
fn row(c_in: usize, c_out: usize) -> Conv2dSpec {
    rect(c_in, c_out, [1, 7], [0, 3])
}

/// A 7×1 convolution, stride 1, padding (3, 0).
fn col(c_in: usize, c_out: usize) -> Conv2dSpec {
    rect(c_in, c_out, [7, 1], [3, 0])
}

/// A 1×3 convolution, stride 1, padding (0, 1).
fn row3(c: usize) -> Conv2dSpec {
    rect(c, c, [1, 3], [0, 1])
}

/// A 3×1 convolution, stride 1, padding (1, 0).
fn col3(c: usize) -> Conv2dSpec {
    rect(c, c, [3, 1], [1, 0])
}

impl<B: Backend> Loader<'_, B> {
    /// The `BasicConv2d` at `prefix`, its BatchNorm folded into the convolution.
    fn basic(&self, prefix: &str, s: Conv2dSpec) -> Result<Basic<B>> {
        let fetch = self.fetch;
        let shape = s.weight_shape();
        let [c_in, c_out] = s.channels;
        let mut w = fetch(&format!("{prefix}.conv.weight"), &shape)?;
        let gamma = fetch(&format!("{prefix}.bn.weight"), &[c_out])?;
        let beta = fetch(&format!("{prefix}.bn.bias"), &[c_out])?;
        let mean = fetch(&format!("{prefix}.bn.running_mean"), &[c_out])?;
        let var = fetch(&format!("{prefix}.bn.running_var"), &[c_out])?;
        let per_out = c_in * s.kernel[0] * s.kernel[1];
        let mut bias = vec![0.0_f32; c_out];
        for o in 0..c_out {
            let scale = gamma[o] / (var[o] + BN_EPS).sqrt();
            for v in &mut w[o * per_out..(o + 1) * per_out] {
                *v *= scale;
            }
            bias[o] = beta[o] - mean[o] * scale;
        }
        let weight = Tensor::from_data(TensorData::new(w, shape), self.device);
        let bias = Tensor::from_data(TensorData::new(bias, [c_out]), self.device);
        let conv = s.build(weight, Some(bias), self.device);
        Ok(Basic { conv })
    }

    /// A square-kernel `BasicConv2d`: `channels` = [in, out], kernel `k`, `stride`, `pad`.
    pub(super) fn sq(
        &self,
        prefix: &str,
        channels: [usize; 2],
        k: usize,
        stride: usize,
        pad: usize,
    ) -> Result<Basic<B>> {
        let spec = Conv2dSpec::square(channels, k)
            .with_stride(stride)
            .with_zero_padding(pad);
        self.basic(prefix, spec)
    }
}

/// Convolution + folded BatchNorm + ReLU (torchvision `BasicConv2d`).
#[derive(Module, Debug)]
pub(super) struct Basic<B: Backend> {
    conv: Conv2d<B>,
}

impl<B: Backend> Basic<B> {
    pub(super) fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        relu(self.conv.forward(x))
    }
}

/// pytorch-fid's 3×3 average pool of the branch_pool branches (padding not counted).
fn avg3() -> AvgPool2d {
    AvgPool2dConfig::new([3, 3])
        .with_strides([1, 1])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_count_include_pad(false)
        .init()
}

/// A 3×3 max pool.
pub(super) fn max3(stride: usize, pad: usize) -> MaxPool2d {
    MaxPool2dConfig::new([3, 3])
        .with_strides([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .init()
}

/// `FIDInceptionA` (Mixed_5b–5d).
#[derive(Module, Debug)]
pub(super) struct BlockA<B: Backend> {
    b1: Basic<B>,
    b5: [Basic<B>; 2],
    b3: [Basic<B>; 3],
    pool: Basic<B>,
}

impl<B: Backend> BlockA<B> {
    pub(super) fn load(l: &Loader<'_, B>, p: &str, c: usize, pool: usize) -> Result<Self> {
        Ok(Self {
            b1: l.sq(&format!("{p}.branch1x1"), [c, 64], 1, 1, 0)?,
            b5: [
                l.sq(&format!("{p}.branch5x5_1"), [c, 48], 1, 1, 0)?,
                l.sq(&format!("{p}.branch5x5_2"), [48, 64], 5, 1, 2)?,
            ],
            b3: [
                l.sq(&format!("{p}.branch3x3dbl_1"), [c, 64], 1, 1, 0)?,
                l.sq(&format!("{p}.branch3x3dbl_2"), [64, 96], 3, 1, 1)?,
                l.sq(&format!("{p}.branch3x3dbl_3"), [96, 96], 3, 1, 1)?,
            ],
            pool: l.sq(&format!("{p}.branch_pool"), [c, pool], 1, 1, 0)?,
        })
    }

    pub(super) fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let a = self.b1.forward(x.clone());
        let b = self.b5[1].forward(self.b5[0].forward(x.clone()));
        let c = self.b3[2].forward(self.b3[1].forward(self.b3[0].forward(x.clone())));
        let d = self.pool.forward(avg3().forward(x));
        Tensor::cat(vec![a, b, c, d], 1)
    }
}

/// `InceptionB` (Mixed_6a).
#[derive(Module, Debug)]
pub(super) struct BlockB<B: Backend> {
    b3: Basic<B>,
    dbl: [Basic<B>; 3],
}

impl<B: Backend> BlockB<B> {
    pub(super) fn load(l: &Loader<'_, B>, p: &str, c: usize) -> Result<Self> {
        Ok(Self {
            b3: l.sq(&format!("{p}.branch3x3"), [c, 384], 3, 2, 0)?,
            dbl: [
                l.sq(&format!("{p}.branch3x3dbl_1"), [c, 64], 1, 1, 0)?,
                l.sq(&format!("{p}.branch3x3dbl_2"), [64, 96], 3, 1, 1)?,
                l.sq(&format!("{p}.branch3x3dbl_3"), [96, 96], 3, 2, 0)?,
            ],
        })
    }

    pub(super) fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let a = self.b3.forward(x.clone());
        let b = self.dbl[2].forward(self.dbl[1].forward(self.dbl[0].forward(x.clone())));
        let c = max3(2, 0).forward(x);
        Tensor::cat(vec![a, b, c], 1)
    }
}

/// `FIDInceptionC` (Mixed_6b–6e).
#[derive(Module, Debug)]
pub(super) struct BlockC<B: Backend> {
    b1: Basic<B>,
    b7: [Basic<B>; 3],
    dbl: [Basic<B>; 5],
    pool: Basic<B>,
}

impl<B: Backend> BlockC<B> {
    pub(super) fn load(l: &Loader<'_, B>, p: &str, c7: usize) -> Result<Self> {
        let n = |name: &str| format!("{p}.{name}");
        Ok(Self {
            b1: l.sq(&n("branch1x1"), [768, 192], 1, 1, 0)?,
            b7: [
                l.sq(&n("branch7x7_1"), [768, c7], 1, 1, 0)?,
                l.basic(&n("branch7x7_2"), row(c7, c7))?,
                l.basic(&n("branch7x7_3"), col(c7, 192))?,
            ],
            dbl: [
                l.sq(&n("branch7x7dbl_1"), [768, c7], 1, 1, 0)?,
                l.basic(&n("branch7x7dbl_2"), col(c7, c7))?,
                l.basic(&n("branch7x7dbl_3"), row(c7, c7))?,
                l.basic(&n("branch7x7dbl_4"), col(c7, c7))?,
                l.basic(&n("branch7x7dbl_5"), row(c7, 192))?,
            ],
            pool: l.sq(&n("branch_pool"), [768, 192], 1, 1, 0)?,
        })
    }

    pub(super) fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let a = self.b1.forward(x.clone());
        let b = self.b7.iter().fold(x.clone(), |t, l| l.forward(t));
        let c = self.dbl.iter().fold(x.clone(), |t, l| l.forward(t));
        let d = self.pool.forward(avg3().forward(x));
        Tensor::cat(vec![a, b, c, d], 1)
    }
}

/// `InceptionD` (Mixed_7a).
#[derive(Module, Debug)]
pub(super) struct BlockD<B: Backend> {
    b3: [Basic<B>; 2],
    b7: [Basic<B>; 4],
}

impl<B: Backend> BlockD<B> {
    pub(super) fn load(l: &Loader<'_, B>, p: &str) -> Result<Self> {
        let c = 768;
        let n = |name: &str| format!("{p}.{name}");
        Ok(Self {
            b3: [
                l.sq(&n("branch3x3_1"), [c, 192], 1, 1, 0)?,
                l.sq(&n("branch3x3_2"), [192, 320], 3, 2, 0)?,
            ],
            b7: [
                l.sq(&n("branch7x7x3_1"), [c, 192], 1, 1, 0)?,
                l.basic(&n("branch7x7x3_2"), row(192, 192))?,
                l.basic(&n("branch7x7x3_3"), col(192, 192))?,
                l.sq(&n("branch7x7x3_4"), [192, 192], 3, 2, 0)?,
            ],
        })
    }

    pub(super) fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let a = self.b3.iter().fold(x.clone(), |t, l| l.forward(t));
        let b = self.b7.iter().fold(x.clone(), |t, l| l.forward(t));
        let c = max3(2, 0).forward(x);
        Tensor::cat(vec![a, b, c], 1)
    }
}

/// `FIDInceptionE_1` (Mixed_7b, average pool) and `FIDInceptionE_2` (Mixed_7c, max pool).
#[derive(Module, Debug)]
pub(super) struct BlockE<B: Backend> {
    b1: Basic<B>,
    b3: Basic<B>,
    b3a: Basic<B>,
    b3b: Basic<B>,
    dbl1: Basic<B>,
    dbl2: Basic<B>,
    dbla: Basic<B>,
    dblb: Basic<B>,
    pool: Basic<B>,
    max_pool: bool,
}

impl<B: Backend> BlockE<B> {
    pub(super) fn load(l: &Loader<'_, B>, p: &str, c: usize, max_pool: bool) -> Result<Self> {
        let n = |name: &str| format!("{p}.{name}");
        Ok(Self {
            b1: l.sq(&n("branch1x1"), [c, 320], 1, 1, 0)?,
            b3: l.sq(&n("branch3x3_1"), [c, 384], 1, 1, 0)?,
            b3a: l.basic(&n("branch3x3_2a"), row3(384))?,
            b3b: l.basic(&n("branch3x3_2b"), col3(384))?,
            dbl1: l.sq(&n("branch3x3dbl_1"), [c, 448], 1, 1, 0)?,
            dbl2: l.sq(&n("branch3x3dbl_2"), [448, 384], 3, 1, 1)?,
            dbla: l.basic(&n("branch3x3dbl_3a"), row3(384))?,
            dblb: l.basic(&n("branch3x3dbl_3b"), col3(384))?,
            pool: l.sq(&n("branch_pool"), [c, 192], 1, 1, 0)?,
            max_pool,
        })
    }

    pub(super) fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let a = self.b1.forward(x.clone());
        let t = self.b3.forward(x.clone());
        let b = Tensor::cat(vec![self.b3a.forward(t.clone()), self.b3b.forward(t)], 1);
        let t = self.dbl2.forward(self.dbl1.forward(x.clone()));
        let c = Tensor::cat(vec![self.dbla.forward(t.clone()), self.dblb.forward(t)], 1);
        let pooled = if self.max_pool {
            max3(1, 1).forward(x)
        } else {
            avg3().forward(x)
        };
        let d = self.pool.forward(pooled);
        Tensor::cat(vec![a, b, c, d], 1)
    }
}
