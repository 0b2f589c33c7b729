//! GEGLU, linear layers and residual sums: passes over memory split into blocks over every core.

use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::gemm::{Matrix, gemm};
use super::math::{self, simd};
use super::view::{contiguous, tensor, values};

/// Elements per task of a plain element-wise pass: big enough to amortise scheduling, small
/// enough to spread a UNet activation (≥ 300 k elements) over the cores.
const BLOCK: usize = 1 << 15;

/// See [`crate::geglu`]: `x` `[..., 2·I]` → `[..., I]`.
pub(super) fn geglu(x: FlexTensor) -> Option<FlexTensor> {
    let mut shape = x.layout().shape().to_vec();
    let width = *shape.last()?;
    if width % 2 != 0 || width == 0 {
        return None;
    }
    let half = width / 2;
    let x = contiguous(x);
    let xs = values(&x);
    let mut out = vec![0.0f32; xs.len() / 2];
    let rows_per_task = (BLOCK / half).max(1);
    out.par_chunks_mut(rows_per_task * half)
        .zip(xs.par_chunks(rows_per_task * width))
        .for_each(|(out, x)| {
            simd(
                #[inline(always)]
                || {
                    for (out, row) in out.chunks_mut(half).zip(x.chunks(width)) {
                        let (hidden, gate) = row.split_at(half);
                        for ((o, &h), &g) in out.iter_mut().zip(hidden).zip(gate) {
                            *o = h * math::gelu(g);
                        }
                    }
                },
            )
        });
    *shape.last_mut()? = half;
    Some(tensor(out, &shape))
}

/// See [`crate::linear`]: `x` `[..., in]`, `weight` `[in, out]`, `bias` `[out]`. gemm reads both
/// operands where they lie (a transposed weight or a channels-last view needs no copy) and
/// accumulates onto output rows pre-filled with the bias.
pub(super) fn linear(
    x: FlexTensor,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
) -> Option<FlexTensor> {
    let mut shape = x.layout().shape().to_vec();
    let &[k, n] = weight.layout().shape().as_ref() else {
        return None;
    };
    if shape.last() != Some(&k) || bias.is_some_and(|b| b.layout().shape()[0] != n) {
        return None;
    }
    let rows = shape.iter().product::<usize>() / k.max(1);
    // Inputs gemm cannot read in place are copied to row-major order first.
    let (x, xm) = match matrix_of(&x) {
        Some(m) => (x, m),
        None => (contiguous(x), Matrix::rows(rows, k, 0, k)),
    };
    let (weight, wm) = match matrix_of(weight) {
        Some(m) => (weight.clone(), m),
        None => (contiguous(weight.clone()), Matrix::rows(k, n, 0, n)),
    };
    let mut out = vec![0.0f32; rows * n];
    if let Some(bias) = bias {
        let bias = contiguous(bias.clone());
        let bs = values(&bias);
        out.par_chunks_mut(n.max(1))
            .for_each(|row| row.copy_from_slice(bs));
    }
    // One product per batch item (per row for a 2-D input), each of the same shape whatever
    // the batch size: gemm's blocking depends on the shape, so this keeps a face's result
    // independent of how many faces share its batch.
    let per_item = if shape.len() >= 3 {
        shape[shape.len() - 2]
    } else {
        1
    };
    for first in (0..rows).step_by(per_item.max(1)) {
        let xi = Matrix {
            rows: per_item,
            offset: xm.offset + first * xm.row_stride,
            ..xm
        };
        let di = Matrix::rows(per_item, n, first * n, n);
        gemm(
            &mut out,
            di,
            x.storage(),
            xi,
            weight.storage(),
            wm,
            bias.is_some(),
            true,
        );
    }
    *shape.last_mut()? = n;
    Some(tensor(out, &shape))
}

/// The last two axes of `t` as a matrix over its whole storage, when every other axis has size
/// 1, its strides are not negative and its rows do not overlap; `None` otherwise.
fn matrix_of(t: &FlexTensor) -> Option<Matrix> {
    let (shape, strides) = (t.layout().shape(), t.layout().strides());
    let r = shape.len();
    if r < 2 || shape[..r - 2].iter().any(|&s| s != 1) {
        return None;
    }
    let stride = |i: usize| usize::try_from(strides[i]).ok();
    let m = Matrix {
        rows: shape[r - 2],
        cols: shape[r - 1],
        offset: t.layout().start_offset(),
        row_stride: stride(r - 2)?,
        col_stride: stride(r - 1)?,
    };
    // A row-major or column-major layout (what views of our tensors are); anything stranger,
    // such as a broadcast row, is copied first.
    let row_major = m.col_stride == 1 && m.row_stride >= m.cols;
    let col_major = m.row_stride == 1 && m.col_stride >= m.rows;
    (row_major || col_major).then_some(m)
}

/// Each of the `batch` `[rows, columns]` matrices of `x` transposed → `[batch, columns, rows]`
/// row-major: tiles of 64 output rows spread over the cores, each reading 64-element runs.
pub(super) fn transpose_planes(
    x: FlexTensor,
    batch: usize,
    rows: usize,
    columns: usize,
) -> FlexTensor {
    const TILE: usize = 64;
    let x = contiguous(x);
    let xs = values(&x);
    let plane = rows * columns;
    let mut out = vec![0.0f32; batch * plane];
    out.par_chunks_mut(plane.max(1))
        .zip(xs.par_chunks(plane.max(1)))
        .flat_map(|(out, x)| {
            out.par_chunks_mut(TILE * rows.max(1))
                .enumerate()
                .map(move |(tile, out)| (tile * TILE, out, x))
        })
        .for_each(|(first_column, out, x)| {
            for (r, source) in x.chunks(columns).enumerate() {
                let source = &source[first_column..];
                for (j, &value) in source.iter().take(out.len() / rows).enumerate() {
                    out[j * rows + r] = value;
                }
            }
        });
    tensor(out, &[batch, columns, rows])
}

/// See [`crate::add`]: `a + b`, written into `a`'s memory when nothing else holds it.
pub(super) fn add(a: FlexTensor, b: &FlexTensor) -> FlexTensor {
    let shape = a.layout().shape().to_vec();
    let b = contiguous(b.clone());
    let bs = values(&b);
    let sum_into = |out: &mut [f32], a: Option<&[f32]>| {
        let pairs = out.par_chunks_mut(BLOCK).zip(bs.par_chunks(BLOCK));
        match a {
            None => pairs.for_each(|(o, b)| {
                simd(
                    #[inline(always)]
                    || {
                        for (o, &b) in o.iter_mut().zip(b) {
                            *o += b;
                        }
                    },
                )
            }),
            Some(a) => pairs.zip(a.par_chunks(BLOCK)).for_each(|((o, b), a)| {
                simd(
                    #[inline(always)]
                    || {
                        for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
                            *o = a + b;
                        }
                    },
                )
            }),
        }
    };
    let mut a = contiguous(a);
    if let Some(out) = a.try_storage_mut::<f32>() {
        sum_into(out, None);
        return a;
    }
    let mut out = vec![0.0f32; bs.len()];
    sum_into(&mut out, Some(values(&a)));
    tensor(out, &shape)
}
