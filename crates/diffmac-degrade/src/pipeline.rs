//! Eq. 14 end to end: `X_LQ = {[(X_HQ ⊛ k_G)↓r + n_σ]_JPEG_q}↑r`.

use image::{DynamicImage, Rgb32FImage, RgbImage};
use rand::Rng;

use crate::blur::blur;
use crate::config::DegradationConfig;
use crate::error::Result;
use crate::jpeg::jpeg_round_trip;
use crate::kernel::Kernel2d;
use crate::noise::add_gaussian_noise;
use crate::params::DegradationParams;
use crate::resize::resize;

/// Applies the stages of `params` that are on, in eq. 14's order, and returns an image of the
/// input's size, re-quantised to 8 bits ([`quantize_8bit`]) as GFPGAN's FFHQ dataset rounds
/// its LQ after the last resize: the LQ a model trains on is always an 8-bit image, as the
/// photos it will restore are. `rng` supplies the noise; it is not touched when noise is off.
pub fn degrade<R: Rng + ?Sized>(
    hq: &Rgb32FImage,
    params: &DegradationParams,
    rng: &mut R,
) -> Result<Rgb32FImage> {
    let (width, height) = hq.dimensions();
    let mut image = match &params.blur {
        Some(blur_params) => blur(hq, &Kernel2d::gaussian(blur_params)),
        None => hq.clone(),
    };
    if let Some(down) = &params.downsample {
        let small_w = (f64::from(width) / down.scale).floor().max(1.0) as u32;
        let small_h = (f64::from(height) / down.scale).floor().max(1.0) as u32;
        image = resize(&image, small_w, small_h, down.interpolation);
    }
    if let Some(sigma) = params.noise_sigma {
        add_gaussian_noise(&mut image, sigma, rng);
    }
    if let Some(quality) = params.jpeg_quality {
        image = jpeg_round_trip(&image, quality)?;
    }
    if let Some(down) = &params.downsample {
        image = resize(&image, width, height, down.interpolation);
    }
    quantize_8bit(&mut image);
    Ok(image)
}

/// Clamps to [0, 1] and rounds to the nearest of the 256 8-bit levels, ties to even:
/// `torch.clamp((img * 255).round(), 0, 255) / 255` of GFPGAN's
/// `FFHQDegradationDataset.__getitem__`.
pub fn quantize_8bit(image: &mut Rgb32FImage) {
    for v in image.iter_mut() {
        *v = (v.clamp(0.0, 1.0) * 255.0).round_ties_even() / 255.0;
    }
}

/// Draws parameters from `config` and applies them; returns the image and what was drawn.
/// Parameters and noise come from the same `rng`, so one seed reproduces both.
pub fn degrade_random<R: Rng + ?Sized>(
    hq: &Rgb32FImage,
    config: &DegradationConfig,
    rng: &mut R,
) -> Result<(Rgb32FImage, DegradationParams)> {
    let params = DegradationParams::sample(config, rng);
    let lq = degrade(hq, &params, rng)?;
    Ok((lq, params))
}

/// [`degrade`] for 8-bit images; the result is rounded back to 8 bits.
pub fn degrade_rgb8<R: Rng + ?Sized>(
    hq: &RgbImage,
    params: &DegradationParams,
    rng: &mut R,
) -> Result<RgbImage> {
    let hq = DynamicImage::ImageRgb8(hq.clone()).to_rgb32f();
    Ok(DynamicImage::ImageRgb32F(degrade(&hq, params, rng)?).to_rgb8())
}
