//! Sampling an image at arbitrary points and warping it by a similarity transform, with
//! bilinear or bicubic interpolation, a choice of borders and anti-aliasing when shrinking.

use image::{Rgb, Rgb32FImage};
use serde::{Deserialize, Serialize};

use crate::align::Similarity;

/// How pixel values between pixel centres are computed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interpolation {
    /// Bilinear (OpenCV's `INTER_LINEAR`), as facexlib warps.
    Bilinear,
    /// Bicubic with a = -0.75 (OpenCV's `INTER_CUBIC`): sharper; results are clamped to [0, 1].
    #[default]
    Bicubic,
}

/// What lies outside the image when a warp looks there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Border {
    /// A constant colour (RGB in [0, 1]); facexlib uses grey (135, 133, 132) / 255.
    Constant([f32; 3]),
    /// The nearest edge pixel repeated.
    Replicate,
    #[default]
    /// Mirrored without repeating the edge pixel (OpenCV's `BORDER_REFLECT_101`): continues
    /// skin and hair plausibly, which suits a restoration network.
    Reflect101,
}

/// Interpolation, border and anti-aliasing of a warp.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WarpOptions {
    /// Interpolation between pixel centres.
    pub interpolation: Interpolation,
    /// Values outside the source image.
    pub border: Border,
    /// When the warp shrinks by more than 1.5×, average `ceil(1 / scale)²` samples per output
    /// pixel (up to 8×8) so that fine detail does not alias.
    pub antialias: bool,
}

impl Default for WarpOptions {
    fn default() -> Self {
        Self {
            interpolation: Interpolation::Bicubic,
            border: Border::Reflect101,
            antialias: true,
        }
    }
}

/// Maps an integer coordinate outside `0..n` into it according to `border`; `None` means the
/// constant border colour.
fn fold(i: i64, n: i64, border: Border) -> Option<usize> {
    if (0..n).contains(&i) {
        return Some(i as usize);
    }
    match border {
        Border::Constant(_) => None,
        Border::Replicate => Some(i.clamp(0, n - 1) as usize),
        Border::Reflect101 => {
            if n == 1 {
                return Some(0);
            }
            let period = 2 * (n - 1);
            let m = i.rem_euclid(period);
            Some(if m < n { m } else { period - m } as usize)
        }
    }
}

fn cubic_weights(t: f32) -> [f32; 4] {
    const A: f32 = -0.75;
    let near = |x: f32| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let far = |x: f32| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    let w = [far(1.0 + t), near(t), near(1.0 - t), far(2.0 - t)];
    // Normalised so that flat areas stay exactly flat despite rounding.
    let sum: f32 = w.iter().sum();
    w.map(|v| v / sum)
}

/// The colour of `image` at point `(x, y)` (pixel centres at integers).
pub fn sample(image: &Rgb32FImage, x: f64, y: f64, options: &WarpOptions) -> [f32; 3] {
    let (w, h) = (i64::from(image.width()), i64::from(image.height()));
    let raw: &[f32] = image.as_raw();
    let constant = match options.border {
        Border::Constant(c) => c,
        _ => [0.0; 3],
    };
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = ((x - x0) as f32, (y - y0) as f32);
    let (x0, y0) = (x0 as i64, y0 as i64);
    let mut acc = [0.0f32; 3];
    let mut add = |xi: i64, yi: i64, weight: f32| {
        let px = match (fold(xi, w, options.border), fold(yi, h, options.border)) {
            (Some(px), Some(py)) => {
                let o = (py * w as usize + px) * 3;
                [raw[o], raw[o + 1], raw[o + 2]]
            }
            _ => constant,
        };
        for c in 0..3 {
            acc[c] += weight * px[c];
        }
    };
    match options.interpolation {
        Interpolation::Bilinear => {
            for (dy, wy) in [(0, 1.0 - fy), (1, fy)] {
                for (dx, wx) in [(0, 1.0 - fx), (1, fx)] {
                    if wx * wy != 0.0 {
                        add(x0 + dx, y0 + dy, wx * wy);
                    }
                }
            }
            acc
        }
        Interpolation::Bicubic => {
            let (wxs, wys) = (cubic_weights(fx), cubic_weights(fy));
            for (dy, wy) in wys.iter().enumerate() {
                for (dx, wx) in wxs.iter().enumerate() {
                    add(x0 + dx as i64 - 1, y0 + dy as i64 - 1, wx * wy);
                }
            }
            acc.map(|v| v.clamp(0.0, 1.0))
        }
    }
}

/// Warps `src` into a `width × height` image: output pixel `p` takes the colour of `src` at
/// `to_dst⁻¹(p)`, where `to_dst` maps source coordinates to output coordinates.
pub fn warp(
    src: &Rgb32FImage,
    to_dst: &Similarity,
    width: u32,
    height: u32,
    options: &WarpOptions,
) -> Rgb32FImage {
    let inv = to_dst.inverse();
    let n = if options.antialias && to_dst.scale() < 1.0 / 1.5 {
        ((1.0 / to_dst.scale()).ceil() as usize).min(8)
    } else {
        1
    };
    let offsets: Vec<f64> = (0..n).map(|k| (k as f64 + 0.5) / n as f64 - 0.5).collect();
    let norm = 1.0 / (n * n) as f32;
    let mut out = Rgb32FImage::new(width, height);
    for (x, y, px) in out.enumerate_pixels_mut() {
        let mut acc = [0.0f32; 3];
        for &oy in &offsets {
            for &ox in &offsets {
                let [sx, sy] = inv.apply([f64::from(x) + ox, f64::from(y) + oy]);
                let v = sample(src, sx, sy, options);
                for c in 0..3 {
                    acc[c] += v[c];
                }
            }
        }
        *px = Rgb(acc.map(|v| v * norm));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: u32, h: u32) -> Rgb32FImage {
        Rgb32FImage::from_fn(w, h, |x, y| {
            Rgb([x as f32 / w as f32, y as f32 / h as f32, 0.5])
        })
    }

    #[test]
    fn integer_translation_moves_pixels_exactly() {
        let src = ramp(20, 10);
        let t = Similarity {
            a: 1.0,
            b: 0.0,
            tx: -3.0,
            ty: -2.0,
        };
        for interpolation in [Interpolation::Bilinear, Interpolation::Bicubic] {
            let options = WarpOptions {
                interpolation,
                ..Default::default()
            };
            let out = warp(&src, &t, 10, 5, &options);
            for (x, y, px) in out.enumerate_pixels() {
                assert_eq!(px, src.get_pixel(x + 3, y + 2), "{interpolation:?}");
            }
        }
    }

    #[test]
    fn borders_fold_as_documented() {
        assert_eq!(fold(-1, 5, Border::Reflect101), Some(1));
        assert_eq!(fold(5, 5, Border::Reflect101), Some(3));
        assert_eq!(fold(-7, 5, Border::Replicate), Some(0));
        assert_eq!(fold(9, 5, Border::Constant([0.0; 3])), None);
        let src = Rgb32FImage::from_pixel(4, 4, Rgb([0.2, 0.4, 0.6]));
        let grey = [0.5, 0.5, 0.5];
        let options = WarpOptions {
            border: Border::Constant(grey),
            ..Default::default()
        };
        assert_eq!(sample(&src, -5.0, 1.0, &options), grey);
    }

    #[test]
    fn bilinear_interpolates_linearly() {
        let src = ramp(8, 8);
        let options = WarpOptions {
            interpolation: Interpolation::Bilinear,
            ..Default::default()
        };
        let v = sample(&src, 2.25, 3.5, &options);
        assert!((v[0] - 2.25 / 8.0).abs() < 1e-6 && (v[1] - 3.5 / 8.0).abs() < 1e-6);
    }

    #[test]
    fn cubic_weights_sum_to_one() {
        for t in [0.0, 0.1, 0.5, 0.9] {
            let s: f32 = cubic_weights(t).iter().sum();
            assert!((s - 1.0).abs() < 1e-6);
        }
    }
}
