//! Every operation written with Burn's tensor ops: what runs on any backend, under autodiff and
//! in half precision, and the reference the fast kernels are tested against.

use burn::tensor::activation::{gelu, silu, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::module::attention as burn_attention;
use burn::tensor::ops::{AttentionModuleOptions, ConvOptions};
use burn::tensor::{DType, FloatDType, Tensor};

use crate::Activation;

/// `x` in f32 (a no-op for f32 inputs).
fn upcast<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    if x.dtype() == DType::F32 {
        x
    } else {
        x.cast(FloatDType::F32)
    }
}

/// See [`crate::conv2d`].
pub fn conv2d<B: Backend>(
    x: Tensor<B, 4>,
    weight: &Tensor<B, 4>,
    bias: Option<&Tensor<B, 1>>,
    stride: usize,
    padding: usize,
) -> Tensor<B, 4> {
    let options = ConvOptions::new([stride; 2], [padding; 2], [1, 1], 1);
    burn::tensor::module::conv2d(x, weight.clone(), bias.cloned(), options)
}

/// See [`crate::group_norm`].
pub fn group_norm<B: Backend>(
    x: Tensor<B, 4>,
    weight: &Tensor<B, 1>,
    bias: &Tensor<B, 1>,
    groups: usize,
    eps: f64,
    activation: Activation,
) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    let dtype = x.dtype();
    let grouped = upcast(x).reshape([n, groups, (c / groups) * h * w]);
    let mean = grouped.clone().mean_dim(2);
    let centred = grouped - mean;
    let var = centred.clone().square().mean_dim(2);
    let normed = (centred / (var + eps).sqrt()).cast(dtype);
    let normed = normed.reshape([n, c, h, w]);
    let out = normed * weight.clone().reshape([1, c, 1, 1]) + bias.clone().reshape([1, c, 1, 1]);
    match activation {
        Activation::Identity => out,
        Activation::Silu => silu(out),
    }
}

/// See [`crate::layer_norm`].
pub fn layer_norm<B: Backend, const R: usize>(
    x: Tensor<B, R>,
    weight: &Tensor<B, 1>,
    bias: &Tensor<B, 1>,
    eps: f64,
) -> Tensor<B, R> {
    let dtype = x.dtype();
    let x = upcast(x);
    let mean = x.clone().mean_dim(R - 1);
    let centred = x - mean;
    let var = centred.clone().square().mean_dim(R - 1);
    let normed = (centred / (var + eps).sqrt()).cast(dtype);
    let mut shape = [1usize; R];
    shape[R - 1] = weight.dims()[0];
    normed * weight.clone().reshape(shape) + bias.clone().reshape(shape)
}

/// See [`crate::attention`].
pub fn attention<B: Backend>(
    q: Tensor<B, 3>,
    k: Tensor<B, 3>,
    v: Tensor<B, 3>,
    heads: usize,
    upcast: bool,
) -> Tensor<B, 3> {
    let (q, k, v) = (
        split_heads(q, heads),
        split_heads(k, heads),
        split_heads(v, heads),
    );
    merge_heads(sdpa(q, k, v, upcast, false))
}

/// Scaled dot-product attention over `[B, heads, N, d]` tensors; with `upcast` the scores and
/// softmax run in f32 whatever the working precision. Under autodiff (training) it is
/// [`differentiable_attention`]; otherwise the backend's attention op, which fused backends
/// autotune. `is_causal` masks future positions (the CLIP text encoder).
pub fn sdpa<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    upcast: bool,
    is_causal: bool,
) -> Tensor<B, 4> {
    let dtype = q.dtype();
    let upcast = upcast && dtype != DType::F32;
    let (q, k, v) = if upcast {
        let f = FloatDType::F32;
        (q.cast(f), k.cast(f), v.cast(f))
    } else {
        (q, k, v)
    };
    let out = if B::ad_enabled(&q.device()) && !is_causal {
        differentiable_attention(q, k, v)
    } else {
        let options = AttentionModuleOptions {
            scale: None,
            softcap: None,
            is_causal,
        };
        burn_attention(q, k, v, None, None, options)
    };
    if upcast { out.cast(dtype) } else { out }
}

/// `softmax(q·kᵀ/√d)·v` written out, for training. Burn's attention op under autodiff
/// differentiates through the softmax's max shift (an argmax and a gather, whose bf16 CUDA
/// kernels read out of bounds in Burn 0.21 and crashed the full-size training step), although
/// the shift cancels in the gradient; `softmax` detaches it.
pub fn differentiable_attention<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
) -> Tensor<B, 4> {
    let scale = 1.0 / (q.dims()[3] as f64).sqrt();
    let scores = q.matmul(k.swap_dims(2, 3)).mul_scalar(scale);
    softmax(scores, 3).matmul(v)
}

/// `[B, N, heads·d]` → `[B, heads, N, d]`.
pub fn split_heads<B: Backend>(x: Tensor<B, 3>, heads: usize) -> Tensor<B, 4> {
    let [b, n, c] = x.dims();
    x.reshape([b, n, heads, c / heads]).swap_dims(1, 2)
}

/// `[B, heads, N, d]` → `[B, N, heads·d]`.
pub fn merge_heads<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 3> {
    let [b, h, n, d] = x.dims();
    x.swap_dims(1, 2).reshape([b, n, h * d])
}

/// See [`crate::to_tokens`].
pub fn to_tokens<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 3> {
    let [b, c, h, w] = x.dims();
    x.permute([0, 2, 3, 1]).reshape([b, h * w, c])
}

/// See [`crate::to_map`].
pub fn to_map<B: Backend>(x: Tensor<B, 3>, h: usize, w: usize) -> Tensor<B, 4> {
    let [b, _, c] = x.dims();
    x.reshape([b, h, w, c]).permute([0, 3, 1, 2])
}

/// See [`crate::geglu`].
pub fn geglu<B: Backend, const R: usize>(x: Tensor<B, R>) -> Tensor<B, R> {
    let mut halves = x.chunk(2, R - 1);
    let gate = halves.pop().expect("chunk(2) gives two halves");
    let hidden = halves.pop().expect("chunk(2) gives two halves");
    hidden * gelu(gate)
}

/// See [`crate::linear`].
pub fn linear<B: Backend, const R: usize>(
    x: Tensor<B, R>,
    weight: &Tensor<B, 2>,
    bias: Option<&Tensor<B, 1>>,
) -> Tensor<B, R> {
    burn::tensor::module::linear(x, weight.clone(), bias.cloned())
}
