//! Gaussian statistics of a set of feature vectors (mean and unbiased covariance, as
//! `np.mean(axis=0)` and `np.cov(rowvar=False)` in pytorch-fid).

use crate::error::{EvalError, Result};

/// Mean and covariance of `count` feature vectors of length `dim`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FeatureStats {
    /// Number of vectors the statistics come from.
    pub count: usize,
    /// Mean, `dim` values.
    pub mu: Vec<f64>,
    /// Covariance, row-major `dim × dim`.
    pub sigma: Vec<f64>,
}

impl FeatureStats {
    /// Statistics of `features` (each of the same length). Needs at least two vectors.
    pub fn from_features(features: &[Vec<f64>]) -> Result<Self> {
        let undefined = |reason: String| EvalError::Undefined {
            metric: "FID",
            reason,
        };
        let n = features.len();
        if n < 2 {
            return Err(undefined(format!(
                "{n} feature vectors; a covariance needs at least 2"
            )));
        }
        let dim = features[0].len();
        if features.iter().any(|f| f.len() != dim) {
            return Err(undefined("feature vectors of different lengths".to_owned()));
        }
        let mut mu = vec![0.0; dim];
        for f in features {
            for (m, v) in mu.iter_mut().zip(f) {
                *m += v;
            }
        }
        for m in &mut mu {
            *m /= n as f64;
        }
        let mut sigma = vec![0.0; dim * dim];
        for f in features {
            for i in 0..dim {
                let di = f[i] - mu[i];
                for j in i..dim {
                    sigma[i * dim + j] += di * (f[j] - mu[j]);
                }
            }
        }
        for i in 0..dim {
            for j in i..dim {
                let v = sigma[i * dim + j] / (n as f64 - 1.0);
                sigma[i * dim + j] = v;
                sigma[j * dim + i] = v;
            }
        }
        Ok(Self {
            count: n,
            mu,
            sigma,
        })
    }

    /// Length of the feature vectors.
    pub fn dim(&self) -> usize {
        self.mu.len()
    }
}
