//! pytorch-fid's FID Inception-v3 up to the 2048-D pool3 features, on Burn and generic over
//! the backend: torchvision's Inception-v3 with pytorch-fid's `FIDInceptionA/C/E_1/E_2` blocks
//! (average pools that do not count padding, max pool in the last block), inputs in [0, 1]
//! resized to 299×299 (bilinear, `align_corners=False`, [`resize_bilinear`]) and mapped to
//! [-1, 1]. Weights: pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` converted to
//! safetensors (`scripts/convert_eval_weights.py --pytorch-fid-inception`), torchvision key
//! names (`Mixed_5b.branch1x1.conv.weight`, `....bn.running_var`, ...). Each BatchNorm
//! (ε = 0.001) is folded into its convolution at load time.

use std::path::Path;

use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use diffmac_io::{SafetensorsFile, safetensors_bytes};

use crate::error::{EvalError, Result};
use crate::image::Image255;
use crate::lpips::hash_unit;

/// Side of the network's input.
pub const INCEPTION_SIZE: usize = 299;
/// Length of a pool3 feature vector.
pub const POOL3_DIM: usize = 2048;
const BN_EPS: f32 = 0.001;

/// Hands out tensor values by state-dict key, checked against the expected shape.
type Fetch<'a> = dyn Fn(&str, &[usize]) -> Result<Vec<f32>> + 'a;

/// Told each generated tensor: key, shape, values.
type Seen<'a> = dyn Fn(&str, &[usize], Vec<f32>) + 'a;

/// Convolution + folded BatchNorm + ReLU (torchvision `BasicConv2d`).
#[derive(Debug)]
struct Basic<B: Backend> {
    conv: Conv2d<B>,
}

impl<B: Backend> Basic<B> {
    #[allow(clippy::too_many_arguments)]
    fn load(
        fetch: &Fetch<'_>,
        prefix: &str,
        c_in: usize,
        c_out: usize,
        kernel: [usize; 2],
        stride: usize,
        padding: [usize; 2],
        device: &B::Device,
    ) -> Result<Self> {
        let shape = [c_out, c_in, kernel[0], kernel[1]];
        let mut w = fetch(&format!("{prefix}.conv.weight"), &shape)?;
        let gamma = fetch(&format!("{prefix}.bn.weight"), &[c_out])?;
        let beta = fetch(&format!("{prefix}.bn.bias"), &[c_out])?;
        let mean = fetch(&format!("{prefix}.bn.running_mean"), &[c_out])?;
        let var = fetch(&format!("{prefix}.bn.running_var"), &[c_out])?;
        let per_out = c_in * kernel[0] * kernel[1];
        let mut bias = vec![0.0_f32; c_out];
        for o in 0..c_out {
            let s = gamma[o] / (var[o] + BN_EPS).sqrt();
            for v in &mut w[o * per_out..(o + 1) * per_out] {
                *v *= s;
            }
            bias[o] = beta[o] - mean[o] * s;
        }
        let mut conv = Conv2dConfig::new([c_in, c_out], kernel)
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(
                padding[0], padding[1], padding[0], padding[1],
            ))
            .init(device);
        conv.weight = Param::from_tensor(Tensor::from_data(TensorData::new(w, shape), device));
        conv.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(bias, [c_out]),
            device,
        )));
        Ok(Self { conv })
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        relu(self.conv.forward(x))
    }
}

/// Square-kernel [`Basic`] shorthand.
fn sq<B: Backend>(
    fetch: &Fetch<'_>,
    prefix: &str,
    channels: [usize; 2],
    k: usize,
    stride: usize,
    pad: usize,
    device: &B::Device,
) -> Result<Basic<B>> {
    Basic::load(
        fetch,
        prefix,
        channels[0],
        channels[1],
        [k, k],
        stride,
        [pad, pad],
        device,
    )
}

fn avg3() -> AvgPool2d {
    AvgPool2dConfig::new([3, 3])
        .with_strides([1, 1])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_count_include_pad(false)
        .init()
}

fn max3(stride: usize, pad: usize) -> MaxPool2d {
    MaxPool2dConfig::new([3, 3])
        .with_strides([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .init()
}

/// `FIDInceptionA` (Mixed_5b–5d).
#[derive(Debug)]
struct BlockA<B: Backend> {
    b1: Basic<B>,
    b5: [Basic<B>; 2],
    b3: [Basic<B>; 3],
    pool: Basic<B>,
}

impl<B: Backend> BlockA<B> {
    fn load(f: &Fetch<'_>, p: &str, c: usize, pool: usize, d: &B::Device) -> Result<Self> {
        Ok(Self {
            b1: sq(f, &format!("{p}.branch1x1"), [c, 64], 1, 1, 0, d)?,
            b5: [
                sq(f, &format!("{p}.branch5x5_1"), [c, 48], 1, 1, 0, d)?,
                sq(f, &format!("{p}.branch5x5_2"), [48, 64], 5, 1, 2, d)?,
            ],
            b3: [
                sq(f, &format!("{p}.branch3x3dbl_1"), [c, 64], 1, 1, 0, d)?,
                sq(f, &format!("{p}.branch3x3dbl_2"), [64, 96], 3, 1, 1, d)?,
                sq(f, &format!("{p}.branch3x3dbl_3"), [96, 96], 3, 1, 1, d)?,
            ],
            pool: sq(f, &format!("{p}.branch_pool"), [c, pool], 1, 1, 0, d)?,
        })
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let a = self.b1.forward(x.clone());
        let b = self.b5[1].forward(self.b5[0].forward(x.clone()));
        let c = self.b3[2].forward(self.b3[1].forward(self.b3[0].forward(x.clone())));
        let d = self.pool.forward(avg3().forward(x));
        Tensor::cat(vec![a, b, c, d], 1)
    }
}

/// `InceptionB` (Mixed_6a).
#[derive(Debug)]
struct BlockB<B: Backend> {
    b3: Basic<B>,
    dbl: [Basic<B>; 3],
}

impl<B: Backend> BlockB<B> {
    fn load(f: &Fetch<'_>, p: &str, c: usize, d: &B::Device) -> Result<Self> {
        Ok(Self {
            b3: sq(f, &format!("{p}.branch3x3"), [c, 384], 3, 2, 0, d)?,
            dbl: [
                sq(f, &format!("{p}.branch3x3dbl_1"), [c, 64], 1, 1, 0, d)?,
                sq(f, &format!("{p}.branch3x3dbl_2"), [64, 96], 3, 1, 1, d)?,
                sq(f, &format!("{p}.branch3x3dbl_3"), [96, 96], 3, 2, 0, d)?,
            ],
        })
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let a = self.b3.forward(x.clone());
        let b = self.dbl[2].forward(self.dbl[1].forward(self.dbl[0].forward(x.clone())));
        let c = max3(2, 0).forward(x);
        Tensor::cat(vec![a, b, c], 1)
    }
}

/// `FIDInceptionC` (Mixed_6b–6e).
#[derive(Debug)]
struct BlockC<B: Backend> {
    b1: Basic<B>,
    b7: [Basic<B>; 3],
    dbl: [Basic<B>; 5],
    pool: Basic<B>,
}

impl<B: Backend> BlockC<B> {
    fn load(f: &Fetch<'_>, p: &str, c7: usize, d: &B::Device) -> Result<Self> {
        let row = |name: &str, ci: usize, co: usize| {
            Basic::load(f, &format!("{p}.{name}"), ci, co, [1, 7], 1, [0, 3], d)
        };
        let col = |name: &str, ci: usize, co: usize| {
            Basic::load(f, &format!("{p}.{name}"), ci, co, [7, 1], 1, [3, 0], d)
        };
        Ok(Self {
            b1: sq(f, &format!("{p}.branch1x1"), [768, 192], 1, 1, 0, d)?,
            b7: [
                sq(f, &format!("{p}.branch7x7_1"), [768, c7], 1, 1, 0, d)?,
                row("branch7x7_2", c7, c7)?,
                col("branch7x7_3", c7, 192)?,
            ],
            dbl: [
                sq(f, &format!("{p}.branch7x7dbl_1"), [768, c7], 1, 1, 0, d)?,
                col("branch7x7dbl_2", c7, c7)?,
                row("branch7x7dbl_3", c7, c7)?,
                col("branch7x7dbl_4", c7, c7)?,
                row("branch7x7dbl_5", c7, 192)?,
            ],
            pool: sq(f, &format!("{p}.branch_pool"), [768, 192], 1, 1, 0, d)?,
        })
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let a = self.b1.forward(x.clone());
        let b = self.b7.iter().fold(x.clone(), |t, l| l.forward(t));
        let c = self.dbl.iter().fold(x.clone(), |t, l| l.forward(t));
        let d = self.pool.forward(avg3().forward(x));
        Tensor::cat(vec![a, b, c, d], 1)
    }
}

/// `InceptionD` (Mixed_7a).
#[derive(Debug)]
struct BlockD<B: Backend> {
    b3: [Basic<B>; 2],
    b7: [Basic<B>; 4],
}

impl<B: Backend> BlockD<B> {
    fn load(f: &Fetch<'_>, p: &str, d: &B::Device) -> Result<Self> {
        let c = 768;
        Ok(Self {
            b3: [
                sq(f, &format!("{p}.branch3x3_1"), [c, 192], 1, 1, 0, d)?,
                sq(f, &format!("{p}.branch3x3_2"), [192, 320], 3, 2, 0, d)?,
            ],
            b7: [
                sq(f, &format!("{p}.branch7x7x3_1"), [c, 192], 1, 1, 0, d)?,
                Basic::load(
                    f,
                    &format!("{p}.branch7x7x3_2"),
                    192,
                    192,
                    [1, 7],
                    1,
                    [0, 3],
                    d,
                )?,
                Basic::load(
                    f,
                    &format!("{p}.branch7x7x3_3"),
                    192,
                    192,
                    [7, 1],
                    1,
                    [3, 0],
                    d,
                )?,
                sq(f, &format!("{p}.branch7x7x3_4"), [192, 192], 3, 2, 0, d)?,
            ],
        })
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let a = self.b3.iter().fold(x.clone(), |t, l| l.forward(t));
        let b = self.b7.iter().fold(x.clone(), |t, l| l.forward(t));
        let c = max3(2, 0).forward(x);
        Tensor::cat(vec![a, b, c], 1)
    }
}

/// `FIDInceptionE_1` (Mixed_7b, average pool) and `FIDInceptionE_2` (Mixed_7c, max pool).
#[derive(Debug)]
struct BlockE<B: Backend> {
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
    fn load(f: &Fetch<'_>, p: &str, c: usize, max_pool: bool, d: &B::Device) -> Result<Self> {
        let n = |name: &str| format!("{p}.{name}");
        Ok(Self {
            b1: sq(f, &n("branch1x1"), [c, 320], 1, 1, 0, d)?,
            b3: sq(f, &n("branch3x3_1"), [c, 384], 1, 1, 0, d)?,
            b3a: Basic::load(f, &n("branch3x3_2a"), 384, 384, [1, 3], 1, [0, 1], d)?,
            b3b: Basic::load(f, &n("branch3x3_2b"), 384, 384, [3, 1], 1, [1, 0], d)?,
            dbl1: sq(f, &n("branch3x3dbl_1"), [c, 448], 1, 1, 0, d)?,
            dbl2: sq(f, &n("branch3x3dbl_2"), [448, 384], 3, 1, 1, d)?,
            dbla: Basic::load(f, &n("branch3x3dbl_3a"), 384, 384, [1, 3], 1, [0, 1], d)?,
            dblb: Basic::load(f, &n("branch3x3dbl_3b"), 384, 384, [3, 1], 1, [1, 0], d)?,
            pool: sq(f, &n("branch_pool"), [c, 192], 1, 1, 0, d)?,
            max_pool,
        })
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
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

/// The FID Inception-v3 feature extractor (pool3).
#[derive(Debug)]
pub struct InceptionV3<B: Backend> {
    stem: Vec<Basic<B>>,
    mixed_5: [BlockA<B>; 3],
    mixed_6a: BlockB<B>,
    mixed_6: [BlockC<B>; 4],
    mixed_7a: BlockD<B>,
    mixed_7b: BlockE<B>,
    mixed_7c: BlockE<B>,
}

impl<B: Backend> InceptionV3<B> {
    /// Loads the converted pytorch-fid weights from a safetensors file.
    pub fn load(path: &Path, device: &B::Device) -> Result<Self> {
        let file = SafetensorsFile::open(path)?;
        Self::build(&|name, shape| Ok(file.f32_values(name, shape)?), device)
    }

    /// The architecture filled with hash-generated values (see
    /// `scripts/reference/eval_inception_reference.py`), for parity tests without the real
    /// weights: per tensor, seed = FNV-1a of its prefix; conv weights uniform in ±√(6/fan_in),
    /// BN γ in 1 ± 0.1, β and running mean in ±0.05, running variance in [1, 1.5).
    pub fn hashed(device: &B::Device) -> Result<Self> {
        Self::hashed_with(&|_, _, _| {}, device)
    }

    /// [`hashed`](Self::hashed), reporting each tensor (key, shape, values) to `seen`.
    fn hashed_with(seen: &Seen<'_>, device: &B::Device) -> Result<Self> {
        Self::build(
            &|name, shape| {
                let (prefix, field) = name.rsplit_once('.').unwrap_or((name, ""));
                let seed = u64::from(fnv1a32(prefix));
                let n: usize = shape.iter().product();
                let values: Vec<f64> = match (field, shape.len()) {
                    ("weight", 4) => {
                        let bound = (6.0 / shape[1..].iter().product::<usize>() as f64).sqrt();
                        hash_unit(n, seed, 0)
                            .into_iter()
                            .map(|u| (u - 0.5) * 2.0 * bound)
                            .collect()
                    }
                    ("weight", _) => hash_unit(n, seed, 2)
                        .into_iter()
                        .map(|u| 1.0 + (u - 0.5) * 0.2)
                        .collect(),
                    ("bias", _) => hash_unit(n, seed, 3)
                        .into_iter()
                        .map(|u| (u - 0.5) * 0.1)
                        .collect(),
                    ("running_mean", _) => hash_unit(n, seed, 4)
                        .into_iter()
                        .map(|u| (u - 0.5) * 0.1)
                        .collect(),
                    _ => hash_unit(n, seed, 5)
                        .into_iter()
                        .map(|u| 1.0 + u * 0.5)
                        .collect(),
                };
                let values: Vec<f32> = values.into_iter().map(|v| v as f32).collect();
                seen(name, shape, values.clone());
                Ok(values)
            },
            device,
        )
    }

    /// The values of [`hashed`](Self::hashed) as a weights file in the real key layout (what
    /// [`load`](Self::load) reads), for tests of the loader and of the binary.
    pub fn hashed_weights_file(device: &B::Device) -> Result<Vec<u8>> {
        let values = std::cell::RefCell::new(Vec::new());
        Self::hashed_with(
            &|name, shape, v| {
                values
                    .borrow_mut()
                    .push((name.to_owned(), shape.to_vec(), v));
            },
            device,
        )?;
        let tensors = values
            .into_inner()
            .into_iter()
            .map(|(name, shape, v)| (name, TensorData::new(v, shape)))
            .collect();
        Ok(safetensors_bytes(&tensors, &Default::default())?)
    }

    fn build(f: &Fetch<'_>, d: &B::Device) -> Result<Self> {
        Ok(Self {
            stem: vec![
                sq(f, "Conv2d_1a_3x3", [3, 32], 3, 2, 0, d)?,
                sq(f, "Conv2d_2a_3x3", [32, 32], 3, 1, 0, d)?,
                sq(f, "Conv2d_2b_3x3", [32, 64], 3, 1, 1, d)?,
                sq(f, "Conv2d_3b_1x1", [64, 80], 1, 1, 0, d)?,
                sq(f, "Conv2d_4a_3x3", [80, 192], 3, 1, 0, d)?,
            ],
            mixed_5: [
                BlockA::load(f, "Mixed_5b", 192, 32, d)?,
                BlockA::load(f, "Mixed_5c", 256, 64, d)?,
                BlockA::load(f, "Mixed_5d", 288, 64, d)?,
            ],
            mixed_6a: BlockB::load(f, "Mixed_6a", 288, d)?,
            mixed_6: [
                BlockC::load(f, "Mixed_6b", 128, d)?,
                BlockC::load(f, "Mixed_6c", 160, d)?,
                BlockC::load(f, "Mixed_6d", 160, d)?,
                BlockC::load(f, "Mixed_6e", 192, d)?,
            ],
            mixed_7a: BlockD::load(f, "Mixed_7a", d)?,
            mixed_7b: BlockE::load(f, "Mixed_7b", 1280, false, d)?,
            mixed_7c: BlockE::load(f, "Mixed_7c", 2048, true, d)?,
        })
    }

    /// pool3 features of `[N, 3, 299, 299]` images in [-1, 1] → `[N, 2048]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let mut x = self.stem[0].forward(x);
        x = self.stem[1].forward(x);
        x = self.stem[2].forward(x);
        x = max3(2, 0).forward(x);
        x = self.stem[3].forward(x);
        x = self.stem[4].forward(x);
        x = max3(2, 0).forward(x);
        for block in &self.mixed_5 {
            x = block.forward(x);
        }
        x = self.mixed_6a.forward(x);
        for block in &self.mixed_6 {
            x = block.forward(x);
        }
        x = self.mixed_7a.forward(x);
        x = self.mixed_7b.forward(x);
        x = self.mixed_7c.forward(x);
        let [n, c, _, _] = x.dims();
        x.mean_dim(3).mean_dim(2).reshape([n, c])
    }

    /// pool3 features of one RGB image (0–255): `/255`, [`resize_bilinear`] to 299, `2x − 1`.
    pub fn features(&self, image: &Image255, device: &B::Device) -> Result<Vec<f32>> {
        let input = resize_bilinear(image, INCEPTION_SIZE, INCEPTION_SIZE)?;
        let x = Tensor::<B, 4>::from_data(
            TensorData::new(input, [1, 3, INCEPTION_SIZE, INCEPTION_SIZE]),
            device,
        );
        self.forward(x)
            .into_data()
            .convert::<f32>()
            .to_vec()
            .map_err(|e| EvalError::Undefined {
                metric: "FID",
                reason: format!("{e:?}"),
            })
    }
}

/// 32-bit FNV-1a of a string (the per-tensor seed of [`InceptionV3::hashed`]).
pub fn fnv1a32(text: &str) -> u32 {
    text.bytes().fold(0x811C_9DC5, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// An RGB image (0–255) as planar `[3, out_h, out_w]` values `2·x/255 − 1` after PyTorch's
/// `F.interpolate(mode='bilinear', align_corners=False)` (no antialiasing) of `x/255`.
pub fn resize_bilinear(image: &Image255, out_w: usize, out_h: usize) -> Result<Vec<f32>> {
    if image.channels() != 3 || image.width() == 0 || image.height() == 0 {
        return Err(EvalError::BadBuffer {
            len: image.data().len(),
            width: image.width(),
            height: image.height(),
            channels: 3,
        });
    }
    let (w, h) = (image.width(), image.height());
    let axis = |inp: usize, out: usize| -> Vec<(usize, usize, f32)> {
        let scale = inp as f32 / out as f32;
        (0..out)
            .map(|o| {
                let src = (scale * (o as f32 + 0.5) - 0.5).max(0.0);
                let i0 = (src.floor() as usize).min(inp - 1);
                let i1 = (i0 + 1).min(inp - 1);
                (i0, i1, src - i0 as f32)
            })
            .collect()
    };
    let (ys, xs) = (axis(h, out_h), axis(w, out_w));
    let data = image.data();
    let px = |y: usize, x: usize, c: usize| data[(y * w + x) * 3 + c] as f32 / 255.0;
    let mut out = vec![0.0_f32; 3 * out_h * out_w];
    for c in 0..3 {
        for (oy, &(y0, y1, ly)) in ys.iter().enumerate() {
            for (ox, &(x0, x1, lx)) in xs.iter().enumerate() {
                let top = (1.0 - lx) * px(y0, x0, c) + lx * px(y0, x1, c);
                let bottom = (1.0 - lx) * px(y1, x0, c) + lx * px(y1, x1, c);
                let v = (1.0 - ly) * top + ly * bottom;
                out[(c * out_h + oy) * out_w + ox] = 2.0 * v - 1.0;
            }
        }
    }
    Ok(out)
}
