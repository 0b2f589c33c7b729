//! A diffusers `scheduler_config.json`, read with serde, so the schedule comes from the
//! checkpoint's own file rather than from numbers typed in by hand.
//!
//! Missing keys take diffusers' `DDPMScheduler` defaults; keys this crate has no use for
//! (`_diffusers_version`, `skip_prk_steps`, …) are ignored.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ddim::{FinalAlpha, check_eta};
use crate::ddpm::VarianceType;
use crate::error::{Result, SamplerError};
use crate::prediction::PredictionType;
use crate::respace::Spacing;
use crate::sampler::Method;
use crate::schedule::{BetaSchedule, NoiseSchedule};

fn default_num_train_timesteps() -> usize {
    1000
}
fn default_beta_start() -> f64 {
    0.0001
}
fn default_beta_end() -> f64 {
    0.02
}
fn default_beta_schedule() -> String {
    "linear".into()
}
fn default_prediction_type() -> String {
    "epsilon".into()
}

/// The fields of a diffusers scheduler config that decide the diffusion process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedulerConfig {
    /// The diffusers class that wrote it (`PNDMScheduler` for SD 2.1); informational.
    #[serde(
        rename = "_class_name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub class_name: Option<String>,
    /// T.
    #[serde(default = "default_num_train_timesteps")]
    pub num_train_timesteps: usize,
    /// First β.
    #[serde(default = "default_beta_start")]
    pub beta_start: f64,
    /// Last β.
    #[serde(default = "default_beta_end")]
    pub beta_end: f64,
    /// `linear`, `scaled_linear` or `squaredcos_cap_v2`.
    #[serde(default = "default_beta_schedule")]
    pub beta_schedule: String,
    /// Explicit betas, overriding the three fields above.
    #[serde(default)]
    pub trained_betas: Option<Vec<f64>>,
    /// `epsilon`, `v_prediction` or `sample`.
    #[serde(default = "default_prediction_type")]
    pub prediction_type: String,
    /// `leading` (diffusers' default), `trailing` or `linspace`.
    #[serde(default)]
    pub timestep_spacing: Option<String>,
    /// Added to `leading` timesteps (1 in SD configs).
    #[serde(default)]
    pub steps_offset: usize,
    /// Whether x̂₀ is clipped (diffusers' default: true; SD: false).
    #[serde(default)]
    pub clip_sample: Option<bool>,
    /// The clip range (default 1).
    #[serde(default)]
    pub clip_sample_range: Option<f64>,
    /// DDPM variance: `fixed_small` (default) or `fixed_large`.
    #[serde(default)]
    pub variance_type: Option<String>,
    /// Zero-terminal-SNR rescaling; not supported when true.
    #[serde(default)]
    pub rescale_betas_zero_snr: bool,
    /// DDIM's ᾱ after the last step: 1 when true (diffusers' default), ᾱ of training timestep
    /// 0 when false (SD 2.1). Read by [`SchedulerConfig::ddim`]; DDPM has no such option.
    #[serde(default)]
    pub set_alpha_to_one: Option<bool>,
    /// Dynamic thresholding of x̂₀ (Imagen); not supported when true.
    #[serde(default)]
    pub thresholding: bool,
}

impl SchedulerConfig {
    /// Parses the JSON text of a config.
    pub fn from_json_str(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|source| SamplerError::Config {
            origin: "<string>".into(),
            source,
        })
    }

    /// Reads a `scheduler_config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| SamplerError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| SamplerError::Config {
            origin: path.display().to_string(),
            source,
        })
    }

    /// The beta schedule it names.
    pub fn beta_schedule(&self) -> Result<BetaSchedule> {
        if self.rescale_betas_zero_snr {
            return Err(SamplerError::Unsupported(
                "rescale_betas_zero_snr = true".into(),
            ));
        }
        if let Some(betas) = &self.trained_betas {
            return Ok(BetaSchedule::Explicit(betas.clone()));
        }
        let (beta_start, beta_end) = (self.beta_start, self.beta_end);
        match self.beta_schedule.as_str() {
            "scaled_linear" => Ok(BetaSchedule::ScaledLinear {
                beta_start,
                beta_end,
            }),
            "linear" => Ok(BetaSchedule::Linear {
                beta_start,
                beta_end,
            }),
            "squaredcos_cap_v2" | "cosine" => Ok(BetaSchedule::cosine()),
            other => Err(SamplerError::UnknownBetaSchedule(other.to_string())),
        }
    }

    /// The training schedule.
    pub fn noise_schedule(&self) -> Result<NoiseSchedule> {
        NoiseSchedule::new(&self.beta_schedule()?, self.num_train_timesteps)
    }

    /// What the model predicts.
    pub fn prediction(&self) -> Result<PredictionType> {
        self.prediction_type.parse()
    }

    /// The spacing a diffusers pipeline would use for `steps` inference steps.
    pub fn spacing(&self, steps: usize) -> Result<Spacing> {
        match self.timestep_spacing.as_deref().unwrap_or("leading") {
            "leading" => Ok(Spacing::Leading {
                steps,
                offset: self.steps_offset,
            }),
            "trailing" => Ok(Spacing::Trailing { steps }),
            "linspace" => Ok(Spacing::Linspace { steps }),
            other => Err(SamplerError::UnknownTimestepSpacing(other.to_string())),
        }
    }

    /// The x̂₀ clip range, if clipping is on. Dynamic thresholding, the other x̂₀ treatment
    /// diffusers offers, is refused rather than silently dropped.
    pub fn clip_x0(&self) -> Result<Option<f64>> {
        if self.thresholding {
            return Err(SamplerError::Unsupported("thresholding = true".into()));
        }
        Ok(self
            .clip_sample
            .unwrap_or(true)
            .then(|| self.clip_sample_range.unwrap_or(1.0)))
    }

    /// diffusers' `DDIMScheduler` with this config and stochasticity η: its
    /// `set_alpha_to_one` (default true) decides what the last step steps to.
    pub fn ddim(&self, eta: f64) -> Result<Method> {
        check_eta(eta)?;
        Ok(Method::Ddim {
            eta,
            final_alpha: FinalAlpha::from_set_alpha_to_one(self.set_alpha_to_one.unwrap_or(true)),
        })
    }

    /// diffusers' `DDPMScheduler` with this config: ancestral steps with its `variance_type`.
    pub fn ddpm(&self) -> Result<Method> {
        Ok(Method::Ddpm(self.variance()?))
    }

    /// The DDPM variance choice.
    pub fn variance(&self) -> Result<VarianceType> {
        match self.variance_type.as_deref().unwrap_or("fixed_small") {
            "fixed_small" | "fixed_small_log" => Ok(VarianceType::FixedSmall),
            "fixed_large" | "fixed_large_log" => Ok(VarianceType::FixedLarge),
            other => Err(SamplerError::Unsupported(format!(
                "variance_type {other:?}"
            ))),
        }
    }
}
