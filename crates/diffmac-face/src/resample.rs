//! Area resampling of planar images, the `interpolate(mode="area")` (adaptive average pooling)
//! that MTCNN uses for its image pyramid and its candidate crops.

use rayon::prelude::*;

/// A planar `[C, H, W]` f32 image.
#[derive(Clone, Debug, PartialEq)]
pub struct Planes {
    /// Number of channels.
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
    /// `channels * height * width` values, channel-major.
    pub data: Vec<f32>,
}

impl Planes {
    /// RGB planes from an interleaved RGB image, each value multiplied by `scale`; with
    /// `round`, values are rounded to integers (the 8-bit levels a detector trained on 8-bit
    /// photos expects).
    pub fn from_rgb(image: &image::Rgb32FImage, scale: f32, round: bool) -> Self {
        let (w, h) = image.dimensions();
        let plane = (w * h) as usize;
        let mut data = vec![0.0; 3 * plane];
        for (p, px) in image.pixels().enumerate() {
            for c in 0..3 {
                let v = px.0[c] * scale;
                data[c * plane + p] = if round { round_level(v) } else { v };
            }
        }
        Self {
            channels: 3,
            height: h as usize,
            width: w as usize,
            data,
        }
    }

    /// Area-resamples an interleaved RGB image straight to `out_h × out_w` planes, values
    /// multiplied by `scale` (and rounded to integers first with `round`), reading the image
    /// row by row: memory is that of the output only, so a very large photo is never copied at
    /// full size. Same bins as [`Planes::area_resize`].
    pub fn area_from_rgb(
        image: &image::Rgb32FImage,
        scale: f32,
        round: bool,
        out_h: usize,
        out_w: usize,
    ) -> Self {
        let (w, h) = (image.width() as usize, image.height() as usize);
        assert!(w > 0 && h > 0 && out_h > 0 && out_w > 0, "non-empty images");
        let bins = |n_in: usize, n_out: usize| -> Vec<(usize, usize)> {
            (0..n_out)
                .map(|i| (i * n_in / n_out, ((i + 1) * n_in).div_ceil(n_out)))
                .collect()
        };
        let col_bins = bins(w, out_w);
        let row_bins = bins(h, out_h);
        let raw: &[f32] = image.as_raw();
        // Output rows are split into one band per thread; each band reads the input rows
        // its bins cover (a row on a band boundary is read by both bands).
        let bands = rayon::current_num_threads().clamp(1, out_h);
        let band_rows = out_h.div_ceil(bands);
        let band_data: Vec<Vec<f32>> = (0..out_h)
            .step_by(band_rows)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|o0| {
                let o1 = (o0 + band_rows).min(out_h);
                let rows = &row_bins[o0..o1];
                let mut band = vec![0.0f32; 3 * (o1 - o0) * out_w];
                let mut line = vec![0.0f32; 3 * w];
                let mut means = vec![0.0f32; 3 * out_w];
                // Output rows whose bin contains input row y: bins increase, so keep a cursor.
                let mut first = 0;
                for y in rows[0].0..rows[rows.len() - 1].1 {
                    for (d, &v) in line.iter_mut().zip(&raw[y * 3 * w..(y + 1) * 3 * w]) {
                        *d = if round {
                            round_level(v * scale)
                        } else {
                            v * scale
                        };
                    }
                    for (ox, &(a, b)) in col_bins.iter().enumerate() {
                        let mut sum = [0.0f32; 3];
                        for px in line[3 * a..3 * b].chunks_exact(3) {
                            for c in 0..3 {
                                sum[c] += px[c];
                            }
                        }
                        for c in 0..3 {
                            means[c * out_w + ox] = sum[c] / (b - a) as f32;
                        }
                    }
                    while rows[first].1 <= y {
                        first += 1;
                    }
                    let band_plane = (o1 - o0) * out_w;
                    for (oy, &(a, b)) in rows.iter().enumerate().skip(first) {
                        if a > y {
                            break;
                        }
                        let n = (b - a) as f32;
                        for c in 0..3 {
                            let at = c * band_plane + oy * out_w;
                            let dst = &mut band[at..at + out_w];
                            for (d, m) in dst.iter_mut().zip(&means[c * out_w..(c + 1) * out_w]) {
                                *d += m / n;
                            }
                        }
                    }
                }
                band
            })
            .collect();
        let plane = out_h * out_w;
        let mut data = vec![0.0f32; 3 * plane];
        for (i, band) in band_data.iter().enumerate() {
            let o0 = i * band_rows;
            let band_plane = band.len() / 3;
            for c in 0..3 {
                data[c * plane + o0 * out_w..c * plane + o0 * out_w + band_plane]
                    .copy_from_slice(&band[c * band_plane..(c + 1) * band_plane]);
            }
        }
        Self {
            channels: 3,
            height: out_h,
            width: out_w,
            data,
        }
    }

    /// An error unless these are three planes (what the detectors take).
    pub fn require_rgb(&self) -> crate::error::Result<()> {
        if self.channels == 3 {
            Ok(())
        } else {
            Err(crate::error::FaceError::Shape(format!(
                "the detector needs 3 channels, got {}",
                self.channels
            )))
        }
    }

    /// Value at channel `c`, row `y`, column `x`.
    pub fn at(&self, c: usize, y: usize, x: usize) -> f32 {
        self.data[(c * self.height + y) * self.width + x]
    }

    /// Area-resamples the region of rows `y0..y1` and columns `x0..x1` to `out_h × out_w`:
    /// output pixel `i` averages input rows `floor(i h / out_h) .. ceil((i + 1) h / out_h)` (and
    /// likewise for columns), exactly PyTorch's adaptive average pooling. Separable, so the cost
    /// is linear in the region's size.
    pub fn area_resize_region(
        &self,
        (y0, y1): (usize, usize),
        (x0, x1): (usize, usize),
        out_h: usize,
        out_w: usize,
    ) -> Planes {
        assert!(
            y0 < y1 && y1 <= self.height && x0 < x1 && x1 <= self.width,
            "region inside image"
        );
        assert!(out_h > 0 && out_w > 0, "non-empty output");
        let (in_h, in_w) = (y1 - y0, x1 - x0);
        let bins = |n_in: usize, n_out: usize| -> Vec<(usize, usize)> {
            (0..n_out)
                .map(|i| (i * n_in / n_out, ((i + 1) * n_in).div_ceil(n_out)))
                .collect()
        };
        let col_bins = bins(in_w, out_w);
        let row_bins = bins(in_h, out_h);
        let mut out = vec![0.0; self.channels * out_h * out_w];
        let mut rows = vec![0.0f32; in_h * out_w];
        for c in 0..self.channels {
            // Horizontal pass: every input row of the region to out_w column means.
            for y in 0..in_h {
                let start = (c * self.height + y0 + y) * self.width + x0;
                let line = &self.data[start..start + in_w];
                for (ox, &(a, b)) in col_bins.iter().enumerate() {
                    let sum: f32 = line[a..b].iter().sum();
                    rows[y * out_w + ox] = sum / (b - a) as f32;
                }
            }
            // Vertical pass.
            for (oy, &(a, b)) in row_bins.iter().enumerate() {
                let dst = &mut out[(c * out_h + oy) * out_w..(c * out_h + oy + 1) * out_w];
                for y in a..b {
                    for (d, v) in dst.iter_mut().zip(&rows[y * out_w..(y + 1) * out_w]) {
                        *d += v;
                    }
                }
                let n = (b - a) as f32;
                dst.iter_mut().for_each(|d| *d /= n);
            }
        }
        Planes {
            channels: self.channels,
            height: out_h,
            width: out_w,
            data: out,
        }
    }

    /// Area-resamples the whole image to `out_h × out_w`.
    pub fn area_resize(&self, out_h: usize, out_w: usize) -> Planes {
        self.area_resize_region((0, self.height), (0, self.width), out_h, out_w)
    }
}

/// `v.round()` for the non-negative values of photos, without a libm call per pixel (it ran
/// for a fifth of the time of detecting a 12-megapixel photo); negative values go to `round`.
#[inline]
fn round_level(v: f32) -> f32 {
    if (0.0..8_388_608.0).contains(&v) {
        // Round half up by truncation; differs from `round` only within an ulp below a half,
        // which 8-bit levels times 255 never come near.
        (v + 0.5) as i32 as f32
    } else {
        v.round()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_resize_matches_adaptive_average_pooling_by_hand() {
        // 1 channel, 3x5 -> 2x2: rows bins [0,2) [1,3); column bins [0,3) [2,5).
        let data: Vec<f32> = (0..15).map(|v| v as f32).collect();
        let p = Planes {
            channels: 1,
            height: 3,
            width: 5,
            data,
        };
        let r = p.area_resize(2, 2);
        let mean = |ys: std::ops::Range<usize>, xs: std::ops::Range<usize>| {
            let mut s = 0.0;
            let mut n = 0.0;
            for y in ys {
                for x in xs.clone() {
                    s += (y * 5 + x) as f32;
                    n += 1.0;
                }
            }
            s / n
        };
        assert_eq!(
            r.data,
            vec![
                mean(0..2, 0..3),
                mean(0..2, 2..5),
                mean(1..3, 0..3),
                mean(1..3, 2..5)
            ]
        );
    }

    #[test]
    fn streaming_rgb_area_resize_matches_the_planar_one() {
        let img = image::Rgb32FImage::from_fn(37, 23, |x, y| {
            image::Rgb([
                (x * 7 % 11) as f32 / 10.0,
                (y * 3 % 5) as f32 / 4.0,
                ((x + y) % 3) as f32 / 2.0,
            ])
        });
        let want = Planes::from_rgb(&img, 255.0, true).area_resize(9, 14);
        let got = Planes::area_from_rgb(&img, 255.0, true, 9, 14);
        let err = want
            .data
            .iter()
            .zip(&got.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err < 1e-3, "{err}");
    }

    #[test]
    fn downscale_by_integer_factor_averages_blocks() {
        let p = Planes {
            channels: 1,
            height: 2,
            width: 4,
            data: vec![1., 3., 5., 7., 3., 5., 7., 9.],
        };
        assert_eq!(p.area_resize(1, 2).data, vec![3.0, 7.0]);
    }
}
