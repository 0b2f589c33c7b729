//! Point-sampling resize with OpenCV's `cv2.resize` conventions, as basicsr uses for eq. 14's
//! `↓r` and `↑r`: half-pixel centres, replicated borders, and no anti-aliasing filter when
//! shrinking. The missing anti-aliasing is part of the degradation the paper trained on (it
//! adds aliasing), which is why this is not delegated to an image crate, whose resizers all
//! low-pass filter on down-scaling.

use image::Rgb32FImage;

use crate::config::Interpolation;

/// Resizes to exactly `width × height` (each at least 1).
pub fn resize(image: &Rgb32FImage, width: u32, height: u32, filter: Interpolation) -> Rgb32FImage {
    let (src_w, src_h) = (image.width() as usize, image.height() as usize);
    let (dst_w, dst_h) = (width.max(1) as usize, height.max(1) as usize);
    let xs = Taps::new(src_w, dst_w, filter);
    let ys = Taps::new(src_h, dst_h, filter);
    let src: &[f32] = image.as_raw();
    let src_stride = src_w * 3;
    let mut row = vec![0.0f32; src_stride];
    let mut out = Vec::with_capacity(dst_w * dst_h * 3);
    for dy in 0..dst_h {
        // Vertical combination of whole source rows, then horizontal sampling of that row.
        row.fill(0.0);
        for (sy, w) in ys.of(dy) {
            for (acc, &v) in row
                .iter_mut()
                .zip(&src[sy * src_stride..(sy + 1) * src_stride])
            {
                *acc += w * v;
            }
        }
        for dx in 0..dst_w {
            let mut px = [0.0f32; 3];
            for (sx, w) in xs.of(dx) {
                for (c, p) in px.iter_mut().enumerate() {
                    *p += w * row[sx * 3 + c];
                }
            }
            out.extend_from_slice(&px);
        }
    }
    Rgb32FImage::from_raw(dst_w as u32, dst_h as u32, out).expect("buffer has the image's size")
}

/// Source indices and weights of every destination sample along one axis.
struct Taps {
    per_sample: usize,
    index: Vec<usize>,
    weight: Vec<f32>,
}

impl Taps {
    fn new(src: usize, dst: usize, filter: Interpolation) -> Self {
        let per_sample = match filter {
            Interpolation::Bilinear => 2,
            Interpolation::Bicubic => 4,
        };
        let scale = src as f64 / dst as f64;
        let mut index = Vec::with_capacity(dst * per_sample);
        let mut weight = Vec::with_capacity(dst * per_sample);
        for d in 0..dst {
            // OpenCV computes the source position in single precision.
            let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let s = f.floor();
            let t = f - s;
            let s = s as isize;
            let (first, weights): (isize, [f32; 4]) = match filter {
                Interpolation::Bilinear => (s, [1.0 - t, t, 0.0, 0.0]),
                Interpolation::Bicubic => (s - 1, cubic_weights(t)),
            };
            for (k, &w) in weights[..per_sample].iter().enumerate() {
                index.push((first + k as isize).clamp(0, src as isize - 1) as usize);
                weight.push(w);
            }
        }
        Self {
            per_sample,
            index,
            weight,
        }
    }

    fn of(&self, d: usize) -> impl Iterator<Item = (usize, f32)> + '_ {
        let range = d * self.per_sample..(d + 1) * self.per_sample;
        self.index[range.clone()]
            .iter()
            .copied()
            .zip(self.weight[range].iter().copied())
    }
}

/// OpenCV's cubic convolution weights for the four taps around a sample at offset `t`.
fn cubic_weights(t: f32) -> [f32; 4] {
    const A: f32 = -0.75;
    let c0 = ((A * (t + 1.0) - 5.0 * A) * (t + 1.0) + 8.0 * A) * (t + 1.0) - 4.0 * A;
    let c1 = ((A + 2.0) * t - (A + 3.0)) * t * t + 1.0;
    let c2 = ((A + 2.0) * (1.0 - t) - (A + 3.0)) * (1.0 - t) * (1.0 - t) + 1.0;
    [c0, c1, c2, 1.0 - c0 - c1 - c2]
}
