//! LPIPS (Zhang et al. 2018, "The unreasonable effectiveness of deep features as a perceptual
//! metric"), version 0.1 as PyPI `lpips` 0.1.4 computes it, on Burn and generic over the
//! backend: inputs in [-1, 1] are shifted and scaled (`ScalingLayer`), run through an ImageNet
//! backbone (AlexNet or VGG16 `features`), each of five ReLU activations is normalised to unit
//! length over channels, the squared differences are weighted per channel by the learned
//! linear heads, averaged over space, and summed over the five layers. Lower is better.
//!
//! The heads ship with the crate ([`LpipsNet::heads`], BSD-2-Clause, from lpips 0.1.4). The
//! backbone is the user's: torchvision's ImageNet checkpoint converted once to safetensors by
//! `scripts/convert_eval_weights.py --torchvision-alexnet/--torchvision-vgg16`; no pickle is
//! read here.

mod hashed;
mod net;

pub use hashed::{hash_unit, hash_values, hashed_backbone};
pub use net::{LpipsNet, Step};

use std::path::Path;

use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2dConfig;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use diffmac_io::{Conv2dSpec, SafetensorsFile};

use crate::error::Result;
use crate::image::Image255;
use crate::options::check_pair;

/// LPIPS's input normalisation: `(x - SHIFT) / SCALE` per RGB channel.
pub const SHIFT: [f32; 3] = [-0.030, -0.088, -0.188];
/// See [`SHIFT`].
pub const SCALE: [f32; 3] = [0.458, 0.448, 0.450];
/// Added to the channel norm before dividing (lpips `normalize_tensor`).
pub const NORM_EPS: f32 = 1e-10;

/// The LPIPS network, a Burn module: backbone convolutions and linear heads as parameters, so
/// it moves between devices (`to_device`), counts its parameters (`num_params`) and saves
/// through Burn's recorders. The input normalisation is a constant, not a parameter.
#[derive(Module, Debug)]
pub struct Lpips<B: Backend> {
    /// Which backbone; its [`LpipsNet::plan`] places pools and taps between the convolutions.
    net: LpipsNet,
    /// The backbone's convolutions, in plan order.
    convs: Vec<Conv2d<B>>,
    /// Per-layer head weights, `[1, C, 1, 1]` each.
    heads: Vec<Param<Tensor<B, 4>>>,
    shift: Tensor<B, 4>,
    scale: Tensor<B, 4>,
}

impl<B: Backend> Lpips<B> {
    /// Builds `net` from a backbone safetensors file in torchvision's key layout
    /// (`features.{i}.weight`, `features.{i}.bias`) and the shipped heads.
    pub fn load(net: LpipsNet, backbone: &Path, device: &B::Device) -> Result<Self> {
        Self::from_file(net, &SafetensorsFile::open(backbone)?, device)
    }

    /// [`load`](Self::load) from bytes in memory; `name` only labels error messages.
    pub fn from_bytes(
        net: LpipsNet,
        backbone: &[u8],
        name: &Path,
        device: &B::Device,
    ) -> Result<Self> {
        Self::from_file(
            net,
            &SafetensorsFile::from_bytes(name, backbone.to_vec())?,
            device,
        )
    }

    /// [`load`](Self::load) from a weight file read already.
    pub fn from_file(net: LpipsNet, file: &SafetensorsFile, device: &B::Device) -> Result<Self> {
        let mut convs = Vec::new();
        for step in net.plan() {
            if let Step::Conv {
                index,
                c_in,
                c_out,
                kernel,
                stride,
                padding,
            } = *step
            {
                let spec = Conv2dSpec::square([c_in, c_out], kernel)
                    .with_stride(stride)
                    .with_zero_padding(padding);
                let conv = file.conv2d(&format!("features.{index}"), &spec, device)?;
                convs.push(conv);
            }
        }
        let heads_file = SafetensorsFile::from_bytes(
            format!("<embedded lpips_{}_heads>", net.name()),
            net.heads(),
        )?;
        let heads = net
            .tap_channels()
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                heads_file
                    .f32_tensor(&format!("lin{i}.model.1.weight"), [1, c, 1, 1], device)
                    .map(Param::from_tensor)
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let column = |v: [f32; 3]| {
            Tensor::<B, 4>::from_data(TensorData::new(v.to_vec(), [1, 3, 1, 1]), device)
        };
        Ok(Self {
            net,
            convs,
            heads,
            shift: column(SHIFT),
            scale: column(SCALE),
        })
    }

    /// Which variant this is.
    pub fn net(&self) -> LpipsNet {
        self.net
    }

    /// The five tapped activations of `[N, 3, H, W]` images in [-1, 1].
    pub fn features(&self, images: Tensor<B, 4>) -> Vec<Tensor<B, 4>> {
        let mut x = (images - self.shift.clone()) / self.scale.clone();
        let mut taps = Vec::with_capacity(5);
        let mut convs = self.convs.iter();
        for step in self.net.plan() {
            match *step {
                Step::Conv { .. } => {
                    // `from_file` made one convolution per `Conv` step of this plan.
                    if let Some(conv) = convs.next() {
                        x = relu(conv.forward(x));
                    }
                }
                Step::MaxPool { kernel, stride } => {
                    x = MaxPool2dConfig::new([kernel, kernel])
                        .with_strides([stride, stride])
                        .init()
                        .forward(x);
                }
                Step::Tap => taps.push(x.clone()),
            }
        }
        taps
    }

    /// Per-layer LPIPS terms: five `[N]` tensors whose sum is the distance.
    pub fn per_layer(&self, a: Tensor<B, 4>, b: Tensor<B, 4>) -> Vec<Tensor<B, 1>> {
        let fa = self.features(a);
        let fb = self.features(b);
        fa.into_iter()
            .zip(fb)
            .zip(&self.heads)
            .map(|((x, y), head)| {
                let d = (unit(x) - unit(y)).powi_scalar(2);
                let weighted = (d * head.val()).sum_dim(1);
                let [n, _, _, _] = weighted.dims();
                weighted.mean_dim(3).mean_dim(2).reshape([n])
            })
            .collect()
    }

    /// LPIPS distance between two RGB images of the same size on the 0–255 scale.
    pub fn distance_images(&self, restored: &Image255, reference: &Image255) -> Result<f64> {
        check_pair(restored, reference)?;
        let device = self.shift.device();
        let a = image_tensor::<B>(restored, &device)?;
        let b = image_tensor::<B>(reference, &device)?;
        let d: f32 = self
            .distance(a, b)
            .into_data()
            .convert::<f32>()
            .to_vec()
            .map_err(|e| crate::EvalError::Undefined {
                metric: "LPIPS",
                reason: format!("{e:?}"),
            })?
            .first()
            .copied()
            .unwrap_or(f32::NAN);
        Ok(f64::from(d))
    }

    /// LPIPS distance of each pair: `[N, 3, H, W]` in [-1, 1] twice → `[N]`.
    pub fn distance(&self, a: Tensor<B, 4>, b: Tensor<B, 4>) -> Tensor<B, 1> {
        let mut terms = self.per_layer(a, b).into_iter();
        let first = terms.next().expect("LPIPS has five layers");
        terms.fold(first, |acc, t| acc + t)
    }
}

/// An RGB [`Image255`] as a `[1, 3, H, W]` tensor in [-1, 1] (`x / 255 · 2 - 1` in `f32`, as
/// `lpips.im2tensor` does).
pub fn image_tensor<B: Backend>(image: &Image255, device: &B::Device) -> Result<Tensor<B, 4>> {
    if image.channels() != 3 {
        return Err(crate::EvalError::BadBuffer {
            len: image.data().len(),
            width: image.width(),
            height: image.height(),
            channels: 3,
        });
    }
    let (w, h) = (image.width(), image.height());
    let mut values = vec![0.0_f32; 3 * w * h];
    for (i, px) in image.data().chunks_exact(3).enumerate() {
        for (c, v) in px.iter().enumerate() {
            values[c * w * h + i] = *v as f32 / 255.0 * 2.0 - 1.0;
        }
    }
    Ok(Tensor::from_data(
        TensorData::new(values, [1, 3, h, w]),
        device,
    ))
}

/// `x / (‖x‖₂ over channels + ε)` (lpips `normalize_tensor`).
fn unit<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt();
    x / (norm + NORM_EPS)
}
