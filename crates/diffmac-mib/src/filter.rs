//! The information filter `λ = Sigmoid(Conv(F_R))` (Algorithm 1 line 20).

use burn::module::Module;
use burn::tensor::activation::sigmoid;
use burn::tensor::backend::Backend;
use burn::tensor::{Device, Tensor};
use diffmac_ldm::nn::Conv2d;

use crate::init;

/// A convolution on the normalised manifold whose sigmoid is the per-element share `λ` of
/// `R` that passes the bottleneck (8 channels, like `R`).
#[derive(Module, Debug)]
pub struct InformationFilter<B: Backend> {
    /// `C → C`, `k × k`, "same" padding.
    pub conv: Conv2d<B>,
}

impl<B: Backend> InformationFilter<B> {
    /// A fresh filter with a `kernel × kernel` convolution (PyTorch's default initialisation).
    ///
    /// # Panics
    /// If `kernel` is even (no "same" padding exists).
    pub fn init(channels: usize, kernel: usize, device: &Device<B>) -> Self {
        assert!(
            kernel % 2 == 1,
            "the filter kernel must be odd, got {kernel}"
        );
        Self {
            conv: init::conv(channels, channels, kernel, device),
        }
    }

    /// The logits `a = Conv(F_R)`: `[N, C, h, w]` → `[N, C, h, w]` (`λ = sigmoid(a)`).
    pub fn logits(&self, f_r: Tensor<B, 4>) -> Tensor<B, 4> {
        self.conv.forward(f_r)
    }

    /// `λ = Sigmoid(Conv(F_R))`: `[N, C, h, w]` → `[N, C, h, w]` in (0, 1).
    pub fn forward(&self, f_r: Tensor<B, 4>) -> Tensor<B, 4> {
        sigmoid(self.logits(f_r))
    }
}
