//! The serde configuration of eq. 14: ranges, probabilities, kernel size and interpolation.
//!
//! Defaults are the paper's ranges (§4.1.1: G ∈ [1, 15], r ∈ [0.8, 8], σ ∈ [0, 20], q ∈ [60, 100])
//! with the conventions of basicsr's FFHQ degradation, from which the paper takes eq. 14
//! (41×41 kernels, isotropic or anisotropic with equal odds, bilinear resizing). See
//! `docs/degradation.md` for each choice.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{DegradeError, Result};

/// A closed interval `[low, high]` sampled uniformly; written as `[low, high]` in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "[f64; 2]", into = "[f64; 2]")]
pub struct UniformRange {
    /// Smallest value.
    pub low: f64,
    /// Largest value.
    pub high: f64,
}

impl UniformRange {
    /// The interval `[low, high]`.
    pub const fn new(low: f64, high: f64) -> Self {
        Self { low, high }
    }

    /// Whether `value` lies in the interval.
    pub fn contains(&self, value: f64) -> bool {
        (self.low..=self.high).contains(&value)
    }

    fn check(&self, name: &str, min: f64, max: f64) -> Result<()> {
        let ok = self.low.is_finite()
            && self.high.is_finite()
            && self.low <= self.high
            && self.low >= min
            && self.high <= max;
        if ok {
            Ok(())
        } else {
            Err(DegradeError::InvalidConfig(format!(
                "{name} must be [low, high] with {min} <= low <= high <= {max}, got [{}, {}]",
                self.low, self.high
            )))
        }
    }
}

impl From<[f64; 2]> for UniformRange {
    fn from([low, high]: [f64; 2]) -> Self {
        Self { low, high }
    }
}

impl From<UniformRange> for [f64; 2] {
    fn from(range: UniformRange) -> Self {
        [range.low, range.high]
    }
}

/// How images are resized in the down- and up-sampling stages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interpolation {
    /// Bilinear point sampling as OpenCV's `INTER_LINEAR` (half-pixel centres, no
    /// anti-aliasing), the convention of basicsr and so of the paper's training data.
    #[default]
    Bilinear,
    /// Bicubic point sampling as OpenCV's `INTER_CUBIC` (a = -0.75).
    Bicubic,
}

/// The Gaussian blur stage, `X ⊛ k_G`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlurConfig {
    /// Chance that the stage runs at all.
    pub probability: f64,
    /// Side of the square kernel in pixels (odd).
    pub kernel_size: usize,
    /// Range of the Gaussian's standard deviation G, in pixels.
    pub sigma: UniformRange,
    /// Chance of an isotropic kernel; otherwise anisotropic with independent σx, σy and a
    /// random rotation in [-π, π].
    pub isotropic_probability: f64,
}

impl Default for BlurConfig {
    fn default() -> Self {
        Self {
            probability: 1.0,
            kernel_size: 41,
            sigma: UniformRange::new(1.0, 15.0),
            isotropic_probability: 0.5,
        }
    }
}

/// The down-sampling stage `↓r` (and the final `↑r` back to the input size).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DownsampleConfig {
    /// Chance that the stage runs at all.
    pub probability: f64,
    /// Range of the down-sampling factor r (values below 1 up-sample).
    pub scale: UniformRange,
    /// Resampling filter for both directions.
    pub interpolation: Interpolation,
}

impl Default for DownsampleConfig {
    fn default() -> Self {
        Self {
            probability: 1.0,
            scale: UniformRange::new(0.8, 8.0),
            interpolation: Interpolation::Bilinear,
        }
    }
}

/// The additive Gaussian noise stage `+ n_σ`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoiseConfig {
    /// Chance that the stage runs at all.
    pub probability: f64,
    /// Range of the noise standard deviation σ on the 0–255 scale.
    pub sigma: UniformRange,
}

impl Default for NoiseConfig {
    fn default() -> Self {
        Self {
            probability: 1.0,
            sigma: UniformRange::new(0.0, 20.0),
        }
    }
}

/// The JPEG compression stage `[·]_JPEG_q`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JpegConfig {
    /// Chance that the stage runs at all.
    pub probability: f64,
    /// Range of the JPEG quality q; the drawn value is `floor(U[low, high))` as in basicsr.
    pub quality: UniformRange,
}

impl Default for JpegConfig {
    fn default() -> Self {
        Self {
            probability: 1.0,
            quality: UniformRange::new(60.0, 100.0),
        }
    }
}

/// Eq. 14 as a whole: one section per stage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DegradationConfig {
    /// Gaussian blur.
    pub blur: BlurConfig,
    /// Down-sampling and the final up-sampling.
    pub downsample: DownsampleConfig,
    /// Additive Gaussian noise.
    pub noise: NoiseConfig,
    /// JPEG round trip.
    pub jpeg: JpegConfig,
}

impl DegradationConfig {
    /// Reads a JSON config; missing fields take the paper's defaults, unknown fields are errors.
    pub fn from_json_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| diffmac_io::IoError::io(path, source))?;
        let config: Self =
            serde_json::from_str(&text).map_err(|source| DegradeError::ConfigFile {
                path: path.to_owned(),
                source,
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value against its valid range.
    pub fn validate(&self) -> Result<()> {
        let probabilities = [
            ("blur.probability", self.blur.probability),
            (
                "blur.isotropic_probability",
                self.blur.isotropic_probability,
            ),
            ("downsample.probability", self.downsample.probability),
            ("noise.probability", self.noise.probability),
            ("jpeg.probability", self.jpeg.probability),
        ];
        for (name, p) in probabilities {
            if !(0.0..=1.0).contains(&p) {
                return Err(DegradeError::InvalidConfig(format!(
                    "{name} must lie in [0, 1], got {p}"
                )));
            }
        }
        let size = self.blur.kernel_size;
        if size.is_multiple_of(2) || !(1..=255).contains(&size) {
            return Err(DegradeError::InvalidConfig(format!(
                "blur.kernel_size must be odd and in [1, 255], got {size}"
            )));
        }
        self.blur.sigma.check("blur.sigma", 1e-3, 1e3)?;
        self.downsample
            .scale
            .check("downsample.scale", 0.05, 64.0)?;
        self.noise.sigma.check("noise.sigma", 0.0, 255.0)?;
        self.jpeg.quality.check("jpeg.quality", 1.0, 100.0)
    }
}
