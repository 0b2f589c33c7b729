//! PyTorch-default initialisation of the bottleneck's layers (uniform in ±1/√fan_in for
//! weight and bias, what `nn.Linear` / `nn.Conv2d` give); the paper does not say how they
//! start.

use burn::module::Param;
use burn::tensor::backend::Backend;
use burn::tensor::{Device, Distribution, Tensor};
use diffmac_ldm::nn::{Conv2d, Linear};

/// Fully connected `in → out`.
pub(crate) fn linear<B: Backend>(inp: usize, out: usize, device: &Device<B>) -> Linear<B> {
    let u = Distribution::Uniform(-1.0 / (inp as f64).sqrt(), 1.0 / (inp as f64).sqrt());
    Linear {
        weight: Param::from_tensor(Tensor::random([inp, out], u, device)),
        bias: Some(Param::from_tensor(Tensor::random([out], u, device))),
    }
}

/// `k × k` convolution `in → out`, stride 1, "same" padding.
pub(crate) fn conv<B: Backend>(inp: usize, out: usize, k: usize, device: &Device<B>) -> Conv2d<B> {
    let bound = 1.0 / ((inp * k * k) as f64).sqrt();
    let u = Distribution::Uniform(-bound, bound);
    Conv2d {
        weight: Param::from_tensor(Tensor::random([out, inp, k, k], u, device)),
        bias: Some(Param::from_tensor(Tensor::random([out], u, device))),
        stride: 1,
        padding: k / 2,
    }
}
