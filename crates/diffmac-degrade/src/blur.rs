//! Correlation of an RGB image with a separable kernel, borders mirrored as OpenCV's default
//! `BORDER_REFLECT_101` (the border of basicsr's `cv2.filter2D`).
//!
//! Both passes are written as row-wise `axpy` over contiguous slices, which the compiler
//! vectorises; there is no per-pixel index arithmetic in the inner loops.

use image::Rgb32FImage;

use crate::kernel::SeparableKernel;

/// Blurs `image` with `kernel`; the output has the input's size.
pub fn blur(image: &Rgb32FImage, kernel: &SeparableKernel) -> Rgb32FImage {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let stride = width * 3;
    let radius = kernel.size / 2;
    let src: &[f32] = image.as_raw();
    let mut out = vec![0.0f32; stride * height];
    let mut vertical = vec![0.0f32; stride];
    let mut padded = vec![0.0f32; (width + 2 * radius) * 3];

    for term in &kernel.terms {
        for y in 0..height {
            // Vertical pass for one output row.
            vertical.fill(0.0);
            for (k, &w) in term.column.iter().enumerate() {
                let sy = reflect101(y as isize + k as isize - radius as isize, height);
                axpy(&mut vertical, w, &src[sy * stride..(sy + 1) * stride]);
            }
            // Horizontal pass on the mirrored row, accumulated into the output.
            for (i, px) in padded.chunks_exact_mut(3).enumerate() {
                let sx = reflect101(i as isize - radius as isize, width);
                px.copy_from_slice(&vertical[sx * 3..sx * 3 + 3]);
            }
            let out_row = &mut out[y * stride..(y + 1) * stride];
            for (k, &w) in term.row.iter().enumerate() {
                axpy(out_row, w, &padded[k * 3..k * 3 + stride]);
            }
        }
    }
    Rgb32FImage::from_raw(width as u32, height as u32, out).expect("buffer has the image's size")
}

/// `acc += w * x`, element-wise.
fn axpy(acc: &mut [f32], w: f32, x: &[f32]) {
    for (a, &v) in acc.iter_mut().zip(x) {
        *a += w * v;
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
    if m >= len as isize { (period - m) as usize } else { m as usize }
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
