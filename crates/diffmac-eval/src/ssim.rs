//! SSIM (Wang et al. 2004), computed per channel and averaged over channels.
//!
//! - [`SsimConvention::Basicsr`] (the default; what face-restoration papers report through
//!   basicsr's `calculate_ssim`): 11×11 Gaussian window with σ = 1.5
//!   (`cv2.getGaussianKernel(11, 1.5)`), population statistics, only windows inside the image
//!   (`filter2D(...)[5:-5, 5:-5]`), `C1 = (0.01·255)²`, `C2 = (0.03·255)²`, on `float64`
//!   samples in 0–255 after `crop_border` and the optional Y conversion.
//! - [`SsimConvention::Skimage`]: scikit-image's `structural_similarity` defaults with
//!   `data_range=255`: 7×7 uniform window, sample covariance (`N/(N-1)`), windows inside the
//!   image (`crop(S, 3)`).

use std::str::FromStr;

use crate::error::{Result, UnknownName};
use crate::filter::{filter_valid, gaussian_kernel, uniform_kernel};
use crate::image::Image255;
use crate::options::{FullReferenceOptions, check_pair};
use crate::psnr::prepare;

/// Which SSIM definition to follow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SsimConvention {
    /// basicsr `calculate_ssim` (Gaussian 11×11, σ 1.5).
    #[default]
    Basicsr,
    /// scikit-image `structural_similarity` defaults (uniform 7×7, sample covariance).
    Skimage,
}

impl FromStr for SsimConvention {
    type Err = UnknownName;

    /// `basicsr` or `skimage`, in any case.
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "basicsr" => Ok(SsimConvention::Basicsr),
            "skimage" => Ok(SsimConvention::Skimage),
            _ => Err(UnknownName {
                what: "SSIM convention",
                given: s.to_owned(),
                expected: "basicsr or skimage".to_owned(),
            }),
        }
    }
}

impl SsimConvention {
    fn window(self) -> (Vec<f64>, f64) {
        match self {
            SsimConvention::Basicsr => (gaussian_kernel(11, 1.5), 1.0),
            SsimConvention::Skimage => (uniform_kernel(7), 49.0 / 48.0),
        }
    }
}

/// SSIM between `restored` and `reference` (0–255 scale), mean over channels.
pub fn ssim(
    restored: &Image255,
    reference: &Image255,
    options: &FullReferenceOptions,
    convention: SsimConvention,
) -> Result<f64> {
    check_pair(restored, reference)?;
    let (kernel, cov_norm) = convention.window();
    let (a, b) = prepare(restored, reference, options, kernel.len(), "SSIM")?;
    let channels = a.channels();
    let total: f64 = (0..channels)
        .map(|c| {
            ssim_plane(
                &a.plane(c),
                &b.plane(c),
                a.width(),
                a.height(),
                &kernel,
                cov_norm,
            )
        })
        .sum();
    Ok(total / channels as f64)
}

/// Mean SSIM of two planes.
fn ssim_plane(
    x: &[f64],
    y: &[f64],
    width: usize,
    height: usize,
    kernel: &[f64],
    cov_norm: f64,
) -> f64 {
    let c1 = (0.01_f64 * 255.0).powi(2);
    let c2 = (0.03_f64 * 255.0).powi(2);
    let filt = |p: &[f64]| filter_valid(p, width, height, kernel);
    let xx: Vec<f64> = x.iter().map(|v| v * v).collect();
    let yy: Vec<f64> = y.iter().map(|v| v * v).collect();
    let xy: Vec<f64> = x.iter().zip(y).map(|(a, b)| a * b).collect();
    let (mu1, mu2) = (filt(x), filt(y));
    let (sxx, syy, sxy) = (filt(&xx), filt(&yy), filt(&xy));
    let n = mu1.len();
    let mut total = 0.0;
    for i in 0..n {
        let (m1, m2) = (mu1[i], mu2[i]);
        let s1 = cov_norm * (sxx[i] - m1 * m1);
        let s2 = cov_norm * (syy[i] - m2 * m2);
        let s12 = cov_norm * (sxy[i] - m1 * m2);
        total +=
            ((2.0 * m1 * m2 + c1) * (2.0 * s12 + c2)) / ((m1 * m1 + m2 * m2 + c1) * (s1 + s2 + c2));
    }
    total / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conventions_parse_in_any_case() {
        assert_eq!("basicsr".parse(), Ok(SsimConvention::Basicsr));
        assert_eq!("SKImage".parse(), Ok(SsimConvention::Skimage));
        assert_eq!(
            "matlab".parse::<SsimConvention>().unwrap_err().to_string(),
            "unknown SSIM convention `matlab` (basicsr or skimage)"
        );
    }
}
