//! Correlation of an RGB image with a blur kernel, borders mirrored as OpenCV's default
//! `BORDER_REFLECT_101` (the border of basicsr's `cv2.filter2D`).
//!
//! Separable kernels (isotropic or axis-aligned Gaussians) take two 1-D passes written as
//! row-wise `axpy` over contiguous slices, which the compiler vectorises. Other kernels take the
//! FFT path ([`crate::fft_blur`]), whose cost does not grow with the kernel.

use image::Rgb32FImage;

use crate::fft_blur::blur_fft;
use crate::kernel::{Kernel2d, SeparableKernel};

/// Blurs `image` with `kernel`, choosing the cheaper exact method; output has the input's size.
pub fn blur(image: &Rgb32FImage, kernel: &Kernel2d) -> Rgb32FImage {
    match kernel.separable() {
        Some(separable) => blur_separable(image, &separable),
        None => blur_fft(image, kernel),
    }
}

/// Blurs with a separable kernel in a vertical and a horizontal pass.
pub fn blur_separable(image: &Rgb32FImage, kernel: &SeparableKernel) -> Rgb32FImage {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let stride = width * 3;
    let radius = kernel.row.len() / 2;
    let v_radius = kernel.column.len() / 2;
    let src: &[f32] = image.as_raw();
    let mut out = vec![0.0f32; stride * height];
    let mut vertical = vec![0.0f32; stride];
    let mut padded = vec![0.0f32; (width + 2 * radius) * 3];

    for y in 0..height {
        // Vertical pass for one output row.
        let source_row = |k: usize| {
            let sy = reflect101(y as isize + k as isize - v_radius as isize, height);
            &src[sy * stride..(sy + 1) * stride]
        };
        vertical.fill(0.0);
        correlate_rows(&mut vertical, &kernel.column, source_row);
        // Horizontal pass on the mirrored row.
        for (i, px) in padded.chunks_exact_mut(3).enumerate() {
            let sx = reflect101(i as isize - radius as isize, width);
            px.copy_from_slice(&vertical[sx * 3..sx * 3 + 3]);
        }
        let out_row = &mut out[y * stride..(y + 1) * stride];
        correlate_rows(out_row, &kernel.row, |k| &padded[k * 3..k * 3 + stride]);
    }
    Rgb32FImage::from_raw(width as u32, height as u32, out).expect("buffer has the image's size")
}

/// `acc += Σ_k weights[k] · tap(k)`, one contiguous `axpy` per tap. (Folding the symmetric
/// taps of a Gaussian into pairs measured slower: three streams vectorise worse than two.)
fn correlate_rows<'a>(acc: &mut [f32], weights: &[f32], tap: impl Fn(usize) -> &'a [f32]) {
    for (k, &w) in weights.iter().enumerate() {
        for (a, &v) in acc.iter_mut().zip(tap(k)) {
            *a += w * v;
        }
    }
}

/// Mirrors an index into `0..len` without repeating the edge sample (`dcb|abcd|cba`), any number
/// of times, so kernels wider than the image are handled too.
pub(crate) fn reflect101(index: isize, len: usize) -> usize {
    if len == 1 {
        return 0;
    }
    let period = 2 * (len as isize - 1);
    let m = index.rem_euclid(period);
    if m >= len as isize {
        (period - m) as usize
    } else {
        m as usize
    }
}

#[cfg(test)]
mod tests {
    use super::reflect101;

    #[test]
    fn reflect101_mirrors_without_repeating_the_edge() {
        let got: Vec<usize> = (-4..8).map(|i| reflect101(i, 4)).collect();
        assert_eq!(got, [2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1]);
        assert_eq!(reflect101(-7, 1), 0);
    }
}
