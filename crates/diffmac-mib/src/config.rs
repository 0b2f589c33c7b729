//! Settings of the bottleneck, with the paper's values as defaults.

use serde::{Deserialize, Serialize};

/// What fills the part of the manifold that the filter lets go (`1 − λ`), Table 3 and
/// Figs. 8–9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InjectionKind {
    /// Identity injection `F_N = F_R · σ_ID + μ_ID` (eq. 8, Algorithm 1 line 19): the
    /// paper's model, `MIB^id`.
    #[default]
    Identity,
    /// Noise injection `ε ~ N(μ_QC, max(σ_QC, o)²)` in place of `ε_id` (`MIB_β_n`).
    Noise,
    /// No compensation, `Z = λ · R` (`MIB w/o n|id`).
    None,
}

impl std::str::FromStr for InjectionKind {
    type Err = crate::MibError;

    /// `identity`, `noise` or `none`, as in JSON configs and `diffmac-restore --injection`.
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "identity" => Ok(Self::Identity),
            "noise" => Ok(Self::Noise),
            "none" => Ok(Self::None),
            other => Err(crate::MibError::Invalid(format!(
                "unknown injection {other:?}: use identity, noise or none"
            ))),
        }
    }
}

/// Settings of a [`crate::ManifoldBottleneck`] and of the Stage II loss. JSON files may give
/// only the fields they change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MibConfig {
    /// Channels of the QC manifold `R` (SD's VAE: 8, mean and log-variance).
    pub channels: usize,
    /// Width of the identity embedding (ArcFace: 512).
    pub identity_dim: usize,
    /// Minimal standard deviation `o` of Algorithm 1 line 17 (paper: 0.01).
    pub min_std: f64,
    /// Kernel size of the filter convolution `Conv` of line 20 (odd; the paper does not say,
    /// 3 here).
    pub filter_kernel: usize,
    /// What is injected (identity by default).
    pub injection: InjectionKind,
    /// Weight of `L_info` in eq. 13, the β of eq. 6 (paper: 0.001).
    pub lambda_info: f64,
    /// Weight of `L_rec` in eq. 13 (paper: 1).
    pub lambda_rec: f64,
}

impl Default for MibConfig {
    fn default() -> Self {
        Self {
            channels: 8,
            identity_dim: 512,
            min_std: 0.01,
            filter_kernel: 3,
            injection: InjectionKind::Identity,
            lambda_info: 0.001,
            lambda_rec: 1.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injection_kinds_parse_from_their_json_names() {
        for kind in [
            InjectionKind::Identity,
            InjectionKind::Noise,
            InjectionKind::None,
        ] {
            let name = serde_json::to_value(kind).unwrap();
            assert_eq!(
                name.as_str().unwrap().parse::<InjectionKind>().unwrap(),
                kind
            );
        }
        let err = "id".parse::<InjectionKind>().unwrap_err().to_string();
        assert!(err.contains("\"id\"") && err.contains("noise"), "{err}");
    }
}
