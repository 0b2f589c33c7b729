//! The noise schedule a Stable Diffusion checkpoint was trained with, read from its diffusers
//! folder (`scheduler/scheduler_config.json`), and the guard that keeps DiffMAC on
//! ε-prediction.
//!
//! SD 2.1-768 has SD 2.1-base's architecture but predicts v: its weights load into the same
//! UNet, and nothing else would notice that eqs. 1–5 (an ε target in training, x̂₀ from ε in
//! sampling) no longer describe the model. DiffMAC is built on SD 2.1-base, so a checkpoint
//! that predicts anything but ε is refused, naming the file and what it says.

use std::path::Path;

use diffmac_sampler::{PredictionType, SchedulerConfig};

use crate::error::{LdmError, Result};

/// The scheduler config file inside a diffusers folder.
pub const SCHEDULER_CONFIG: &str = "scheduler/scheduler_config.json";

/// SD 2.1-base's training schedule: 1000 steps, scaled-linear β from 0.00085 to 0.012,
/// ε-prediction.
pub fn sd21_base_scheduler() -> SchedulerConfig {
    SchedulerConfig::from_json_str(
        r#"{"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
            "beta_schedule": "scaled_linear", "prediction_type": "epsilon"}"#,
    )
    .expect("a valid scheduler config")
}

/// The scheduler of the diffusers folder `dir` ([`SCHEDULER_CONFIG`]; SD 2.1-base's when the
/// folder has none), checked by [`check_epsilon`] and for a schedule the sampler can build.
///
/// # Errors
/// [`LdmError::UnsupportedConfig`] naming the file: unreadable, not a scheduler config, a
/// schedule the sampler does not support, or a prediction type other than ε.
pub fn read_scheduler(dir: &Path) -> Result<SchedulerConfig> {
    let path = dir.join(SCHEDULER_CONFIG);
    if !path.exists() {
        return Ok(sd21_base_scheduler());
    }
    let unsupported = |message: String| LdmError::UnsupportedConfig {
        path: path.clone(),
        message,
    };
    let config = SchedulerConfig::from_file(&path).map_err(|e| unsupported(e.to_string()))?;
    config
        .noise_schedule()
        .map_err(|e| unsupported(e.to_string()))?;
    check_epsilon(&config, &path)?;
    Ok(config)
}

/// Refuses a scheduler whose model predicts anything but ε; `path` names it in the message.
///
/// # Errors
/// [`LdmError::UnsupportedConfig`].
pub fn check_epsilon(config: &SchedulerConfig, path: &Path) -> Result<()> {
    let unsupported = |message: String| LdmError::UnsupportedConfig {
        path: path.to_path_buf(),
        message,
    };
    match config
        .prediction()
        .map_err(|e| unsupported(e.to_string()))?
    {
        PredictionType::Epsilon => Ok(()),
        other => Err(unsupported(format!(
            "prediction_type {:?} ({other:?}): this model does not predict the noise ε. DiffMAC \
             trains and samples both stages as ε-prediction on Stable Diffusion 2.1-base \
             (eqs. 1-5); SD 2.x-768 checkpoints predict v. Use stable-diffusion-2-1-base",
            config.prediction_type
        ))),
    }
}
