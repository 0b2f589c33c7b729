//! One ancestral (DDPM) step on a respaced process: x_{i−1} ~ N(μ̃_i(x_i, x̂₀), σ_i²).
//!
//! μ̃ is the mean of the true posterior q(x_{i−1} | x_i, x₀) with the model's x̂₀ in place of
//! x₀; σ² is either that posterior's variance ("fixed small") or β'_i ("fixed large"), the two
//! fixed choices of Ho et al. and improved DDPM. No noise is added at index 0, so the last
//! step returns the posterior mean.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SamplerError};
use crate::prediction::check_noise;
use crate::respace::SpacedSchedule;

/// The variance of each ancestral step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VarianceType {
    /// The posterior variance β'_i (1 − ᾱ_{i−1}) / (1 − ᾱ_i): the lower bound, best for a
    /// deterministic-looking data distribution (DiffBIR's and diffusers' default).
    #[default]
    FixedSmall,
    /// β'_i: the upper bound, improved DDPM's default for models without learned variance.
    FixedLarge,
}

/// σ_i² for step `index` (at index 0 the value is never used: no noise is added there).
pub fn ddpm_variance(
    schedule: &SpacedSchedule,
    index: usize,
    variance: VarianceType,
) -> Result<f64> {
    schedule.check(index)?;
    Ok(match variance {
        VarianceType::FixedSmall => schedule.posterior_variance()[index],
        // improved DDPM fills index 0 with the posterior variance of index 1.
        VarianceType::FixedLarge if index == 0 => {
            schedule.posterior_variance().get(1).copied().unwrap_or(0.0)
        }
        VarianceType::FixedLarge => schedule.betas()[index],
    })
}

/// The posterior mean μ̃_i = coef1_i · x̂₀ + coef2_i · x_i.
pub fn posterior_mean<B: Backend, const D: usize>(
    schedule: &SpacedSchedule,
    index: usize,
    x0: Tensor<B, D>,
    x_t: Tensor<B, D>,
) -> Result<Tensor<B, D>> {
    schedule.check(index)?;
    if x0.dims() != x_t.dims() {
        return Err(SamplerError::ShapeMismatch {
            what: "x0",
            expected: x_t.dims().to_vec(),
            got: x0.dims().to_vec(),
        });
    }
    Ok(x0.mul_scalar(schedule.posterior_mean_coef1()[index])
        + x_t.mul_scalar(schedule.posterior_mean_coef2()[index]))
}

/// x_{i−1} = μ̃_i + σ_i · noise, or μ̃_i when `noise` is `None` or `index` is 0.
pub fn ddpm_step<B: Backend, const D: usize>(
    schedule: &SpacedSchedule,
    index: usize,
    x_t: Tensor<B, D>,
    x0: Tensor<B, D>,
    variance: VarianceType,
    noise: Option<Tensor<B, D>>,
) -> Result<Tensor<B, D>> {
    check_noise(&x_t, noise.as_ref())?;
    let mean = posterior_mean(schedule, index, x0, x_t)?;
    match noise {
        Some(noise) if index > 0 => {
            let std = ddpm_variance(schedule, index, variance)?.sqrt();
            Ok(mean + noise.mul_scalar(std))
        }
        _ => Ok(mean),
    }
}
