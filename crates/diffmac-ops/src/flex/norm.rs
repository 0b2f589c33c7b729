//! GroupNorm (+ SiLU) and LayerNorm: one task per group or per block of rows, two passes for
//! the statistics (mean, then squared deviations, accumulated in f64) and one to write.

use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::math::{self, simd};
use super::view::{contiguous, tensor, values};
use crate::Activation;

/// `(mean, 1/√(var + eps))` of `values`.
#[inline(always)]
fn moments(values: &[f32], eps: f64) -> (f32, f32) {
    let n = values.len().max(1) as f64;
    let mean = (math::sum(values) / n) as f32;
    let var = math::sum_squared_deviations(values, mean) / n;
    (mean, (1.0 / (var + eps).sqrt()) as f32)
}

/// `out = (x − mean) · scale + shift`, then `activation`.
#[inline(always)]
fn affine(out: &mut [f32], x: &[f32], mean: f32, scale: f32, shift: f32, activation: Activation) {
    match activation {
        Activation::Identity => {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = (v - mean) * scale + shift;
            }
        }
        Activation::Silu => {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = math::silu((v - mean) * scale + shift);
            }
        }
    }
}

/// [`affine`] over `values` in place.
#[inline(always)]
fn affine_in_place(values: &mut [f32], mean: f32, scale: f32, shift: f32, activation: Activation) {
    match activation {
        Activation::Identity => {
            for v in values {
                *v = (*v - mean) * scale + shift;
            }
        }
        Activation::Silu => {
            for v in values {
                *v = math::silu((*v - mean) * scale + shift);
            }
        }
    }
}

/// See [`crate::group_norm`]: `x` `[N, C, H, W]`, `weight`/`bias` `[C]`, `groups` dividing `C`
/// (checked by the caller). Written into `x`'s
/// memory when nothing else holds it (a residual block's input that its shortcut no longer
/// needs), which saves a 512² VAE layer's worth of memory at the decoder's peak.
pub(super) fn group_norm(
    x: FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    groups: usize,
    eps: f64,
    activation: Activation,
) -> FlexTensor {
    let shape = x.layout().shape().to_vec();
    let &[n, c, h, w] = shape.as_slice() else {
        unreachable!("the caller checked the rank")
    };
    let (weight, bias) = (contiguous(weight.clone()), contiguous(bias.clone()));
    let (ws, bs) = (values(&weight), values(&bias));
    let plane = h * w;
    let per_group = (c / groups * plane).max(1);
    let first_channel = |group: usize| group % groups * (c / groups);
    let mut x = contiguous(x);
    if let Some(buffer) = x.try_storage_mut::<f32>() {
        buffer
            .par_chunks_mut(per_group)
            .enumerate()
            .for_each(|(index, group)| {
                simd(
                    #[inline(always)]
                    || {
                        let (mean, inv_std) = moments(group, eps);
                        for (i, values) in group.chunks_mut(plane).enumerate() {
                            let channel = first_channel(index) + i;
                            let scale = ws[channel] * inv_std;
                            affine_in_place(values, mean, scale, bs[channel], activation);
                        }
                    },
                )
            });
        return x;
    }
    let xs = values(&x);
    let mut out = vec![0.0f32; n * c * plane];
    out.par_chunks_mut(per_group)
        .zip(xs.par_chunks(per_group))
        .enumerate()
        .for_each(|(index, (out, x))| {
            simd(
                #[inline(always)]
                || {
                    let (mean, inv_std) = moments(x, eps);
                    for (i, (out, x)) in out.chunks_mut(plane).zip(x.chunks(plane)).enumerate() {
                        let channel = first_channel(index) + i;
                        let scale = ws[channel] * inv_std;
                        affine(out, x, mean, scale, bs[channel], activation);
                    }
                },
            )
        });
    tensor(out, &shape)
}

/// See [`crate::layer_norm`]: `x` `[..., D]`, `weight`/`bias` `[D]`.
pub(super) fn layer_norm(
    x: FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    eps: f64,
) -> Option<FlexTensor> {
    let shape = x.layout().shape().to_vec();
    let d = *shape.last()?;
    if d == 0 || weight.layout().shape()[0] != d {
        return None;
    }
    let (x, weight, bias) = (
        contiguous(x),
        contiguous(weight.clone()),
        contiguous(bias.clone()),
    );
    let (xs, ws, bs) = (values(&x), values(&weight), values(&bias));
    let mut out = vec![0.0f32; xs.len()];
    // Blocks of rows large enough that a task is worth scheduling.
    let rows_per_task = (16_384 / d).max(1) * d;
    out.par_chunks_mut(rows_per_task)
        .zip(xs.par_chunks(rows_per_task))
        .for_each(|(out, x)| {
            simd(
                #[inline(always)]
                || {
                    for (out, x) in out.chunks_mut(d).zip(x.chunks(d)) {
                        let (mean, inv_std) = moments(x, eps);
                        for (((o, &v), &w), &b) in out.iter_mut().zip(x).zip(ws).zip(bs) {
                            *o = (v - mean) * inv_std * w + b;
                        }
                    }
                },
            )
        });
    Some(tensor(out, &shape))
}
