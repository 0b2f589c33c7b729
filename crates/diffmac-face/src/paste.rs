//! Putting restored faces back into the photo: each face is warped back by the inverse of its
//! alignment and blended through a mask that is eroded away from the crop's edge and feathered
//! with a Gaussian, so no seam shows (the scheme of facexlib's `paste_faces_to_input_image`).
//! Pixels where the mask is zero keep the background's value bit for bit.

use diffmac_io::LoadedImage;
use image::Rgb32FImage;

use crate::align::Similarity;
use crate::error::{FaceError, Result};
use crate::warp::{Border, Interpolation, WarpOptions, sample};

/// One face to paste.
#[derive(Clone, Copy, Debug)]
pub struct PasteFace<'a> {
    /// The restored (or any) face crop, square.
    pub face: &'a Rgb32FImage,
    /// The alignment that produced the crop: photo coordinates → crop coordinates.
    pub to_crop: Similarity,
    /// Weights over the crop (`side × side`, row-major) that limit the blend to the face, e.g.
    /// [`crate::FaceMesh::paste_mask`]'s feathered outline; `None` blends the whole crop
    /// (facexlib's square).
    pub outline: Option<&'a [f32]>,
}

/// Settings of the paste-back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PasteOptions {
    /// The output photo is this many times larger than the input (the background is
    /// up-sampled bicubically; 1 keeps it as it is).
    pub upscale: u32,
    /// Interpolation when warping the face back.
    pub interpolation: Interpolation,
}

impl Default for PasteOptions {
    fn default() -> Self {
        Self {
            upscale: 1,
            interpolation: Interpolation::Bicubic,
        }
    }
}

/// The soft mask of one face over a rectangle of the output photo.
#[derive(Clone, Debug)]
pub struct FaceMask {
    /// Left column of the rectangle.
    pub x0: usize,
    /// Top row of the rectangle.
    pub y0: usize,
    /// Width of the rectangle.
    pub width: usize,
    /// Height of the rectangle.
    pub height: usize,
    /// Blend weights in [0, 1], row-major; zero outside the rectangle.
    pub weights: Vec<f32>,
}

/// Output photo coordinates → input photo coordinates for an integer up-scaling with pixel
/// centres at integers: `x = (x_up + 0.5) / u − 0.5`.
pub fn from_upscaled(upscale: u32) -> Similarity {
    let u = f64::from(upscale);
    Similarity {
        a: 1.0 / u,
        b: 0.0,
        tx: 0.5 / u - 0.5,
        ty: 0.5 / u - 0.5,
    }
}

/// Minimum over a window of `2 r + 1` along rows then columns (erosion by a square), with
/// zero outside.
fn erode(mask: &mut [f32], w: usize, h: usize, r: usize) {
    if r == 0 {
        return;
    }
    let mut tmp = vec![0.0f32; mask.len()];
    for y in 0..h {
        for x in 0..w {
            tmp[y * w + x] = if x < r || x + r >= w {
                0.0
            } else {
                mask[y * w + x - r..=y * w + x + r]
                    .iter()
                    .copied()
                    .fold(1.0, f32::min)
            };
        }
    }
    for y in 0..h {
        for x in 0..w {
            mask[y * w + x] = if y < r || y + r >= h {
                0.0
            } else {
                (y - r..=y + r)
                    .map(|yy| tmp[yy * w + x])
                    .fold(1.0, f32::min)
            };
        }
    }
}

/// Separable Gaussian blur with a `2 r + 1` kernel and OpenCV's default sigma for that size,
/// zero outside.
pub(crate) fn blur(mask: &mut [f32], w: usize, h: usize, r: usize) {
    if r == 0 {
        return;
    }
    let sigma = 0.3 * ((r as f32) - 1.0) + 0.8;
    let k: Vec<f32> = (0..=2 * r)
        .map(|i| (-((i as f32 - r as f32).powi(2)) / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = k.iter().sum();
    let k: Vec<f32> = k.iter().map(|v| v / sum).collect();
    let mut tmp = vec![0.0f32; mask.len()];
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for (i, kv) in k.iter().enumerate() {
                let xx = x as i64 + i as i64 - r as i64;
                if (0..w as i64).contains(&xx) {
                    acc += kv * mask[y * w + xx as usize];
                }
            }
            tmp[y * w + x] = acc;
        }
    }
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for (i, kv) in k.iter().enumerate() {
                let yy = y as i64 + i as i64 - r as i64;
                if (0..h as i64).contains(&yy) {
                    acc += kv * tmp[yy as usize * w + x];
                }
            }
            mask[y * w + x] = acc;
        }
    }
}

/// The blend mask of a `face_size` crop pasted into a `width × height` output through
/// `to_crop` (output → crop coordinates): 1 where the crop covers the output, eroded by
/// `upscale` pixels (the crop's interpolated edge), then by `e = ⌊√area⌋ / 20` more and blurred
/// with a `2 e + 1` Gaussian, so that the weight falls smoothly to zero inside the crop.
pub fn face_mask(
    to_crop: &Similarity,
    face_size: u32,
    width: u32,
    height: u32,
    upscale: u32,
) -> FaceMask {
    let s = f64::from(face_size) - 1.0;
    let inv = to_crop.inverse();
    let corners = [[0.0, 0.0], [s, 0.0], [0.0, s], [s, s]].map(|p| inv.apply(p));
    let (w, h) = (f64::from(width), f64::from(height));
    let lo = |i: usize, max: f64| {
        corners
            .iter()
            .map(|c| c[i])
            .fold(f64::INFINITY, f64::min)
            .floor()
            .clamp(0.0, max) as usize
    };
    let hi = |i: usize, max: f64| {
        (corners
            .iter()
            .map(|c| c[i])
            .fold(f64::NEG_INFINITY, f64::max)
            .ceil()
            + 1.0)
            .clamp(0.0, max) as usize
    };
    let (x0, x1, y0, y1) = (lo(0, w), hi(0, w), lo(1, h), hi(1, h));
    let (mw, mh) = (x1.saturating_sub(x0), y1.saturating_sub(y0));
    // One pixel of zero margin around the covered area, so erosion sees the edge.
    let (pw, ph) = (mw + 2, mh + 2);
    let mut m = vec![0.0f32; pw * ph];
    for yy in 0..mh {
        for xx in 0..mw {
            let [cx, cy] = to_crop.apply([(x0 + xx) as f64, (y0 + yy) as f64]);
            if (0.0..=s).contains(&cx) && (0.0..=s).contains(&cy) {
                m[(yy + 1) * pw + xx + 1] = 1.0;
            }
        }
    }
    erode(&mut m, pw, ph, upscale as usize);
    let area: f32 = m.iter().sum();
    let edge = (area.sqrt() as usize) / 20;
    erode(&mut m, pw, ph, edge);
    blur(&mut m, pw, ph, edge);
    // Rounding leaves the interior a hair below 1; make it exactly 1 so that the face replaces
    // the photo there.
    m.iter_mut()
        .for_each(|v| *v = if *v > 1.0 - 1e-5 { 1.0 } else { v.max(0.0) });
    let mut weights = vec![0.0f32; mw * mh];
    for yy in 0..mh {
        weights[yy * mw..(yy + 1) * mw]
            .copy_from_slice(&m[(yy + 1) * pw + 1..(yy + 1) * pw + 1 + mw]);
    }
    FaceMask {
        x0,
        y0,
        width: mw,
        height: mh,
        weights,
    }
}

/// Pastes `faces` into `photo` (scaled up by `options.upscale`), one after another.
pub fn paste_faces(
    photo: &Rgb32FImage,
    faces: &[PasteFace<'_>],
    options: &PasteOptions,
) -> Result<Rgb32FImage> {
    if options.upscale == 0 || options.upscale > 16 {
        return Err(FaceError::InvalidConfig(format!(
            "upscale {} must lie in 1..=16",
            options.upscale
        )));
    }
    let u = options.upscale;
    let (w, h) = (photo.width() * u, photo.height() * u);
    let mut out = if u == 1 {
        photo.clone()
    } else {
        diffmac_degrade::resize::resize(photo, w, h, diffmac_degrade::Interpolation::Bicubic)
    };
    let warp = WarpOptions {
        interpolation: options.interpolation,
        border: Border::Replicate,
        antialias: false,
    };
    for face in faces {
        if face.face.width() != face.face.height() {
            return Err(FaceError::Shape(format!(
                "face crops must be square, got {}x{}",
                face.face.width(),
                face.face.height()
            )));
        }
        let side = face.face.width() as usize;
        if let Some(outline) = face.outline
            && outline.len() != side * side
        {
            return Err(FaceError::Shape(format!(
                "the outline mask has {} weights, the {side}x{side} crop needs {}",
                outline.len(),
                side * side
            )));
        }
        let to_crop = face.to_crop.compose(&from_upscaled(u));
        let mask = face_mask(&to_crop, face.face.width(), w, h, u);
        for yy in 0..mask.height {
            for xx in 0..mask.width {
                let mut m = mask.weights[yy * mask.width + xx];
                if m <= 0.0 {
                    continue;
                }
                let (x, y) = ((mask.x0 + xx) as u32, (mask.y0 + yy) as u32);
                let [cx, cy] = to_crop.apply([f64::from(x), f64::from(y)]);
                if let Some(outline) = face.outline {
                    m *= bilinear(outline, side, cx, cy);
                    if m <= 0.0 {
                        continue;
                    }
                }
                let v = sample(face.face, cx, cy, &warp);
                let px = out.get_pixel_mut(x, y);
                for (o, f) in px.0.iter_mut().zip(v) {
                    *o = m * f + (1.0 - m) * *o;
                }
            }
        }
    }
    Ok(out)
}

/// Bilinear sample of a `side × side` single-channel map at `(x, y)`, zero outside.
fn bilinear(map: &[f32], side: usize, x: f64, y: f64) -> f32 {
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = ((x - x0) as f32, (y - y0) as f32);
    let at = |xi: f64, yi: f64| {
        if xi < 0.0 || yi < 0.0 || xi >= side as f64 || yi >= side as f64 {
            0.0
        } else {
            map[yi as usize * side + xi as usize]
        }
    };
    let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1.0, y0) * fx;
    let bottom = at(x0, y0 + 1.0) * (1.0 - fx) + at(x0 + 1.0, y0 + 1.0) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// [`paste_faces`] on a whole photo: the alpha channel, if any, is kept (up-sampled
/// bicubically and clamped to [0, 1] when `upscale > 1`), and so are the source colour type and
/// notes, so that the result can be written like the input (see `diffmac_io::save_image`).
pub fn paste_faces_into_photo(
    photo: &LoadedImage,
    faces: &[PasteFace<'_>],
    options: &PasteOptions,
) -> Result<LoadedImage> {
    let rgb = paste_faces(&photo.rgb, faces, options)?;
    let alpha = photo.alpha.as_ref().map(|a| {
        if options.upscale == 1 {
            a.clone()
        } else {
            let mut up = image::imageops::resize(
                a,
                rgb.width(),
                rgb.height(),
                image::imageops::FilterType::CatmullRom,
            );
            up.pixels_mut()
                .for_each(|p| p.0[0] = p.0[0].clamp(0.0, 1.0));
            up
        }
    });
    Ok(LoadedImage {
        rgb,
        alpha,
        source_color: photo.source_color,
        notes: photo.notes.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erode_shrinks_and_blur_keeps_mass_inside() {
        let (w, h) = (9, 9);
        let mut m = vec![1.0f32; w * h];
        erode(&mut m, w, h, 1);
        assert_eq!(m.iter().sum::<f32>(), 49.0);
        assert_eq!(m[0], 0.0);
        blur(&mut m, w, h, 1);
        assert!(m.iter().all(|v| (0.0..=1.0 + 1e-6).contains(v)));
        assert!((m[4 * w + 4] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn upscaled_pixel_centres_map_back() {
        let t = from_upscaled(2);
        // Output pixels 0 and 1 straddle input pixel 0's centre.
        assert!((t.apply([0.0, 0.0])[0] + 0.25).abs() < 1e-12);
        assert!((t.apply([1.0, 1.0])[0] - 0.25).abs() < 1e-12);
    }
}
