//! NIQE (Mittal et al., "Making a completely blind image quality analyzer", 2013) exactly as
//! basicsr 1.4.2's `calculate_niqe` computes it (which matches the official MATLAB release to
//! four decimals): Y channel (`color.rs`) rounded half-to-even, cropped to whole 96×96
//! patches, local mean/deviation normalisation with the 7×7 window (`scipy.ndimage.convolve`,
//! `mode='nearest'`) at the full and at half scale (MATLAB bicubic `imresize`), 18 AGGD
//! features per patch and scale, a Gaussian fitted to the patches, and the Mahalanobis-like
//! distance to the pristine model with the pseudo-inverse of the pooled covariance.
//! Lower is better.
//!
//! basicsr works in `float32` on the image and the normalised patches; this port rounds to
//! `f32` at the same places and accumulates in `f64`.

mod aggd;
mod imresize;
mod npsum;
mod params;

pub use aggd::{block_features, estimate_aggd};
pub use imresize::imresize;
pub use npsum::{np_mean_f32, np_sum_f32};
pub use params::{NIQE_FEATURES, NiqeParams};

use nalgebra::{DMatrix, DVector};

use crate::color::y_channel;
use crate::error::{EvalError, Result};
use crate::image::Image255;

/// Side of NIQE's square patches.
pub const NIQE_BLOCK: usize = 96;

/// NIQE of an RGB (or single-channel grey/Y) image on the 0–255 scale, after dropping
/// `crop_border` pixels on each edge, with the pristine parameters shipped in the crate.
pub fn niqe(image: &Image255, crop_border: usize) -> Result<f64> {
    niqe_with(image, crop_border, NiqeParams::pristine()?)
}

/// [`niqe`] with explicit pristine parameters.
pub fn niqe_with(image: &Image255, crop_border: usize, params: &NiqeParams) -> Result<f64> {
    // basicsr converts to Y before cropping; cropping commutes with the per-pixel conversion.
    let y = y_channel(&image.crop_border(crop_border));
    let plane: Vec<f64> = y
        .data()
        .iter()
        .map(|&v| f64::from((v as f32).round_ties_even()))
        .collect();
    niqe_plane(&plane, y.width(), y.height(), params)
}

/// NIQE of a rounded Y plane (`width`×`height`, 0–255).
pub fn niqe_plane(plane: &[f64], width: usize, height: usize, params: &NiqeParams) -> Result<f64> {
    let blocks_w = width / NIQE_BLOCK;
    let blocks_h = height / NIQE_BLOCK;
    if blocks_w == 0 || blocks_h == 0 {
        return Err(EvalError::TooSmall {
            metric: "NIQE",
            width,
            height,
            min: NIQE_BLOCK,
        });
    }
    let features = patch_features(plane, width, height, &params.gaussian_window);
    quality(&features, params)
}

/// The 36 features of every whole 96×96 patch of a rounded Y plane (18 at full scale, then 18
/// at half scale), patches in basicsr's order (columns of patches, top to bottom). The plane
/// must hold at least one whole patch.
pub fn patch_features(
    plane: &[f64],
    width: usize,
    height: usize,
    window: &[Vec<f64>],
) -> Vec<[f64; NIQE_FEATURES]> {
    let blocks_w = width / NIQE_BLOCK;
    let blocks_h = height / NIQE_BLOCK;
    let (w, h) = (blocks_w * NIQE_BLOCK, blocks_h * NIQE_BLOCK);
    let mut img: Vec<f64> = (0..h)
        .flat_map(|y| plane[y * width..y * width + w].iter().copied())
        .collect();
    let (mut cur_w, mut cur_h) = (w, h);

    let n_blocks = blocks_w * blocks_h;
    let mut features = vec![[0.0_f64; NIQE_FEATURES]; n_blocks];
    for scale in [1usize, 2] {
        let normalized = normalize(&img, cur_w, cur_h, window);
        let bs = NIQE_BLOCK / scale;
        let mut block = vec![0.0_f32; bs * bs];
        for bx in 0..blocks_w {
            for by in 0..blocks_h {
                for y in 0..bs {
                    let row = (by * bs + y) * cur_w + bx * bs;
                    block[y * bs..(y + 1) * bs].copy_from_slice(&normalized[row..row + bs]);
                }
                let f = block_features(&block, bs, bs);
                let offset = (scale - 1) * 18;
                features[bx * blocks_h + by][offset..offset + 18].copy_from_slice(&f);
            }
        }
        if scale == 1 {
            let unit: Vec<f64> = img.iter().map(|&v| f64::from(v as f32 / 255.0)).collect();
            let (small, sw, sh) = imresize(&unit, cur_w, cur_h, 0.5);
            img = small.iter().map(|&v| f64::from(v as f32 * 255.0)).collect();
            (cur_w, cur_h) = (sw, sh);
        }
    }
    features
}

/// Local normalisation `(I - μ) / (σ + 1)` with `μ`, `σ` from the window, in `f32`.
fn normalize(img: &[f64], width: usize, height: usize, window: &[Vec<f64>]) -> Vec<f32> {
    let k = window.len();
    let r = (k / 2) as isize;
    let conv = |f: &dyn Fn(usize) -> f64| -> Vec<f32> {
        let mut out = vec![0.0_f32; width * height];
        for y in 0..height {
            for x in 0..width {
                let mut acc = 0.0;
                for (a, wrow) in window.iter().enumerate() {
                    // convolve flips the window: weight (a, b) meets pixel (y + r - a, x + r - b).
                    let sy = (y as isize + r - a as isize).clamp(0, height as isize - 1) as usize;
                    for (b, &wt) in wrow.iter().enumerate() {
                        let sx =
                            (x as isize + r - b as isize).clamp(0, width as isize - 1) as usize;
                        acc += wt * f(sy * width + sx);
                    }
                }
                out[y * width + x] = acc as f32;
            }
        }
        out
    };
    let img32: Vec<f32> = img.iter().map(|&v| v as f32).collect();
    let mu = conv(&|i| f64::from(img32[i]));
    let sq = conv(&|i| f64::from(img32[i] * img32[i]));
    img32
        .iter()
        .zip(mu.iter().zip(&sq))
        .map(|(&v, (&m, &s))| {
            let sigma = (s - m * m).abs().sqrt();
            (v - m) / (sigma + 1.0)
        })
        .collect()
}

/// The distance between the patches' Gaussian and the pristine one (NIQE eq. 10).
fn quality(features: &[[f64; NIQE_FEATURES]], params: &NiqeParams) -> Result<f64> {
    let n = NIQE_FEATURES;
    let undefined = |reason: &str| EvalError::Undefined {
        metric: "NIQE",
        reason: reason.to_owned(),
    };
    // nanmean per feature.
    let mut mu = vec![0.0; n];
    for (j, m) in mu.iter_mut().enumerate() {
        let vals: Vec<f64> = features
            .iter()
            .map(|f| f[j])
            .filter(|v| !v.is_nan())
            .collect();
        if vals.is_empty() {
            return Err(undefined("a feature is NaN in every patch (flat image?)"));
        }
        *m = vals.iter().sum::<f64>() / vals.len() as f64;
    }
    // Covariance of the patches without NaN (unbiased, as np.cov).
    let clean: Vec<&[f64; NIQE_FEATURES]> = features
        .iter()
        .filter(|f| f.iter().all(|v| !v.is_nan()))
        .collect();
    if clean.len() < 2 {
        return Err(undefined("fewer than two patches with finite features"));
    }
    let m = clean.len() as f64;
    let means: Vec<f64> = (0..n)
        .map(|j| clean.iter().map(|f| f[j]).sum::<f64>() / m)
        .collect();
    let mut pooled = DMatrix::<f64>::zeros(n, n);
    for i in 0..n {
        for j in i..n {
            let c = clean
                .iter()
                .map(|f| (f[i] - means[i]) * (f[j] - means[j]))
                .sum::<f64>()
                / (m - 1.0);
            let v = (params.cov_pris_param[i][j] + c) / 2.0;
            pooled[(i, j)] = v;
            pooled[(j, i)] = (params.cov_pris_param[j][i] + c) / 2.0;
        }
    }
    let pinv = pseudo_inverse(pooled).ok_or_else(|| undefined("covariance has no SVD"))?;
    let d = DVector::from_iterator(n, (0..n).map(|j| params.mu_pris_param[j] - mu[j]));
    let q = (d.transpose() * pinv * &d)[(0, 0)];
    let q = q.sqrt();
    if q.is_finite() {
        Ok(q)
    } else {
        Err(undefined("the distance is not finite"))
    }
}

/// `np.linalg.pinv` (singular values below 1e-15 × the largest are dropped).
fn pseudo_inverse(m: DMatrix<f64>) -> Option<DMatrix<f64>> {
    let svd = m.try_svd(true, true, f64::EPSILON, 0)?;
    let max = svd.singular_values.max();
    svd.pseudo_inverse(1e-15 * max).ok()
}
