//! One DDIM step (Song et al., eq. 12) on a respaced process:
//! x_{i−1} = √ᾱ_{i−1} x̂₀ + √(1 − ᾱ_{i−1} − σ_i²) ε̂ + σ_i · noise,
//! σ_i = η √((1 − ᾱ_{i−1}) / (1 − ᾱ_i)) √(1 − ᾱ_i / ᾱ_{i−1}).
//!
//! η = 0 is the deterministic sampler; η = 1 has the variance of fixed-small DDPM. Before the
//! first kept step ᾱ is 1 (improved DDPM; diffusers' `set_alpha_to_one = true`).

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::error::{Result, SamplerError};
use crate::respace::SpacedSchedule;

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

/// σ_i of step `index` for this η.
pub fn ddim_sigma(schedule: &SpacedSchedule, index: usize, eta: f64) -> Result<f64> {
    schedule.check(index)?;
    check_eta(eta)?;
    let a = schedule.alphas_cumprod()[index];
    let a_prev = schedule.alphas_cumprod_prev()[index];
    Ok(eta * ((1.0 - a_prev) / (1.0 - a)).sqrt() * (1.0 - a / a_prev).sqrt())
}

/// x_{i−1} from the model's x̂₀ and ε̂; `noise` is ignored when σ_i is 0 or `index` is 0, and
/// `None` gives the step's mean.
pub fn ddim_step<B: Backend, const D: usize>(
    schedule: &SpacedSchedule,
    index: usize,
    x0: Tensor<B, D>,
    eps: Tensor<B, D>,
    eta: f64,
    noise: Option<Tensor<B, D>>,
) -> Result<Tensor<B, D>> {
    let sigma = ddim_sigma(schedule, index, eta)?;
    if x0.dims() != eps.dims() {
        return Err(SamplerError::ShapeMismatch {
            what: "eps",
            expected: x0.dims().to_vec(),
            got: eps.dims().to_vec(),
        });
    }
    let a_prev = schedule.alphas_cumprod_prev()[index];
    let direction = (1.0 - a_prev - sigma * sigma).max(0.0).sqrt();
    let mean = x0.mul_scalar(a_prev.sqrt()) + eps.mul_scalar(direction);
    match noise {
        Some(noise) if index > 0 && sigma > 0.0 => Ok(mean + noise.mul_scalar(sigma)),
        _ => Ok(mean),
    }
}
