//! The metrics a batch can ask for, with their names, direction and needs.

use std::fmt;
use std::str::FromStr;

use crate::error::UnknownName;

/// One metric of the paper's tables that this crate computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Peak signal-to-noise ratio in dB (full reference, higher is better).
    Psnr,
    /// Structural similarity (full reference, higher is better).
    Ssim,
    /// Learned perceptual distance, LPIPS 0.1 (full reference, lower is better; needs backbone
    /// weights).
    Lpips,
    /// Natural image quality evaluator (no reference, lower is better).
    Niqe,
    /// Cosine similarity of identity embeddings (full reference, higher is better; needs an
    /// identity encoder).
    IdCos,
    /// Angle between identity embeddings in degrees, VQFR's "Deg." (full reference, lower is
    /// better; needs an identity encoder).
    IdDeg,
    /// Mean distance in pixels between MTCNN's 5 landmarks of the restored face and of its
    /// ground truth (full reference, lower is better; papers use 98-point models).
    Lmd,
    /// Fréchet Inception distance between the restored and the ground-truth sets (set level,
    /// lower is better; needs Inception weights).
    Fid,
}

impl Metric {
    /// Every metric, in the order tables list them.
    pub const ALL: [Metric; 8] = [
        Metric::Psnr,
        Metric::Ssim,
        Metric::Lpips,
        Metric::Niqe,
        Metric::IdCos,
        Metric::IdDeg,
        Metric::Lmd,
        Metric::Fid,
    ];

    /// The lower-case name used on command lines and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Psnr => "psnr",
            Metric::Ssim => "ssim",
            Metric::Lpips => "lpips",
            Metric::Niqe => "niqe",
            Metric::IdCos => "idcos",
            Metric::IdDeg => "iddeg",
            Metric::Lmd => "lmd",
            Metric::Fid => "fid",
        }
    }

    /// The name as tables print it.
    pub fn label(self) -> &'static str {
        match self {
            Metric::Psnr => "PSNR",
            Metric::Ssim => "SSIM",
            Metric::Lpips => "LPIPS",
            Metric::Niqe => "NIQE",
            Metric::IdCos => "IDcos",
            Metric::IdDeg => "IDdeg",
            Metric::Lmd => "LMD",
            Metric::Fid => "FID",
        }
    }

    /// Whether larger values mean better restorations.
    pub fn higher_is_better(self) -> bool {
        !matches!(
            self,
            Metric::Niqe | Metric::Lpips | Metric::IdDeg | Metric::Lmd | Metric::Fid
        )
    }

    /// Whether the metric is computed over the whole set rather than per image (FID).
    pub fn set_level(self) -> bool {
        matches!(self, Metric::Fid)
    }

    /// Whether the metric compares with a ground-truth image.
    pub fn needs_reference(self) -> bool {
        !matches!(self, Metric::Niqe)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == lower)
            .ok_or_else(|| {
                let known: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
                let gaps = "musiq is not available: no weights";
                UnknownName {
                    what: "metric",
                    given: s.to_owned(),
                    expected: format!("known: {}; {gaps}", known.join(", ")),
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_in_any_case_and_unknown_ones_list_the_known() {
        for m in Metric::ALL {
            assert_eq!(m.name().parse::<Metric>(), Ok(m));
            assert_eq!(m.name().to_uppercase().parse::<Metric>(), Ok(m));
        }
        assert_eq!(" ssim ".parse::<Metric>(), Ok(Metric::Ssim));
        let err = "musiq".parse::<Metric>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown metric `musiq` (known: psnr, ssim, lpips, niqe, idcos, iddeg, lmd, fid; \
             musiq is not available: no weights)"
        );
    }
}
