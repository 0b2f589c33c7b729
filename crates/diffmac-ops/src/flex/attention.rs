//! Multi-head attention read straight from the token layout `[B, N, heads·d]`, blocked over
//! query rows in the manner of flash attention: each task takes a block of query rows of one
//! batch item and, head by head, computes the block's scores `q·kᵀ` on gemm into one buffer
//! the task reuses, a vectorised softmax, and `p·v`, which gemm writes straight into the
//! head's columns of the task's own rows of the output. A block's scores stay small
//! enough for the cache and the allocator (a 64×64 latent's full score matrix would be 64 MB a
//! head, freshly mapped and faulted in each time), and blocks spread over every core.

use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::gemm::{Matrix, gemm};
use super::math::{self, simd};
use super::view::{contiguous, tensor, values};

/// Query rows per task (a 4096-key score block is then 1 MB). Fixed rather than derived from
/// the core count: gemm's blocking follows the product's shape, so a block size that varied
/// with the threads would let the thread count change the results' rounding.
const BLOCK_ROWS: usize = 64;

/// See [`crate::attention`]: `q` `[B, N, heads·d]`, `k`, `v` `[B, M, heads·d]`.
pub(super) fn attention(
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
    heads: usize,
) -> Option<FlexTensor> {
    let &[b, n, width] = q.layout().shape().as_ref() else {
        return None;
    };
    let &[kb, m, k_width] = k.layout().shape().as_ref() else {
        return None;
    };
    if heads == 0
        || width % heads != 0
        || (kb, k_width) != (b, width)
        || v.layout().shape().as_ref() != [b, m, width]
        || n == 0
        || m == 0
    {
        return None;
    }
    let d = width / heads;
    let (q, k, v) = (contiguous(q), contiguous(k), contiguous(v));
    let (qs, ks, vs) = (values(&q), values(&k), values(&v));
    let scale = 1.0 / (d as f32).sqrt();

    let mut out = vec![0.0f32; b * n * width];
    out.par_chunks_mut(n * width)
        .enumerate()
        .flat_map(|(item, rows)| {
            rows.par_chunks_mut(BLOCK_ROWS * width)
                .enumerate()
                .map(move |(block, out)| (item, block * BLOCK_ROWS, out))
        })
        .for_each(|(item, first_row, out)| {
            let count = out.len() / width;
            let mut scores = vec![0.0f32; count * m];
            let score_matrix = Matrix::rows(count, m, 0, m);
            for h in 0..heads {
                let at = |token: usize| token * width + h * d;
                let q_rows = Matrix::rows(count, d, at(item * n + first_row), width);
                let k_t = Matrix::rows(m, d, at(item * m), width).t();
                let v_head = Matrix::rows(m, d, at(item * m), width);
                gemm(&mut scores, score_matrix, qs, q_rows, ks, k_t, false, false);
                softmax_rows(&mut scores, m, scale);
                let dst = Matrix::rows(count, d, h * d, width);
                gemm(out, dst, &scores, score_matrix, vs, v_head, false, false);
            }
        });
    Some(tensor(out, &[b, n, width]))
}

/// Each row of `scores` (rows of `width`) replaced by `softmax(row · scale)`.
fn softmax_rows(scores: &mut [f32], width: usize, scale: f32) {
    simd(
        #[inline(always)]
        || {
            for row in scores.chunks_mut(width) {
                let shift = math::max(row);
                for s in row.iter_mut() {
                    *s = math::exp((*s - shift) * scale);
                }
                let inverse = (1.0 / math::sum(row)) as f32;
                for s in row.iter_mut() {
                    *s *= inverse;
                }
            }
        },
    )
}
