//! One DDIM step (Song et al., eq. 12) on a respaced process:
//! x_{i−1} = √ᾱ_{i−1} x̂₀ + √(1 − ᾱ_{i−1} − σ_i²) ε̂ + σ_i · noise,
//! σ_i = η √((1 − ᾱ_{i−1}) / (1 − ᾱ_i)) √(1 − ᾱ_i / ᾱ_{i−1}).
//!
//! η = 0 is the deterministic sampler; η = 1 has the variance of fixed-small DDPM. What ᾱ is
//! "before" the first kept step is [`FinalAlpha`]: 1 (improved DDPM; diffusers'
//! `set_alpha_to_one = true`) or the ᾱ of training timestep 0 (diffusers'
//! `set_alpha_to_one = false`, the setting of Stable Diffusion 2.1's config).

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SamplerError};
use crate::prediction::{check_noise, same_shape};
use crate::respace::SpacedSchedule;

/// The ᾱ_{i−1} that DDIM's last step (index 0) steps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalAlpha {
    /// ᾱ = 1: the last step lands on x̂₀ (improved DDPM; diffusers' `set_alpha_to_one = true`).
    #[default]
    One,
    /// ᾱ of training timestep 0 (1 − β₀, 0.99915 for SD), whether or not it is kept: diffusers'
    /// `set_alpha_to_one = false`, as in SD 2.1's `scheduler_config.json`. The last step then
    /// lands on timestep 0's noise level rather than on x̂₀.
    TrainingStepZero,
}

impl FinalAlpha {
    /// The choice diffusers makes for its `set_alpha_to_one` flag.
    pub fn from_set_alpha_to_one(set_alpha_to_one: bool) -> Self {
        if set_alpha_to_one {
            Self::One
        } else {
            Self::TrainingStepZero
        }
    }
}

/// Checks that η lies in [0, 1], where √(1 − ᾱ_{i−1} − σ²) stays real.
pub fn check_eta(eta: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&eta) {
        return Err(SamplerError::InvalidOption {
            name: "eta",
            value: eta,
            reason: "must lie in [0, 1]",
        });
    }
    Ok(())
}

/// DDIM's ᾱ_{i−1} at step `index`: the previous kept step's ᾱ, or `final_alpha` at index 0.
pub fn ddim_alpha_cumprod_prev(
    schedule: &SpacedSchedule,
    index: usize,
    final_alpha: FinalAlpha,
) -> Result<f64> {
    schedule.check(index)?;
    Ok(match (index, final_alpha) {
        (0, FinalAlpha::TrainingStepZero) => schedule.training_alpha_cumprod_0(),
        _ => schedule.alphas_cumprod_prev()[index],
    })
}

/// σ_i of step `index` for this η.
pub fn ddim_sigma(
    schedule: &SpacedSchedule,
    index: usize,
    eta: f64,
    final_alpha: FinalAlpha,
) -> Result<f64> {
    check_eta(eta)?;
    let a_prev = ddim_alpha_cumprod_prev(schedule, index, final_alpha)?;
    let a = schedule.alphas_cumprod()[index];
    Ok(eta * ((1.0 - a_prev) / (1.0 - a)).sqrt() * (1.0 - a / a_prev).sqrt())
}

/// x_{i−1} from the model's x̂₀ and ε̂; `noise` is ignored when σ_i is 0 or `index` is 0, and
/// `None` gives the step's mean. (diffusers adds σ₀ · noise at the last step too, which is
/// non-zero only with [`FinalAlpha::TrainingStepZero`] and η > 0; this crate never adds noise
/// at the last step.)
pub fn ddim_step<B: Backend, const D: usize>(
    schedule: &SpacedSchedule,
    index: usize,
    x0: Tensor<B, D>,
    eps: Tensor<B, D>,
    eta: f64,
    final_alpha: FinalAlpha,
    noise: Option<Tensor<B, D>>,
) -> Result<Tensor<B, D>> {
    let sigma = ddim_sigma(schedule, index, eta, final_alpha)?;
    same_shape("eps", &x0, &eps)?;
    check_noise(&x0, noise.as_ref())?;
    let a_prev = ddim_alpha_cumprod_prev(schedule, index, final_alpha)?;
    let direction = (1.0 - a_prev - sigma * sigma).max(0.0).sqrt();
    let mean = x0.mul_scalar(a_prev.sqrt()) + eps.mul_scalar(direction);
    match noise {
        Some(noise) if index > 0 && sigma > 0.0 => Ok(mean + noise.mul_scalar(sigma)),
        _ => Ok(mean),
    }
}
