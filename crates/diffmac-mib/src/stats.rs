//! The per-channel mean `μ_QC` and standard deviation `σ_QC` of the QC manifold over a
//! dataset (Algorithm 1, "Require: pre-calculated mean μ_QC and std. σ_QC"), their running
//! sums and their JSON file. Which images they are computed from is the trainer's business
//! (`diffmac_train::qc_stats`): this module only accumulates the QC outputs it is handed.

use std::path::Path;

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor};
use diffmac_io::write_atomically;
use serde::{Deserialize, Serialize};

use crate::error::{MibError, Result};

/// File name of the statistics next to a bottleneck's weights.
pub const QC_STATS_FILE: &str = "qc_stats.json";

/// Per-channel statistics of the QC output (8 channels for SD's VAE).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QcStats {
    /// `μ_QC`, one value per channel.
    pub mean: Vec<f64>,
    /// `σ_QC` (population standard deviation), one value per channel.
    pub std: Vec<f64>,
    /// Values each channel's statistics were computed from (images × positions).
    pub count: u64,
    /// Images they were computed from.
    pub images: usize,
}

impl QcStats {
    /// Placeholder statistics for `channels` channels: `μ_QC = 0`, `σ_QC = 1`, computed from
    /// nothing. They stand in where a bottleneck must be built before its real statistics are
    /// known: weights loaded afterwards carry their own (`qc_mean`, `qc_std`), which replace
    /// them.
    pub fn placeholder(channels: usize) -> Self {
        Self {
            mean: vec![0.0; channels],
            std: vec![1.0; channels],
            count: 0,
            images: 0,
        }
    }

    /// Channels described.
    pub fn channels(&self) -> usize {
        self.mean.len()
    }

    /// Checks that mean and std have `channels` finite entries and std is non-negative.
    ///
    /// # Errors
    /// [`MibError::Invalid`] describing the problem.
    pub fn check(&self, channels: usize) -> Result<()> {
        if self.mean.len() != channels || self.std.len() != channels {
            return Err(MibError::Invalid(format!(
                "statistics have {} means and {} stds, the manifold has {channels} channels",
                self.mean.len(),
                self.std.len()
            )));
        }
        if self.mean.iter().chain(&self.std).any(|v| !v.is_finite())
            || self.std.iter().any(|s| *s < 0.0)
        {
            return Err(MibError::Invalid(
                "statistics are not finite or a std is negative".into(),
            ));
        }
        Ok(())
    }

    /// Reads a statistics JSON file.
    ///
    /// # Errors
    /// [`MibError::Io`] / [`MibError::Json`] naming the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| MibError::Io {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| MibError::Json {
            path: path.to_owned(),
            source,
        })
    }

    /// Writes the statistics as pretty JSON, atomically (replacing an existing file).
    ///
    /// # Errors
    /// [`MibError::File`] wrapping the file error, naming the file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self).expect("plain data serialises");
        text.push('\n');
        write_atomically(path.as_ref(), text.as_bytes(), true)?;
        Ok(())
    }
}

/// Running per-channel sums for [`QcStats`] (f64, so large datasets do not lose precision).
#[derive(Debug, Clone, Default)]
pub struct QcStatsAccumulator {
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
    count: u64,
    images: usize,
}

impl QcStatsAccumulator {
    /// Adds a batch of QC outputs `[N, C, h, w]`.
    ///
    /// # Errors
    /// [`MibError::InvalidInput`] if the channel count changes between batches.
    pub fn add<B: Backend>(&mut self, moments: Tensor<B, 4>) -> Result<()> {
        let [n, c, h, w] = moments.dims();
        if self.sum.is_empty() {
            self.sum = vec![0.0; c];
            self.sum_sq = vec![0.0; c];
        } else if self.sum.len() != c {
            return Err(MibError::InvalidInput(format!(
                "QC output has {c} channels, earlier batches had {}",
                self.sum.len()
            )));
        }
        let values = moments
            .cast(DType::F32)
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .expect("f32 values");
        let plane = h * w;
        for (i, chunk) in values.chunks(plane).enumerate() {
            let ch = i % c;
            for &v in chunk {
                let v = f64::from(v);
                self.sum[ch] += v;
                self.sum_sq[ch] += v * v;
            }
        }
        self.count += (n * plane) as u64;
        self.images += n;
        Ok(())
    }

    /// The statistics of everything added.
    ///
    /// # Errors
    /// [`MibError::Invalid`] if nothing was added.
    pub fn finish(&self) -> Result<QcStats> {
        if self.count == 0 {
            return Err(MibError::Invalid(
                "no images to compute statistics from".into(),
            ));
        }
        let n = self.count as f64;
        let mean: Vec<f64> = self.sum.iter().map(|s| s / n).collect();
        let std = self
            .sum_sq
            .iter()
            .zip(&mean)
            .map(|(sq, m)| (sq / n - m * m).max(0.0).sqrt())
            .collect();
        Ok(QcStats {
            mean,
            std,
            count: self.count,
            images: self.images,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_placeholder_is_zero_mean_unit_std_from_nothing_and_valid() {
        let s = QcStats::placeholder(8);
        assert_eq!((s.mean, s.std), (vec![0.0; 8], vec![1.0; 8]));
        assert_eq!((s.count, s.images), (0, 0));
        assert!(QcStats::placeholder(8).check(8).is_ok());
    }
}
