//! 2-D convolution as one matrix product per tile of output rows, in the layout the tensors
//! already have: the weight `[C_out, C_in·k·k]` is PyTorch's `[C_out, C_in, k, k]` read as a
//! matrix (no copy, no re-layout per call), the input tile is unfolded into
//! `[C_in·k·k, pixels]` rows in parallel, and gemm accumulates the product `[C_out, pixels]`
//! straight into the output's NCHW rows, pre-filled with the bias. 1×1 convolutions skip the
//! unfolding.

use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::gemm::{Matrix, gemm};
use super::view::{contiguous, tensor, values};

/// Elements of one unfolded tile: large enough for gemm to run at full speed, small enough
/// that a 512² VAE layer does not unfold into gigabytes.
const TILE_ELEMENTS: usize = 6 << 20;

/// Shapes of one convolution.
#[derive(Clone, Copy)]
struct Geometry {
    channels_in: usize,
    height: usize,
    width: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    out_height: usize,
    out_width: usize,
}

/// See [`crate::conv2d`]: `x` `[N, C_in, H, W]`, `weight` `[C_out, C_in, k, k]`, `bias` `[C_out]`.
pub(super) fn conv2d(
    x: FlexTensor,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
    stride: usize,
    padding: usize,
) -> Option<FlexTensor> {
    let &[n, channels_in, height, width] = x.layout().shape().as_ref() else {
        return None;
    };
    let &[channels_out, w_in, kernel, kernel_w] = weight.layout().shape().as_ref() else {
        return None;
    };
    let padded = (height + 2 * padding, width + 2 * padding);
    if w_in != channels_in
        || kernel != kernel_w
        || kernel == 0
        || stride == 0
        || padded.0 < kernel
        || padded.1 < kernel
        || bias.is_some_and(|b| b.layout().shape()[0] != channels_out)
    {
        return None;
    }
    let g = Geometry {
        channels_in,
        height,
        width,
        kernel,
        stride,
        padding,
        out_height: (padded.0 - kernel) / stride + 1,
        out_width: (padded.1 - kernel) / stride + 1,
    };
    let pixels = g.out_height * g.out_width;
    let depth = channels_in * kernel * kernel;
    let x = contiguous(x);
    let weight = contiguous(weight.clone());
    let bias = bias.map(|b| contiguous(b.clone()));
    let (xs, ws, bias) = (values(&x), values(&weight), bias.as_ref().map(values));
    let matrix = Matrix::rows(channels_out, depth, 0, depth);
    let pointwise = kernel == 1 && stride == 1 && padding == 0;
    let rows_per_tile = if pointwise {
        g.out_height
    } else {
        (TILE_ELEMENTS / (depth * g.out_width).max(1)).clamp(1, g.out_height)
    };

    let mut out = vec![0.0f32; n * channels_out * pixels];
    for (item, out) in out.chunks_mut(channels_out * pixels.max(1)).enumerate() {
        let image = &xs[item * channels_in * height * width..][..channels_in * height * width];
        // The bias first; the products accumulate onto it.
        if let Some(bias) = bias {
            out.par_chunks_mut(pixels.max(1))
                .zip(bias)
                .for_each(|(row, &b)| row.fill(b));
        }
        for first_row in (0..g.out_height).step_by(rows_per_tile) {
            let rows = rows_per_tile.min(g.out_height - first_row);
            let tile_pixels = rows * g.out_width;
            let dst = Matrix::rows(channels_out, tile_pixels, first_row * g.out_width, pixels);
            if pointwise {
                let columns = Matrix::rows(channels_in, pixels, 0, pixels);
                gemm(out, dst, ws, matrix, image, columns, true, true);
            } else {
                let unfolded = unfold(image, &g, first_row, rows);
                let columns = Matrix::rows(depth, tile_pixels, 0, tile_pixels);
                gemm(out, dst, ws, matrix, &unfolded, columns, true, true);
            }
        }
    }
    Some(tensor(out, &[n, channels_out, g.out_height, g.out_width]))
}

/// The input patches under output rows `first_row..first_row + rows` as a `[C_in·k·k, pixels]`
/// matrix (row `(c, ky, kx)` holds input channel `c` shifted by `(ky, kx)`), zero outside
/// the image; rows filled in parallel.
fn unfold(image: &[f32], g: &Geometry, first_row: usize, rows: usize) -> Vec<f32> {
    let k = g.kernel;
    let tile_pixels = rows * g.out_width;
    let mut columns = vec![0.0f32; g.channels_in * k * k * tile_pixels];
    columns
        .par_chunks_mut(tile_pixels)
        .enumerate()
        .for_each(|(r, column)| {
            let (channel, ky, kx) = (r / (k * k), r / k % k, r % k);
            let plane = &image[channel * g.height * g.width..][..g.height * g.width];
            for (j, dst) in column.chunks_mut(g.out_width).enumerate() {
                let y = ((first_row + j) * g.stride + ky) as isize - g.padding as isize;
                if y < 0 || y >= g.height as isize {
                    continue; // already zero
                }
                let src = &plane[y as usize * g.width..][..g.width];
                let offset = kx as isize - g.padding as isize;
                if g.stride == 1 {
                    // Output columns whose input column `ox + offset` is inside the image.
                    let lo = (-offset).max(0) as usize;
                    let hi =
                        ((g.width as isize - offset).min(g.out_width as isize)).max(0) as usize;
                    if lo < hi {
                        let start = (lo as isize + offset) as usize;
                        dst[lo..hi].copy_from_slice(&src[start..start + (hi - lo)]);
                    }
                } else {
                    for (ox, d) in dst.iter_mut().enumerate() {
                        let x = (ox * g.stride) as isize + offset;
                        if x >= 0 && x < g.width as isize {
                            *d = src[x as usize];
                        }
                    }
                }
            }
        });
    columns
}
