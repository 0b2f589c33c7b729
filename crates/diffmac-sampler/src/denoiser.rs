//! The one thing the samplers need from a model: its prediction at (x_t, t).
//!
//! A trait rather than a model type keeps this crate free of any network code: SD's UNet with
//! DiffMAC's AdaIN control, a test's analytic formula and a closure all plug in the same way.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// Which branch of classifier-free guidance a call is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// With the conditioning (DiffMAC: the empty prompt plus the AdaIN features). The only
    /// branch used when guidance is off.
    Conditional,
    /// Without it (the "null" prompt of classifier-free guidance).
    Unconditional,
}

/// A model that predicts ε, v or x₀ (see [`PredictionType`](crate::PredictionType)) for a
/// noisy batch.
pub trait Denoiser<B: Backend, const D: usize> {
    /// The prediction for `x_t`, every sample at training timestep `timestep` (0..T, the
    /// original timestep even when sampling a respaced process).
    fn predict(&mut self, x_t: Tensor<B, D>, timestep: usize, condition: Condition)
    -> Tensor<B, D>;

    /// Both guidance branches, (unconditional, conditional). The default makes two calls;
    /// a model can override it to run both in one batch.
    fn predict_pair(&mut self, x_t: Tensor<B, D>, timestep: usize) -> (Tensor<B, D>, Tensor<B, D>) {
        let uncond = self.predict(x_t.clone(), timestep, Condition::Unconditional);
        let cond = self.predict(x_t, timestep, Condition::Conditional);
        (uncond, cond)
    }
}

/// Any `FnMut(x_t, timestep) -> prediction` is an unconditional-only denoiser: it ignores
/// [`Condition`], so guidance on it changes nothing but costs a second call.
impl<B, const D: usize, F> Denoiser<B, D> for F
where
    B: Backend,
    F: FnMut(Tensor<B, D>, usize) -> Tensor<B, D>,
{
    fn predict(&mut self, x_t: Tensor<B, D>, timestep: usize, _: Condition) -> Tensor<B, D> {
        self(x_t, timestep)
    }
}
