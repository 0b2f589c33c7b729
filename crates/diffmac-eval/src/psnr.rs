//! PSNR with basicsr's conventions (`basicsr/metrics/psnr_ssim.py::calculate_psnr`):
//! crop `crop_border` pixels from each edge, optionally keep only the BT.601 Y channel
//! ([`crate::color`]), then `10 log10(255² / MSE)` over all remaining samples in `float64`.
//! Identical images give `+∞`, as in basicsr. scikit-image's `peak_signal_noise_ratio` with
//! `data_range=255` is the same formula on the same samples.

use crate::color::y_channel;
use crate::error::Result;
use crate::image::Image255;
use crate::options::{FullReferenceOptions, check_pair};

/// PSNR in dB between `restored` and `reference` (0–255 scale).
pub fn psnr(
    restored: &Image255,
    reference: &Image255,
    options: &FullReferenceOptions,
) -> Result<f64> {
    check_pair(restored, reference)?;
    let (a, b) = prepare(restored, reference, options, 1, "PSNR")?;
    let n = a.data().len() as f64;
    let mse = a
        .data()
        .iter()
        .zip(b.data())
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        / n;
    if mse == 0.0 {
        return Ok(f64::INFINITY);
    }
    Ok(10.0 * (255.0 * 255.0 / mse).log10())
}

/// Crops and converts both images as `options` say; refuses results smaller than `min`.
pub(crate) fn prepare(
    restored: &Image255,
    reference: &Image255,
    options: &FullReferenceOptions,
    min: usize,
    metric: &'static str,
) -> Result<(Image255, Image255)> {
    let mut a = restored.crop_border(options.crop_border);
    let mut b = reference.crop_border(options.crop_border);
    if a.width() < min || a.height() < min {
        return Err(crate::EvalError::TooSmall {
            metric,
            width: a.width(),
            height: a.height(),
            min,
        });
    }
    if options.test_y_channel {
        a = y_channel(&a);
        b = y_channel(&b);
    }
    Ok((a, b))
}
