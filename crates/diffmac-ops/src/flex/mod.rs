//! The CPU implementation for Burn's pure-Rust backend (`burn::backend::Flex`): kernels written
//! over the tensors' storage, parallel over every core with rayon, vectorised through `pulp`
//! (compiled for AVX-512, AVX2 and plain x86-64, chosen at run time), with matrix products on
//! the `gemm` crate flex itself uses (its AVX-512 kernels turned on), called so that it reads
//! operands where they lie and writes or accumulates straight into the output.
//!
//! Each function returns `None` when its inputs are not f32 tensors of this backend (another
//! backend, `Autodiff`, half precision); the caller then runs [`crate::generic`].

mod attention;
mod conv;
mod elementwise;
mod gemm;
mod math;
mod norm;
mod view;

use std::any::{Any, TypeId};

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorPrimitive};
use burn_flex::FlexTensor;

use crate::Activation;

/// Whether `B`'s float tensors are flex tensors.
fn is_flex<B: Backend>() -> bool {
    TypeId::of::<B::FloatTensorPrimitive>() == TypeId::of::<FlexTensor>()
}

/// The f32 flex tensor that `t` is, taken by value (so that its memory can be reused when
/// nothing else holds it); `t` itself back for any other backend or dtype.
fn take_flex<B: Backend, const D: usize>(t: Tensor<B, D>) -> Result<FlexTensor, Tensor<B, D>> {
    if !is_flex::<B>() || t.dtype() != DType::F32 {
        return Err(t);
    }
    match t.into_primitive() {
        TensorPrimitive::Float(p) => Ok(*(Box::new(p) as Box<dyn Any>)
            .downcast::<FlexTensor>()
            .expect("the primitive type was checked to be FlexTensor")),
        quantized => Err(Tensor::from_primitive(quantized)),
    }
}

/// The f32 flex tensor under `t`, sharing its memory; `None` for any other backend or dtype.
fn flex_of<B: Backend, const D: usize>(t: &Tensor<B, D>) -> Option<FlexTensor> {
    take_flex(t.clone()).ok()
}

/// `t` as a tensor of `B`, whose float primitive [`take_flex`] found to be a flex tensor.
fn tensor_of<B: Backend, const D: usize>(t: FlexTensor) -> Tensor<B, D> {
    let primitive = *(Box::new(t) as Box<dyn Any>)
        .downcast::<B::FloatTensorPrimitive>()
        .expect("only called after the primitive type was checked to be FlexTensor");
    Tensor::from_primitive(TensorPrimitive::Float(primitive))
}

/// See [`crate::conv2d`].
pub fn conv2d<B: Backend>(
    x: &Tensor<B, 4>,
    weight: &Tensor<B, 4>,
    bias: Option<&Tensor<B, 1>>,
    stride: usize,
    padding: usize,
) -> Option<Tensor<B, 4>> {
    let bias = match bias {
        Some(b) => Some(flex_of(b)?),
        None => None,
    };
    let out = conv::conv2d(
        flex_of(x)?,
        &flex_of(weight)?,
        bias.as_ref(),
        stride,
        padding,
    )?;
    Some(tensor_of(out))
}

/// See [`crate::group_norm`]; hands `x` back when this backend cannot take it. `x` is taken
/// by value, so that its memory is reused when nothing else holds it.
pub fn group_norm<B: Backend>(
    x: Tensor<B, 4>,
    weight: &Tensor<B, 1>,
    bias: &Tensor<B, 1>,
    groups: usize,
    eps: f64,
    activation: Activation,
) -> Result<Tensor<B, 4>, Tensor<B, 4>> {
    let channels = x.dims()[1];
    let fits = |t: &FlexTensor| t.layout().shape().as_ref() == [channels];
    let (Some(weight), Some(bias)) = (flex_of(weight), flex_of(bias)) else {
        return Err(x);
    };
    if groups == 0 || !channels.is_multiple_of(groups) || !fits(&weight) || !fits(&bias) {
        return Err(x);
    }
    let x = take_flex(x)?;
    let out = norm::group_norm(x, &weight, &bias, groups, eps, activation);
    Ok(tensor_of(out))
}

/// See [`crate::layer_norm`].
pub fn layer_norm<B: Backend, const R: usize>(
    x: &Tensor<B, R>,
    weight: &Tensor<B, 1>,
    bias: &Tensor<B, 1>,
    eps: f64,
) -> Option<Tensor<B, R>> {
    let out = norm::layer_norm(flex_of(x)?, &flex_of(weight)?, &flex_of(bias)?, eps)?;
    Some(tensor_of(out))
}

/// See [`crate::attention`].
pub fn attention<B: Backend>(
    q: &Tensor<B, 3>,
    k: &Tensor<B, 3>,
    v: &Tensor<B, 3>,
    heads: usize,
) -> Option<Tensor<B, 3>> {
    let out = attention::attention(flex_of(q)?, flex_of(k)?, flex_of(v)?, heads)?;
    Some(tensor_of(out))
}

/// See [`crate::geglu`].
pub fn geglu<B: Backend, const R: usize>(x: &Tensor<B, R>) -> Option<Tensor<B, R>> {
    Some(tensor_of(elementwise::geglu(flex_of(x)?)?))
}

/// See [`crate::linear`].
pub fn linear<B: Backend, const R: usize>(
    x: &Tensor<B, R>,
    weight: &Tensor<B, 2>,
    bias: Option<&Tensor<B, 1>>,
) -> Option<Tensor<B, R>> {
    let bias = match bias {
        Some(b) => Some(flex_of(b)?),
        None => None,
    };
    let out = elementwise::linear(flex_of(x)?, &flex_of(weight)?, bias.as_ref())?;
    Some(tensor_of(out))
}

/// See [`crate::to_tokens`].
pub fn to_tokens<B: Backend>(x: &Tensor<B, 4>) -> Option<Tensor<B, 3>> {
    let [b, c, h, w] = x.dims();
    let out = elementwise::transpose_planes(flex_of(x)?, b, c, h * w);
    Some(tensor_of::<B, 3>(out).reshape([b, h * w, c]))
}

/// See [`crate::to_map`].
pub fn to_map<B: Backend>(x: &Tensor<B, 3>, h: usize, w: usize) -> Option<Tensor<B, 4>> {
    let [b, tokens, c] = x.dims();
    if tokens != h * w {
        return None;
    }
    let out = elementwise::transpose_planes(flex_of(x)?, b, tokens, c);
    Some(tensor_of::<B, 3>(out).reshape([b, c, h, w]))
}

/// See [`crate::add`]; hands both tensors back when this backend cannot take them.
#[allow(clippy::type_complexity)]
pub fn add<B: Backend, const R: usize>(
    a: Tensor<B, R>,
    b: Tensor<B, R>,
) -> Result<Tensor<B, R>, (Tensor<B, R>, Tensor<B, R>)> {
    let Some(fb) = flex_of(&b).filter(|_| a.dims() == b.dims()) else {
        return Err((a, b));
    };
    match take_flex(a) {
        Ok(fa) => Ok(tensor_of(elementwise::add(fa, &fb))),
        Err(a) => Err((a, b)),
    }
}
