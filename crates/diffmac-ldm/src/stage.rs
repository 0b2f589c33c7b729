//! One diffusion stage of the DID pipeline: SD's UNet modulated by an AdaIN control, sampled
//! with the spaced DDPM (Algorithm 1, lines 1–11 for Stage I and 13–31 for Stage II).
//!
//! It lives here, next to the UNet and the control it runs, because both the restorer and the
//! trainer (which samples Stage I's output `X_D1` to train Stage II on) sample stages.
//!
//! The control's `γⁱ`, `βⁱ` depend only on the manifold, not on the timestep, so they are
//! computed once per stage ([`AdaInControl::modulation`]) and reused at every step.

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor};
use diffmac_sampler::{BatchNoise, Condition, Denoiser, Init, Sampler, StepInfo};

use crate::control::{AdaInControl, ControlModulation};
use crate::unet::UNet2DConditionModel;

/// The ε-prediction of one stage: `ε_θ(z_t, c, t, control)`.
pub struct StageDenoiser<'a, B: Backend> {
    unet: &'a UNet2DConditionModel<B>,
    modulation: ControlModulation<B>,
    context: Tensor<B, 3>,
}

impl<'a, B: Backend> StageDenoiser<'a, B> {
    /// A denoiser for `unet` modulated by `control` on `control_input` (the manifold as the
    /// control reads it, `[N, C, h, w]`), conditioned on `context` (`[1 or N, 77, D]`, the
    /// empty prompt's text encoding).
    pub fn new(
        unet: &'a UNet2DConditionModel<B>,
        control: &AdaInControl<B>,
        control_input: Tensor<B, 4>,
        context: Tensor<B, 3>,
    ) -> Self {
        let n = control_input.dims()[0];
        let context = if context.dims()[0] == n {
            context
        } else {
            context.repeat_dim(0, n)
        };
        Self {
            unet,
            modulation: control.modulation(control_input),
            context,
        }
    }
}

impl<B: Backend> Denoiser<B, 4> for StageDenoiser<'_, B> {
    fn predict(&mut self, x_t: Tensor<B, 4>, timestep: usize, _: Condition) -> Tensor<B, 4> {
        let n = x_t.dims()[0];
        let device = x_t.device();
        // f32 whatever the model's precision: bf16 cannot hold every timestep above 256.
        let t = Tensor::<B, 1>::full([n], timestep as f64, (&device, DType::F32));
        self.unet
            .forward_modulated(x_t, t, self.context.clone(), &self.modulation)
    }
}

/// Samples one stage: the spaced sampler from `init` down to x̂₀ with [`StageDenoiser`],
/// every random draw from `noise` ([`Sampler::sample_with`]): a seed (one stream for the
/// batch) or [`BatchNoise::per_item`] (one seed per batch item, so that an item's latent does
/// not depend on the rest of its batch). Returns the latent in the UNet's scale (multiply by
/// `1 / scaling_factor` before decoding).
///
/// # Errors
/// Invalid sampler settings (e.g. more steps than the schedule keeps), or per-item noise
/// without one seed per batch item.
#[allow(clippy::too_many_arguments)]
pub fn sample_stage<B: Backend>(
    unet: &UNet2DConditionModel<B>,
    control: &AdaInControl<B>,
    control_input: Tensor<B, 4>,
    context: Tensor<B, 3>,
    sampler: &Sampler,
    init: Init<B, 4>,
    noise: impl Into<BatchNoise>,
    on_step: impl FnMut(&StepInfo<'_, B, 4>),
) -> diffmac_sampler::Result<Tensor<B, 4>> {
    let mut denoiser = StageDenoiser::new(unet, control, control_input, context);
    sampler.sample_with(&mut denoiser, init, noise.into(), on_step)
}
