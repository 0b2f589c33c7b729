//! Additive white Gaussian noise, `+ n_σ` of eq. 14: independent per pixel and per channel,
//! σ on the 0–255 scale, result clipped to [0, 1] (basicsr's `add_gaussian_noise` with
//! `clip=True, rounds=False`).

use image::Rgb32FImage;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// Adds noise of standard deviation `sigma / 255` in place.
pub fn add_gaussian_noise<R: Rng + ?Sized>(image: &mut Rgb32FImage, sigma: f64, rng: &mut R) {
    let std = (sigma / 255.0) as f32;
    for value in image.iter_mut() {
        let n: f32 = StandardNormal.sample(rng);
        *value = (*value + std * n).clamp(0.0, 1.0);
    }
}
