//! Separable "valid" correlation of a plane with a square window, the part of
//! `cv2.filter2D(img, -1, outer(k, k))[r:-r, r:-r]` (and of scikit-image's `uniform_filter`
//! after its `pad` crop) that SSIM keeps: only outputs whose window lies inside the image, so
//! no border rule is involved.

/// cv2.getGaussianKernel(size, sigma) for `sigma > 0`: `exp(-(i - (size-1)/2)² / (2σ²))`,
/// normalised to sum 1.
pub fn gaussian_kernel(size: usize, sigma: f64) -> Vec<f64> {
    let centre = (size as f64 - 1.0) / 2.0;
    let raw: Vec<f64> = (0..size)
        .map(|i| {
            let d = i as f64 - centre;
            (-(d * d) / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let sum: f64 = raw.iter().sum();
    raw.into_iter().map(|v| v / sum).collect()
}

/// A box kernel of `size` taps, each `1/size`.
pub fn uniform_kernel(size: usize) -> Vec<f64> {
    vec![1.0 / size as f64; size]
}

/// Correlates the `width`×`height` plane with `outer(kernel, kernel)`, keeping the
/// `(width-k+1)`×`(height-k+1)` outputs whose window lies inside. The caller guarantees
/// `k <= width` and `k <= height`.
pub fn filter_valid(plane: &[f64], width: usize, height: usize, kernel: &[f64]) -> Vec<f64> {
    let k = kernel.len();
    let out_w = width + 1 - k;
    let out_h = height + 1 - k;
    // Horizontal pass: height × out_w.
    let mut rows = vec![0.0; height * out_w];
    for (src, dst) in plane.chunks_exact(width).zip(rows.chunks_exact_mut(out_w)) {
        for (x, d) in dst.iter_mut().enumerate() {
            *d = src[x..x + k].iter().zip(kernel).map(|(a, b)| a * b).sum();
        }
    }
    // Vertical pass: out_h × out_w.
    let mut out = vec![0.0; out_h * out_w];
    for (y, dst) in out.chunks_exact_mut(out_w).enumerate() {
        for (t, &w) in kernel.iter().enumerate() {
            let src = &rows[(y + t) * out_w..(y + t + 1) * out_w];
            for (d, s) in dst.iter_mut().zip(src) {
                *d += w * s;
            }
        }
    }
    out
}
