//! The operation layer of DiffMAC's models: the few operations that take nearly all of a UNet
//! or VAE step — convolution with bias, GroupNorm (with the SiLU that follows it), LayerNorm,
//! multi-head attention in the transformer's token layout, GEGLU and linear layers — behind one
//! interface.
//!
//! Each function takes and returns ordinary Burn tensors and works on every `Backend`. It picks
//! its implementation at run time from the tensor's primitive type:
//!
//! - on Burn's pure-Rust CPU backend (`burn::backend::Flex`, feature `flex`, on by default),
//!   f32 tensors go to [`flex`]'s kernels: parallel over every core, vectorised for the
//!   processor found at run time (AVX-512, AVX2), reading the tensors' storage directly;
//! - everything else — other backends, `Autodiff` (training), half precision — runs
//!   [`generic`], the same operation written with Burn's tensor ops. It is also the reference
//!   the fast kernels are tested against.
//!
//! Model code calls these functions and stays generic over `B: Backend`; a program on another
//! backend changes nothing. A GPU implementation plugs in as one more branch of the same
//! dispatch (see the crate README and `docs/architecture.md`).
//!
//! ```
//! use burn::backend::Flex;
//! use burn::tensor::Tensor;
//!
//! let device = Default::default();
//! let x = Tensor::<Flex, 4>::ones([1, 4, 8, 8], &device);
//! let weight = Tensor::<Flex, 4>::ones([2, 4, 3, 3], &device);
//! let y = diffmac_ops::conv2d(x, &weight, None, 1, 1);
//! assert_eq!(y.dims(), [1, 2, 8, 8]);
//! ```

pub mod generic;

#[cfg(feature = "flex")]
pub mod flex;

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// What follows a normalisation in the same pass over memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    /// Nothing: the normalised, scaled and shifted values.
    #[default]
    Identity,
    /// `x · σ(x)` (the ResNet blocks' GroupNorm → SiLU).
    Silu,
}

/// 2-D convolution of `x` `[N, C_in, H, W]` with `weight` `[C_out, C_in, k, k]` (PyTorch's
/// layout), optional `bias` `[C_out]`, the same `stride` and zero `padding` on both axes →
/// `[N, C_out, H', W']`.
pub fn conv2d<B: Backend>(
    x: Tensor<B, 4>,
    weight: &Tensor<B, 4>,
    bias: Option<&Tensor<B, 1>>,
    stride: usize,
    padding: usize,
) -> Tensor<B, 4> {
    #[cfg(feature = "flex")]
    if let Some(out) = flex::conv2d(&x, weight, bias, stride, padding) {
        return out;
    }
    generic::conv2d(x, weight, bias, stride, padding)
}

/// Group normalisation of `x` `[N, C, H, W]` in `groups` groups with per-channel `weight` and
/// `bias` `[C]`, then `activation`. Statistics are computed in f32 (or wider) whatever the
/// input's precision, as PyTorch's half-precision kernels do.
pub fn group_norm<B: Backend>(
    x: Tensor<B, 4>,
    weight: &Tensor<B, 1>,
    bias: &Tensor<B, 1>,
    groups: usize,
    eps: f64,
    activation: Activation,
) -> Tensor<B, 4> {
    #[cfg(feature = "flex")]
    let x = match flex::group_norm(x, weight, bias, groups, eps, activation) {
        Ok(out) => return out,
        Err(x) => x,
    };
    generic::group_norm(x, weight, bias, groups, eps, activation)
}

/// Layer normalisation of `x` `[..., D]` over its last axis with `weight` and `bias` `[D]`
/// (statistics in f32 or wider, as for [`group_norm`]).
pub fn layer_norm<B: Backend, const R: usize>(
    x: Tensor<B, R>,
    weight: &Tensor<B, 1>,
    bias: &Tensor<B, 1>,
    eps: f64,
) -> Tensor<B, R> {
    #[cfg(feature = "flex")]
    if let Some(out) = flex::layer_norm(&x, weight, bias, eps) {
        return out;
    }
    generic::layer_norm(x, weight, bias, eps)
}

/// Multi-head scaled dot-product attention in the token layout of a transformer block: `q`
/// `[B, N, heads·d]`, `k` and `v` `[B, M, heads·d]` → `[B, N, heads·d]`, each head
/// `softmax(q·kᵀ/√d)·v`. With `upcast` the scores and softmax run in f32 whatever the working
/// precision (diffusers' `upcast_attention`); f32 inputs always do.
pub fn attention<B: Backend>(
    q: Tensor<B, 3>,
    k: Tensor<B, 3>,
    v: Tensor<B, 3>,
    heads: usize,
    upcast: bool,
) -> Tensor<B, 3> {
    #[cfg(feature = "flex")]
    if let Some(out) = flex::attention(&q, &k, &v, heads) {
        return out;
    }
    generic::attention(q, k, v, heads, upcast)
}

/// GEGLU's gate: `x` `[..., 2·I]` split into halves `h, g` along the last axis →
/// `h · GELU(g)` `[..., I]`, with the exact (erf) GELU.
pub fn geglu<B: Backend, const R: usize>(x: Tensor<B, R>) -> Tensor<B, R> {
    #[cfg(feature = "flex")]
    if let Some(out) = flex::geglu(&x) {
        return out;
    }
    generic::geglu(x)
}

/// Fully connected layer: `x` `[..., in]` times `weight` `[in, out]` (Burn's layout, the
/// transpose of PyTorch's) plus `bias` `[out]` → `[..., out]`.
pub fn linear<B: Backend, const R: usize>(
    x: Tensor<B, R>,
    weight: &Tensor<B, 2>,
    bias: Option<&Tensor<B, 1>>,
) -> Tensor<B, R> {
    #[cfg(feature = "flex")]
    if let Some(out) = flex::linear(&x, weight, bias) {
        return out;
    }
    generic::linear(x, weight, bias)
}

/// A feature map `[B, C, H, W]` as the transformer's tokens `[B, H·W, C]` (channels last), in
/// row-major memory.
pub fn to_tokens<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 3> {
    #[cfg(feature = "flex")]
    if let Some(out) = flex::to_tokens(&x) {
        return out;
    }
    generic::to_tokens(x)
}

/// Tokens `[B, H·W, C]` back to a feature map `[B, C, H, W]` of height `h` and width `w`, in
/// row-major memory.
pub fn to_map<B: Backend>(x: Tensor<B, 3>, h: usize, w: usize) -> Tensor<B, 4> {
    #[cfg(feature = "flex")]
    if let Some(out) = flex::to_map(&x, h, w) {
        return out;
    }
    generic::to_map(x, h, w)
}

/// Element-wise sum of two tensors of the same shape (the residual connections), reusing
/// `a`'s memory where nothing else holds it.
pub fn add<B: Backend, const R: usize>(a: Tensor<B, R>, b: Tensor<B, R>) -> Tensor<B, R> {
    #[cfg(feature = "flex")]
    let (a, b) = match flex::add(a, b) {
        Ok(out) => return out,
        Err(pair) => pair,
    };
    a + b
}
