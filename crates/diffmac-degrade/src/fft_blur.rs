//! Blur by FFT for kernels that are not separable (rotated anisotropic Gaussians).
//!
//! The image is padded with mirrored borders (`BORDER_REFLECT_101`) by the kernel radius and
//! circularly convolved with the kernel in the frequency domain; the padding keeps every output
//! pixel clear of wrap-around, so the result equals a direct correlation up to rounding. The cost
//! is a few 2-D real FFTs, independent of the kernel size, which is how OpenCV's `filter2D`
//! handles large kernels too.

use std::sync::Arc;

use image::Rgb32FImage;
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};

use crate::blur::reflect101;
use crate::kernel::Kernel2d;

/// Correlates `image` with `kernel` through the frequency domain.
pub fn blur_fft(image: &Rgb32FImage, kernel: &Kernel2d) -> Rgb32FImage {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let radius = kernel.size / 2;
    let plan = Plan2d::new(
        smooth_size(width + 2 * radius),
        smooth_size(height + 2 * radius),
    );

    // Kernel weight K[a][b] goes to (-a, -b) mod size, so that the circular convolution at
    // (y, x) sums K[a][b] · padded(y + a, x + b): a correlation, anchored at the padded origin.
    let mut kernel_plane = vec![0.0f32; plan.width * plan.height];
    for a in 0..kernel.size {
        for b in 0..kernel.size {
            let row = (plan.height - a) % plan.height;
            let col = (plan.width - b) % plan.width;
            kernel_plane[row * plan.width + col] = kernel.at(a, b) as f32;
        }
    }
    let kernel_spectrum = plan.forward(&mut kernel_plane);

    let mut out = vec![0.0f32; width * height * 3];
    let src: &[f32] = image.as_raw();
    let mut plane = vec![0.0f32; plan.width * plan.height];
    for channel in 0..3 {
        plane.fill(0.0);
        for py in 0..height + 2 * radius {
            let sy = reflect101(py as isize - radius as isize, height);
            let row = &mut plane[py * plan.width..py * plan.width + width + 2 * radius];
            for (px, value) in row.iter_mut().enumerate() {
                let sx = reflect101(px as isize - radius as isize, width);
                *value = src[(sy * width + sx) * 3 + channel];
            }
        }
        let mut spectrum = plan.forward(&mut plane);
        for (s, k) in spectrum.iter_mut().zip(&kernel_spectrum) {
            *s *= k;
        }
        plan.inverse(&mut spectrum, &mut plane);
        let scale = 1.0 / (plan.width * plan.height) as f32;
        for y in 0..height {
            for x in 0..width {
                out[(y * width + x) * 3 + channel] = plane[y * plan.width + x] * scale;
            }
        }
    }
    Rgb32FImage::from_raw(width as u32, height as u32, out).expect("buffer has the image's size")
}

/// Forward and inverse 2-D real FFTs of one size. Spectra are stored column-major
/// (`[col * height + row]`, `width / 2 + 1` columns) so that the column transforms run on
/// contiguous memory.
struct Plan2d {
    width: usize,
    height: usize,
    row_forward: Arc<dyn RealToComplex<f32>>,
    row_inverse: Arc<dyn ComplexToReal<f32>>,
    column_forward: Arc<dyn Fft<f32>>,
    column_inverse: Arc<dyn Fft<f32>>,
}

impl Plan2d {
    fn new(width: usize, height: usize) -> Self {
        let mut real = RealFftPlanner::<f32>::new();
        let mut complex = FftPlanner::<f32>::new();
        Self {
            width,
            height,
            row_forward: real.plan_fft_forward(width),
            row_inverse: real.plan_fft_inverse(width),
            column_forward: complex.plan_fft_forward(height),
            column_inverse: complex.plan_fft_inverse(height),
        }
    }

    fn columns(&self) -> usize {
        self.width / 2 + 1
    }

    /// Spectrum of a `height × width` row-major plane (the plane is used as scratch).
    fn forward(&self, plane: &mut [f32]) -> Vec<Complex<f32>> {
        let (columns, height) = (self.columns(), self.height);
        let mut spectrum = vec![Complex::default(); columns * height];
        let mut row_spectrum = self.row_forward.make_output_vec();
        for (y, row) in plane.chunks_exact_mut(self.width).enumerate() {
            self.row_forward
                .process(row, &mut row_spectrum)
                .expect("buffer sizes match the plan");
            for (x, value) in row_spectrum.iter().enumerate() {
                spectrum[x * height + y] = *value;
            }
        }
        self.column_forward.process(&mut spectrum);
        spectrum
    }

    /// Unnormalised inverse of [`Self::forward`] into `plane` (the spectrum is used as scratch).
    fn inverse(&self, spectrum: &mut [Complex<f32>], plane: &mut [f32]) {
        let (columns, height) = (self.columns(), self.height);
        self.column_inverse.process(spectrum);
        let mut row_spectrum = self.row_inverse.make_input_vec();
        for (y, row) in plane.chunks_exact_mut(self.width).enumerate() {
            for (x, value) in row_spectrum.iter_mut().enumerate() {
                *value = spectrum[x * height + y];
            }
            // The spectrum of a real row has real end bins; drop the rounding residue.
            row_spectrum[0].im = 0.0;
            if self.width.is_multiple_of(2) {
                row_spectrum[columns - 1].im = 0.0;
            }
            self.row_inverse
                .process(&mut row_spectrum, row)
                .expect("buffer sizes match the plan");
        }
    }
}

/// The smallest `m >= n` whose only prime factors are 2, 3 and 5 (fast FFT sizes).
fn smooth_size(n: usize) -> usize {
    (n.max(1)..)
        .find(|&m| {
            let mut r = m;
            for p in [2, 3, 5] {
                while r % p == 0 {
                    r /= p;
                }
            }
            r == 1
        })
        .expect("smooth numbers are unbounded")
}

#[cfg(test)]
mod tests {
    use super::smooth_size;

    #[test]
    fn smooth_sizes() {
        assert_eq!(smooth_size(552), 576);
        assert_eq!(smooth_size(7), 8);
        assert_eq!(smooth_size(1), 1);
        assert_eq!(smooth_size(125), 125);
    }
}
