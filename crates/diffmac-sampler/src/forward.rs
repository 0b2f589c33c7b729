//! The forward process q(z_t | z_0) of eq. 1: z_t = √ᾱ_t z_0 + √(1−ᾱ_t) ε, batched, each sample
//! at its own timestep, for training (and for noising a latent before partial sampling).

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::error::{Result, SamplerError};
use crate::prediction::{AlphaBar, v_from_x0_eps};
use crate::schedule::NoiseSchedule;

/// ᾱ at each sample's timestep.
fn per_sample_alpha_bar(schedule: &NoiseSchedule, timesteps: &[usize]) -> Result<AlphaBar> {
    let values = timesteps
        .iter()
        .map(|&t| schedule.alpha_cumprod(t))
        .collect::<Result<Vec<f64>>>()?;
    Ok(AlphaBar::PerSample(values))
}

fn check_batch<B: Backend, const D: usize>(x: &Tensor<B, D>, timesteps: &[usize]) -> Result<()> {
    let batch = x.dims()[0];
    if timesteps.len() != batch {
        return Err(SamplerError::BatchMismatch {
            what: "timesteps",
            batch,
            got: timesteps.len(),
        });
    }
    Ok(())
}

/// Eq. 1's z_t for sample i at training timestep `timesteps[i]` (diffusers' `add_noise`,
/// improved DDPM's `q_sample`).
pub fn add_noise<B: Backend, const D: usize>(
    schedule: &NoiseSchedule,
    x0: Tensor<B, D>,
    noise: Tensor<B, D>,
    timesteps: &[usize],
) -> Result<Tensor<B, D>> {
    check_batch(&x0, timesteps)?;
    if x0.dims() != noise.dims() {
        return Err(SamplerError::ShapeMismatch {
            what: "noise",
            expected: x0.dims().to_vec(),
            got: noise.dims().to_vec(),
        });
    }
    let a = per_sample_alpha_bar(schedule, timesteps)?;
    Ok(a.scale(x0, f64::sqrt)? + a.scale(noise, |a| (1.0 - a).sqrt())?)
}

/// The v-prediction target √ᾱ ε − √(1−ᾱ) x₀ per sample (diffusers' `get_velocity`).
pub fn velocity<B: Backend, const D: usize>(
    schedule: &NoiseSchedule,
    x0: Tensor<B, D>,
    noise: Tensor<B, D>,
    timesteps: &[usize],
) -> Result<Tensor<B, D>> {
    check_batch(&x0, timesteps)?;
    v_from_x0_eps(x0, noise, per_sample_alpha_bar(schedule, timesteps)?)
}

/// Mean and variance of q(z_t | z_0) per unit of z_0: (√ᾱ_t, 1 − ᾱ_t).
pub fn marginal(schedule: &NoiseSchedule, t: usize) -> Result<(f64, f64)> {
    let a = schedule.alpha_cumprod(t)?;
    Ok((a.sqrt(), 1.0 - a))
}
