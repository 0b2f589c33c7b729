//! The concrete values of one degradation: what eq. 14 did to one image.
//!
//! Drawn from a [`DegradationConfig`] with an explicit RNG, or written by hand, and saved next to
//! each degraded image so that every training pair can be explained and reproduced.

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::config::{DegradationConfig, Interpolation, UniformRange};

/// The blur kernel's parameters (basicsr's bivariate Gaussian).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlurParams {
    /// Side of the square kernel in pixels (odd).
    pub kernel_size: usize,
    /// Standard deviation along the kernel's first principal axis, in pixels.
    pub sigma_x: f64,
    /// Standard deviation along the second axis (equal to `sigma_x` when isotropic).
    pub sigma_y: f64,
    /// Rotation of the principal axes in radians (0 when isotropic).
    pub rotation: f64,
}

impl BlurParams {
    /// An isotropic kernel of standard deviation `sigma`.
    pub fn isotropic(kernel_size: usize, sigma: f64) -> Self {
        Self {
            kernel_size,
            sigma_x: sigma,
            sigma_y: sigma,
            rotation: 0.0,
        }
    }

    /// Whether the kernel is rotation-invariant.
    pub fn is_isotropic(&self) -> bool {
        self.sigma_x == self.sigma_y
    }
}

/// The down-/up-sampling stage's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DownsampleParams {
    /// Down-sampling factor r: the small image is `floor(w / r) × floor(h / r)`.
    pub scale: f64,
    /// Resampling filter.
    pub interpolation: Interpolation,
}

/// One draw of eq. 14. A stage that was switched off is `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DegradationParams {
    /// Gaussian blur kernel.
    pub blur: Option<BlurParams>,
    /// Down-sampling factor.
    pub downsample: Option<DownsampleParams>,
    /// Noise standard deviation on the 0–255 scale.
    pub noise_sigma: Option<f64>,
    /// JPEG quality.
    pub jpeg_quality: Option<u8>,
}

impl DegradationParams {
    /// Draws every stage from `config`. The RNG is consumed in a fixed order whatever the
    /// outcome, so changing one stage's probability does not shift the others' values.
    pub fn sample<R: Rng + ?Sized>(config: &DegradationConfig, rng: &mut R) -> Self {
        let blur_on = gate(rng, config.blur.probability);
        let isotropic = gate(rng, config.blur.isotropic_probability);
        let sigma_x = uniform(rng, config.blur.sigma);
        let sigma_y = uniform(rng, config.blur.sigma);
        let rotation = rng.random_range(-std::f64::consts::PI..=std::f64::consts::PI);
        let blur = blur_on.then(|| {
            if isotropic {
                BlurParams::isotropic(config.blur.kernel_size, sigma_x)
            } else {
                BlurParams {
                    kernel_size: config.blur.kernel_size,
                    sigma_x,
                    sigma_y,
                    rotation,
                }
            }
        });

        let down_on = gate(rng, config.downsample.probability);
        let scale = uniform(rng, config.downsample.scale);
        let downsample = down_on.then_some(DownsampleParams {
            scale,
            interpolation: config.downsample.interpolation,
        });

        let noise_on = gate(rng, config.noise.probability);
        let noise_sigma = uniform(rng, config.noise.sigma);

        let jpeg_on = gate(rng, config.jpeg.probability);
        let quality = uniform(rng, config.jpeg.quality).floor().clamp(1.0, 100.0) as u8;

        Self {
            blur,
            downsample,
            noise_sigma: noise_on.then_some(noise_sigma),
            jpeg_quality: jpeg_on.then_some(quality),
        }
    }
}

/// A Bernoulli draw that always consumes one value.
fn gate<R: Rng + ?Sized>(rng: &mut R, probability: f64) -> bool {
    rng.random::<f64>() < probability
}

/// `U[low, high)`, or `low` for an empty interval; always consumes one value.
fn uniform<R: Rng + ?Sized>(rng: &mut R, range: UniformRange) -> f64 {
    let u: f64 = rng.random();
    range.low + u * (range.high - range.low)
}
