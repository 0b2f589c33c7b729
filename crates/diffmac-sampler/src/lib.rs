//! Noise schedules, spaced DDPM and DDIM sampling, and the x₀ estimate of DiffMAC (eqs. 1 and 5).
//!
//! Both DiffMAC stages sample Stable Diffusion 2.1's latent space with "spaced DDPM sampling
//! with 50 timesteps" (paper §4.1.1) and read off z̃₀ by eq. 5; training noises latents by
//! eq. 1. This crate owns that math and nothing else: it talks to any model through the
//! [`Denoiser`] trait (a closure will do), and is generic over `B: Backend`.
//!
//! | concept | module |
//! |---|---|
//! | β schedules (`scaled_linear`, `linear`, cosine), ᾱ_t | [`schedule`] |
//! | diffusers `scheduler_config.json` | [`config`] |
//! | improved-DDPM respacing, diffusers `leading` / `trailing` / `linspace` | [`respace`] |
//! | ε / v / x₀ conversions, eq. 5 | [`prediction`] |
//! | forward process q(z_t \| z_0), eq. 1 | [`forward`] |
//! | ancestral step (fixed-small / fixed-large) | [`ddpm`] |
//! | DDIM step (η) | [`ddim`] |
//! | classifier-free guidance | [`guidance`] |
//! | the loop, start from noise or from a latent, callbacks | [`sampler`] |
//!
//! Schedule math is f64; tensors keep whatever dtype they arrive in. Randomness is drawn on
//! the host from a seed ([`NoiseRng`]), so a run is reproducible across backends; with
//! [`Sampler::sample_per_item`] each batch item has its own seed ([`BatchNoise`]), so its
//! result does not depend on the batch it is in.
//!
//! ```
//! use burn::backend::Flex;
//! use burn::tensor::{Device, Tensor};
//! use diffmac_sampler::{Init, Sampler};
//!
//! let device: Device<Flex> = Default::default();
//! // DiffMAC's sampler: SD 2.1 schedule, 50 spaced DDPM steps, ε prediction.
//! let sampler = Sampler::paper();
//! // A stand-in denoiser that predicts zero noise.
//! let mut model = |x: Tensor<Flex, 4>, _t: usize| x.zeros_like();
//! let init = Init::Noise { shape: [1, 4, 8, 8], options: (&device).into() };
//! let z0 = sampler.sample(&mut model, init, 42, |_| {}).unwrap();
//! assert_eq!(z0.dims(), [1, 4, 8, 8]);
//! ```

pub mod config;
pub mod ddim;
pub mod ddpm;
pub mod denoiser;
pub mod error;
pub mod forward;
pub mod guidance;
pub mod noise;
pub mod prediction;
pub mod respace;
pub mod sampler;
pub mod schedule;

pub use config::SchedulerConfig;
pub use ddim::FinalAlpha;
pub use ddpm::VarianceType;
pub use denoiser::{Condition, Denoiser};
pub use error::{Result, SamplerError};
pub use forward::{add_noise, velocity};
pub use guidance::Guidance;
pub use noise::{BatchNoise, NoiseRng};
pub use prediction::{AlphaBar, PredictionType, x0_from_eps};
pub use respace::{SpacedSchedule, Spacing};
pub use sampler::{Init, Method, Sampler, StepInfo, StepOutput};
pub use schedule::{BetaSchedule, NoiseSchedule};
