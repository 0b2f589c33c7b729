//! Beta schedules and the cumulative products ᾱ_t that every other part of the crate reads.
//!
//! All schedule math is f64: ᾱ_t is a product of up to 1000 factors and the sampler's
//! coefficients divide by 1 − ᾱ_t, so f32 here would cost digits that no model needs to lose.

use crate::error::{Result, SamplerError};

/// Stable Diffusion's first β (`beta_start` in SD 2.1's `scheduler_config.json`).
pub const SD_BETA_START: f64 = 0.00085;
/// Stable Diffusion's last β (`beta_end` in SD 2.1's `scheduler_config.json`).
pub const SD_BETA_END: f64 = 0.012;
/// Stable Diffusion's training timesteps.
pub const SD_NUM_TRAIN_TIMESTEPS: usize = 1000;

/// How the per-step noise variances β_t are laid out over the training timesteps.
#[derive(Debug, Clone, PartialEq)]
pub enum BetaSchedule {
    /// √β linear from √start to √end, then squared: latent diffusion's (and SD's) schedule,
    /// diffusers' `scaled_linear`.
    ScaledLinear {
        /// β at t = 0.
        beta_start: f64,
        /// β at the last timestep.
        beta_end: f64,
    },
    /// β linear from start to end (Ho et al.; diffusers' `linear`).
    Linear {
        /// β at t = 0.
        beta_start: f64,
        /// β at the last timestep.
        beta_end: f64,
    },
    /// Nichol & Dhariwal's cosine ᾱ(t) = cos²((t + 0.008)/1.008 · π/2), with β capped at
    /// `max_beta` (diffusers' `squaredcos_cap_v2`; improved DDPM's `cosine`, cap 0.999).
    Cosine {
        /// The cap on β that keeps the last steps finite.
        max_beta: f64,
    },
    /// Betas given one by one (diffusers' `trained_betas`).
    Explicit(Vec<f64>),
}

impl BetaSchedule {
    /// Stable Diffusion 2.1's schedule: `scaled_linear` from 0.00085 to 0.012.
    pub fn stable_diffusion() -> Self {
        Self::ScaledLinear {
            beta_start: SD_BETA_START,
            beta_end: SD_BETA_END,
        }
    }

    /// improved DDPM's `linear`, which rescales Ho et al.'s 1e-4..0.02 by 1000 / T so that
    /// the schedule stays similar for any number of steps (for T = 1000 it is diffusers' default).
    pub fn improved_ddpm_linear(num_timesteps: usize) -> Self {
        let scale = 1000.0 / num_timesteps as f64;
        Self::Linear {
            beta_start: scale * 0.0001,
            beta_end: scale * 0.02,
        }
    }

    /// improved DDPM's cosine schedule with its β cap of 0.999.
    pub fn cosine() -> Self {
        Self::Cosine { max_beta: 0.999 }
    }

    /// The betas for `num_timesteps` training steps.
    pub fn betas(&self, num_timesteps: usize) -> Result<Vec<f64>> {
        if num_timesteps == 0 {
            return Err(SamplerError::InvalidSchedule("zero timesteps".into()));
        }
        let betas = match self {
            Self::ScaledLinear {
                beta_start,
                beta_end,
            } => {
                if *beta_start < 0.0 || *beta_end < 0.0 {
                    return Err(SamplerError::InvalidSchedule(format!(
                        "scaled_linear needs non-negative betas, got {beta_start}..{beta_end}"
                    )));
                }
                linspace(beta_start.sqrt(), beta_end.sqrt(), num_timesteps)
                    .into_iter()
                    .map(|b| b * b)
                    .collect()
            }
            Self::Linear {
                beta_start,
                beta_end,
            } => linspace(*beta_start, *beta_end, num_timesteps),
            Self::Cosine { max_beta } => {
                // The uncapped last β is 1 (ᾱ(1) = cos²(π/2) = 0), so the cap decides whether
                // ᾱ_{T−1} stays positive.
                if !(*max_beta > 0.0 && *max_beta < 1.0) {
                    return Err(SamplerError::InvalidSchedule(format!(
                        "cosine max_beta = {max_beta} must lie in (0, 1): at 1 the last ᾱ is 0 \
                         and x̂₀ = x_t / √ᾱ divides by zero"
                    )));
                }
                let alpha_bar = |t: f64| {
                    ((t + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2)
                        .cos()
                        .powi(2)
                };
                let n = num_timesteps as f64;
                (0..num_timesteps)
                    .map(|i| {
                        let (t1, t2) = (i as f64 / n, (i + 1) as f64 / n);
                        (1.0 - alpha_bar(t2) / alpha_bar(t1)).min(*max_beta)
                    })
                    .collect()
            }
            Self::Explicit(betas) => {
                if betas.len() != num_timesteps {
                    return Err(SamplerError::InvalidSchedule(format!(
                        "{} explicit betas for {num_timesteps} timesteps",
                        betas.len()
                    )));
                }
                betas.clone()
            }
        };
        Ok(betas)
    }
}

/// numpy's `linspace`: start + i·step, with the last value set to `end` exactly.
fn linspace(start: f64, end: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![start];
    }
    let step = (end - start) / (n - 1) as f64;
    let mut values: Vec<f64> = (0..n).map(|i| start + i as f64 * step).collect();
    values[n - 1] = end;
    values
}

/// A discrete diffusion process: β_t and ᾱ_t = ∏_{s≤t} (1 − β_s) for t = 0..T−1.
///
/// Timestep t here is the 0-based index that the denoiser is conditioned on (SD's UNet takes
/// 0..999), so eq. 1's ᾱ_t is `alphas_cumprod()[t]`.
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseSchedule {
    betas: Vec<f64>,
    alphas_cumprod: Vec<f64>,
}

impl NoiseSchedule {
    /// Builds the schedule of `num_timesteps` training steps.
    pub fn new(schedule: &BetaSchedule, num_timesteps: usize) -> Result<Self> {
        Self::from_betas(schedule.betas(num_timesteps)?)
    }

    /// Stable Diffusion 2.1's schedule (scaled_linear, 0.00085 → 0.012, 1000 steps), the one
    /// both DiffMAC stages were fine-tuned with.
    pub fn stable_diffusion() -> Self {
        Self::new(&BetaSchedule::stable_diffusion(), SD_NUM_TRAIN_TIMESTEPS)
            .expect("the SD schedule is valid")
    }

    /// Builds the schedule from explicit betas; each must lie in (0, 1). β = 1 is refused:
    /// it makes every later ᾱ 0, and the x̂₀ of eq. 5 divides by √ᾱ.
    pub fn from_betas(betas: Vec<f64>) -> Result<Self> {
        if betas.is_empty() {
            return Err(SamplerError::InvalidSchedule("no betas".into()));
        }
        if let Some((t, b)) = betas
            .iter()
            .enumerate()
            .find(|(_, b)| !(**b > 0.0 && **b < 1.0))
        {
            return Err(SamplerError::InvalidSchedule(format!(
                "beta[{t}] = {b} is outside (0, 1)"
            )));
        }
        let mut product = 1.0;
        let alphas_cumprod = betas
            .iter()
            .map(|b| {
                product *= 1.0 - b;
                product
            })
            .collect();
        Ok(Self {
            betas,
            alphas_cumprod,
        })
    }

    /// Number of training timesteps T.
    pub fn num_timesteps(&self) -> usize {
        self.betas.len()
    }

    /// β_t for t = 0..T−1.
    pub fn betas(&self) -> &[f64] {
        &self.betas
    }

    /// ᾱ_t for t = 0..T−1.
    pub fn alphas_cumprod(&self) -> &[f64] {
        &self.alphas_cumprod
    }

    /// ᾱ_t, or an error when t is past the end.
    pub fn alpha_cumprod(&self, t: usize) -> Result<f64> {
        self.alphas_cumprod
            .get(t)
            .copied()
            .ok_or(SamplerError::TimestepOutOfRange {
                timestep: t,
                len: self.num_timesteps(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sd_schedule_has_the_published_endpoints() {
        let s = NoiseSchedule::stable_diffusion();
        assert_eq!(s.num_timesteps(), 1000);
        assert!((s.betas()[0] - 0.00085).abs() < 1e-15);
        assert!((s.betas()[999] - 0.012).abs() < 1e-15);
        // ᾱ decreases strictly and stays positive.
        assert!(
            s.alphas_cumprod()
                .windows(2)
                .all(|w| w[1] < w[0] && w[1] > 0.0)
        );
    }

    #[test]
    fn rejects_betas_outside_the_unit_interval() {
        assert!(NoiseSchedule::from_betas(vec![0.1, 0.0]).is_err());
        assert!(NoiseSchedule::from_betas(vec![0.1, 1.5]).is_err());
        // β = 1 would make ᾱ 0 and eq. 5 divide by √0.
        let err = NoiseSchedule::from_betas(vec![0.1, 1.0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid beta schedule: beta[1] = 1 is outside (0, 1)"
        );
        assert!(NoiseSchedule::from_betas(vec![0.1, 0.999]).is_ok());
        assert!(NoiseSchedule::from_betas(vec![0.1, f64::NAN]).is_err());
        assert!(NoiseSchedule::from_betas(vec![]).is_err());
        assert!(NoiseSchedule::new(&BetaSchedule::Explicit(vec![0.1]), 2).is_err());
    }

    #[test]
    fn cosine_cap_must_keep_the_last_alpha_positive() {
        for max_beta in [1.0, 0.0, 1.5, f64::NAN] {
            let err = NoiseSchedule::new(&BetaSchedule::Cosine { max_beta }, 1000).unwrap_err();
            assert!(
                matches!(&err, SamplerError::InvalidSchedule(m) if m.contains("max_beta")),
                "{max_beta}: {err}"
            );
        }
        let s = NoiseSchedule::new(&BetaSchedule::cosine(), 1000).unwrap();
        assert!(s.alphas_cumprod()[999] > 0.0);
    }

    #[test]
    fn cosine_betas_are_capped() {
        let betas = BetaSchedule::Cosine { max_beta: 0.5 }.betas(100).unwrap();
        assert_eq!(betas[99], 0.5);
        assert!(betas[0] < 0.5);
    }
}
