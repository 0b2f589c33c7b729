//! NIQE's pristine model: the mean (36) and covariance (36×36) of the natural-scene features of
//! the pristine image set, and the 7×7 Gaussian window that normalises the image, converted
//! once from basicsr 1.4.2's `basicsr/metrics/niqe_pris_params.npz` (Apache-2.0; the values
//! come from the official MATLAB release of NIQE) by `scripts/convert_eval_weights.py`, and
//! compiled into the crate so it works offline.

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::error::{EvalError, Result};

/// Number of NIQE features per patch: 18 per scale, two scales.
pub const NIQE_FEATURES: usize = 36;

/// The pristine multivariate-Gaussian model and the normalisation window.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NiqeParams {
    /// Where the numbers come from.
    pub source: String,
    /// Mean of the pristine features (36).
    pub mu_pris_param: Vec<f64>,
    /// Covariance of the pristine features (36 rows of 36).
    pub cov_pris_param: Vec<Vec<f64>>,
    /// The 7×7 window of the local mean and deviation (rows).
    pub gaussian_window: Vec<Vec<f64>>,
}

const EMBEDDED: &str = include_str!("../../data/niqe_pris_params.json");

impl NiqeParams {
    /// The parameters shipped with the crate (basicsr 1.4.2's), parsed once.
    pub fn pristine() -> Result<&'static NiqeParams> {
        static PARAMS: OnceLock<std::result::Result<NiqeParams, String>> = OnceLock::new();
        PARAMS
            .get_or_init(|| Self::parse(EMBEDDED).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|reason| EvalError::BadFile {
                path: PathBuf::from("<embedded niqe_pris_params.json>"),
                reason: reason.clone(),
            })
    }

    /// Parses and checks a parameter file in the crate's JSON layout.
    pub fn parse(json: &str) -> std::result::Result<NiqeParams, String> {
        let params: NiqeParams = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let square = |m: &Vec<Vec<f64>>, n: usize| m.len() == n && m.iter().all(|r| r.len() == n);
        if params.mu_pris_param.len() != NIQE_FEATURES
            || !square(&params.cov_pris_param, NIQE_FEATURES)
            || !square(&params.gaussian_window, 7)
        {
            return Err(format!(
                "expected mu of {NIQE_FEATURES}, cov of {NIQE_FEATURES}×{NIQE_FEATURES} and a 7×7 window"
            ));
        }
        Ok(params)
    }
}
