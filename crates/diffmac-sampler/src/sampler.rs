//! The sampling loop: a respaced schedule, a prediction type and a step rule (DDPM or DDIM),
//! driven from the last kept step down to index 0 with one denoiser call per step.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorCreationOptions};

use crate::ddim::{FinalAlpha, check_eta, ddim_step};
use crate::ddpm::{VarianceType, ddpm_step};
use crate::denoiser::Denoiser;
use crate::error::{Result, SamplerError};
use crate::guidance::Guidance;
use crate::noise::BatchNoise;
use crate::prediction::{PredictionType, check_noise, eps_from_x0};
use crate::respace::{SpacedSchedule, Spacing};
use crate::schedule::NoiseSchedule;

/// The step rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// Ancestral sampling from the posterior (spaced DDPM; what DiffMAC uses).
    Ddpm(VarianceType),
    /// DDIM with stochasticity η in [0, 1].
    Ddim {
        /// 0: deterministic; 1: DDPM-like variance.
        eta: f64,
        /// What the last step steps to (diffusers' `set_alpha_to_one`).
        final_alpha: FinalAlpha,
    },
}

impl Method {
    /// DDIM with η and ᾱ = 1 after the last step (improved DDPM's DDIM).
    pub fn ddim(eta: f64) -> Self {
        Self::Ddim {
            eta,
            final_alpha: FinalAlpha::One,
        }
    }
}

/// What one step produced.
#[derive(Debug, Clone)]
pub struct StepOutput<B: Backend, const D: usize> {
    /// x_{i−1}.
    pub prev_sample: Tensor<B, D>,
    /// The model's x̂₀ at this step (eq. 5 for ε models), after clipping if enabled.
    pub pred_x0: Tensor<B, D>,
}

/// Where a run starts. Non-exhaustive: more starting points may be added.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Init<B: Backend, const D: usize> {
    /// Pure N(0, I) noise at the last kept step; every step runs.
    Noise {
        /// Shape of the sample.
        shape: [usize; D],
        /// Device and dtype of the sample.
        options: TensorCreationOptions<B>,
    },
    /// A clean latent, noised by eq. 1 to kept step `steps − 1`; the last `steps` steps run
    /// (img2img / partial-noise restoration; see [`SpacedSchedule::steps_for_strength`]).
    Latent {
        /// The clean latent x₀.
        latent: Tensor<B, D>,
        /// Number of steps to run, 1..=N.
        steps: usize,
    },
    /// A clean latent, to be restored from an arbitrary training timestep t (0..T): it is
    /// noised by eq. 1 to the largest kept timestep ≤ t, and the run goes on from there (see
    /// [`SpacedSchedule::index_at_or_below`]). When t is itself kept this is exactly
    /// `Latent` with `steps` = its index + 1.
    LatentAtTimestep {
        /// The clean latent x₀.
        latent: Tensor<B, D>,
        /// The training timestep t to start from.
        timestep: usize,
    },
    /// An already noisy latent at kept step `steps − 1`; the last `steps` steps run. For x
    /// at a kept training timestep t, `steps` is `index_of(t)` + 1
    /// ([`SpacedSchedule::index_of`]).
    Noisy {
        /// x at that step.
        x_t: Tensor<B, D>,
        /// Number of steps to run, 1..=N.
        steps: usize,
    },
}

/// What the per-step callback sees, after the step. Non-exhaustive, so that fields can be
/// added without breaking callbacks.
#[derive(Debug)]
#[non_exhaustive]
pub struct StepInfo<'a, B: Backend, const D: usize> {
    /// Steps done so far, 1..=total (for progress bars).
    pub step: usize,
    /// Steps this run takes.
    pub total: usize,
    /// The schedule index i just stepped from.
    pub index: usize,
    /// Its training timestep (what the denoiser saw).
    pub timestep: usize,
    /// x_{i−1}.
    pub sample: &'a Tensor<B, D>,
    /// x̂₀ at step i.
    pub pred_x0: &'a Tensor<B, D>,
}

/// A configured sampler; cheap to clone, holds no tensors.
#[derive(Debug, Clone)]
pub struct Sampler {
    schedule: SpacedSchedule,
    prediction: PredictionType,
    method: Method,
    clip_x0: Option<f64>,
    guidance: Guidance,
}

impl Sampler {
    /// A sampler without x̂₀ clipping (right for latents) and without guidance.
    pub fn new(
        schedule: SpacedSchedule,
        prediction: PredictionType,
        method: Method,
    ) -> Result<Self> {
        if let Method::Ddim { eta, .. } = method {
            check_eta(eta)?;
        }
        Ok(Self {
            schedule,
            prediction,
            method,
            clip_x0: None,
            guidance: Guidance::NONE,
        })
    }

    /// DiffMAC's inference sampler (§4.1.1): SD 2.1's schedule, improved DDPM's 50 spaced
    /// steps, ancestral DDPM with fixed-small variance, ε prediction, no guidance.
    pub fn paper() -> Self {
        let schedule = SpacedSchedule::new(&NoiseSchedule::stable_diffusion(), &Spacing::paper())
            .expect("50 of 1000 steps");
        Self::new(
            schedule,
            PredictionType::Epsilon,
            Method::Ddpm(VarianceType::FixedSmall),
        )
        .expect("DDPM needs no option check")
    }

    /// Clips x̂₀ to [−r, r] before it is used (pixel-space models; `None` turns it off).
    pub fn with_clip_x0(mut self, range: Option<f64>) -> Result<Self> {
        if let Some(r) = range
            && !(r > 0.0 && r.is_finite())
        {
            return Err(SamplerError::InvalidOption {
                name: "clip range",
                value: r,
                reason: "must be positive and finite",
            });
        }
        self.clip_x0 = range;
        Ok(self)
    }

    /// Sets classifier-free guidance.
    pub fn with_guidance(mut self, guidance: Guidance) -> Self {
        self.guidance = guidance;
        self
    }

    /// The respaced schedule.
    pub fn schedule(&self) -> &SpacedSchedule {
        &self.schedule
    }

    /// What the denoiser predicts.
    pub fn prediction(&self) -> PredictionType {
        self.prediction
    }

    /// The step rule.
    pub fn method(&self) -> Method {
        self.method
    }

    /// One step from index `index` given the model's (guided) output; `noise` of x_t's shape
    /// is the step's N(0, I) draw, `None` for the step's mean.
    pub fn step<B: Backend, const D: usize>(
        &self,
        index: usize,
        x_t: Tensor<B, D>,
        model_output: Tensor<B, D>,
        noise: Option<Tensor<B, D>>,
    ) -> Result<StepOutput<B, D>> {
        self.schedule.check(index)?;
        if x_t.dims() != model_output.dims() {
            return Err(SamplerError::ShapeMismatch {
                what: "model output",
                expected: x_t.dims().to_vec(),
                got: model_output.dims().to_vec(),
            });
        }
        check_noise(&x_t, noise.as_ref())?;
        let alpha_bar = self.schedule.alphas_cumprod()[index];
        let mut x0 = self
            .prediction
            .to_x0(x_t.clone(), model_output.clone(), alpha_bar)?;
        if let Some(r) = self.clip_x0 {
            x0 = x0.clamp(-r, r);
        }
        let prev_sample = match self.method {
            Method::Ddpm(variance) => {
                ddpm_step(&self.schedule, index, x_t, x0.clone(), variance, noise)?
            }
            Method::Ddim { eta, final_alpha } => {
                // With clipping, ε is re-derived from the clipped x̂₀ so the two stay consistent.
                let eps = match self.clip_x0 {
                    None => self.prediction.to_eps(x_t, model_output, alpha_bar)?,
                    Some(_) => eps_from_x0(x_t, x0.clone(), alpha_bar)?,
                };
                ddim_step(
                    &self.schedule,
                    index,
                    x0.clone(),
                    eps,
                    eta,
                    final_alpha,
                    noise,
                )?
            }
        };
        Ok(StepOutput {
            prev_sample,
            pred_x0: x0,
        })
    }

    fn needs_noise(&self) -> bool {
        match self.method {
            Method::Ddpm(_) => true,
            Method::Ddim { eta, .. } => eta > 0.0,
        }
    }

    /// Runs the sampler and returns the final x₀ sample. Every random draw comes from `seed`
    /// (one stream for the whole batch), so equal seeds give equal results. `on_step` sees
    /// each step's result.
    pub fn sample<B, const D: usize, M>(
        &self,
        model: &mut M,
        init: Init<B, D>,
        seed: u64,
        on_step: impl FnMut(&StepInfo<'_, B, D>),
    ) -> Result<Tensor<B, D>>
    where
        B: Backend,
        M: Denoiser<B, D> + ?Sized,
    {
        self.sample_with(model, init, BatchNoise::shared(seed), on_step)
    }

    /// As [`Sampler::sample`], with one seed per batch item: item i's draws come only from
    /// `seeds[i]`, exactly as a batch-1 `sample` with that seed would draw them, so a batch
    /// gives what its items give alone (up to the rounding of batched model kernels). With a
    /// batch of one this is `sample` with `seeds[0]`, bit for bit.
    ///
    /// # Errors
    /// [`SamplerError::BatchMismatch`] unless there is one seed per batch item, and those of
    /// [`Sampler::sample`].
    pub fn sample_per_item<B, const D: usize, M>(
        &self,
        model: &mut M,
        init: Init<B, D>,
        seeds: &[u64],
        on_step: impl FnMut(&StepInfo<'_, B, D>),
    ) -> Result<Tensor<B, D>>
    where
        B: Backend,
        M: Denoiser<B, D> + ?Sized,
    {
        let batch = match &init {
            Init::Noise { shape, .. } => shape.first().copied(),
            Init::Latent { latent, .. } | Init::LatentAtTimestep { latent, .. } => {
                latent.dims().first().copied()
            }
            Init::Noisy { x_t, .. } => x_t.dims().first().copied(),
        }
        .unwrap_or(0);
        if batch != seeds.len() {
            return Err(SamplerError::BatchMismatch {
                what: "seeds",
                batch,
                got: seeds.len(),
            });
        }
        self.sample_with(model, init, BatchNoise::per_item(seeds), on_step)
    }

    /// As [`Sampler::sample`], drawing from `rng`: [`BatchNoise::shared`] is `sample`,
    /// [`BatchNoise::per_item`] is `sample_per_item` (whose batch is then checked at the first
    /// draw).
    ///
    /// # Errors
    /// Those of [`Sampler::sample_per_item`].
    pub fn sample_with<B, const D: usize, M>(
        &self,
        model: &mut M,
        init: Init<B, D>,
        mut rng: BatchNoise,
        mut on_step: impl FnMut(&StepInfo<'_, B, D>),
    ) -> Result<Tensor<B, D>>
    where
        B: Backend,
        M: Denoiser<B, D> + ?Sized,
    {
        let n = self.schedule.len();
        let check_steps = |steps: usize| {
            if steps == 0 {
                Err(SamplerError::InvalidOption {
                    name: "steps",
                    value: 0.0,
                    reason: "a run takes at least one step",
                })
            } else if steps > n {
                Err(SamplerError::TooManySteps {
                    requested: steps,
                    available: n,
                })
            } else {
                Ok(steps)
            }
        };
        // Eq. 1 at kept step `steps − 1`, with the run's first noise draw.
        let noised = |rng: &mut BatchNoise, latent: Tensor<B, D>, steps: usize| {
            let a = self.schedule.alphas_cumprod()[steps - 1];
            let noise = rng.gaussian_like(&latent)?;
            Ok::<_, SamplerError>(latent.mul_scalar(a.sqrt()) + noise.mul_scalar((1.0 - a).sqrt()))
        };
        let (mut x, total) = match init {
            Init::Noise { shape, options } => (rng.gaussian(shape, options)?, n),
            Init::Latent { latent, steps } => {
                let steps = check_steps(steps)?;
                (noised(&mut rng, latent, steps)?, steps)
            }
            Init::LatentAtTimestep { latent, timestep } => {
                let steps = self.schedule.index_at_or_below(timestep)? + 1;
                (noised(&mut rng, latent, steps)?, steps)
            }
            Init::Noisy { x_t, steps } => (x_t, check_steps(steps)?),
        };
        for (done, index) in (0..total).rev().enumerate() {
            let timestep = self.schedule.timesteps()[index];
            let output = self.guidance.predict(model, x.clone(), timestep);
            let noise = if index > 0 && self.needs_noise() {
                Some(rng.gaussian_like(&x)?)
            } else {
                None
            };
            let out = self.step(index, x, output, noise)?;
            on_step(&StepInfo {
                step: done + 1,
                total,
                index,
                timestep,
                sample: &out.prev_sample,
                pred_x0: &out.pred_x0,
            });
            x = out.prev_sample;
        }
        Ok(x)
    }
}
