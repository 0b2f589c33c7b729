//! Classifier-free guidance: out = uncond + s · (cond − uncond).
//!
//! DiffMAC samples with the empty prompt and no guidance, so scale 1 takes the conditional
//! prediction directly: one denoiser call per step, not two. Scale 0 is the unconditional
//! prediction alone, and likewise costs one call.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::denoiser::{Condition, Denoiser};
use crate::error::{Result, SamplerError};

/// A classifier-free guidance scale s; 1 means no guidance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Guidance {
    scale: f64,
}

impl Default for Guidance {
    fn default() -> Self {
        Self::NONE
    }
}

impl Guidance {
    /// No guidance: the conditional prediction, one call per step.
    pub const NONE: Self = Self { scale: 1.0 };

    /// Guidance with scale `scale` (finite; 0 gives the unconditional prediction).
    pub fn new(scale: f64) -> Result<Self> {
        if !scale.is_finite() {
            return Err(SamplerError::InvalidOption {
                name: "guidance scale",
                value: scale,
                reason: "must be finite",
            });
        }
        Ok(Self { scale })
    }

    /// The scale s.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// True when a step needs both branches (any scale but 1 and 0).
    pub fn is_active(&self) -> bool {
        self.scale != 1.0 && self.scale != 0.0
    }

    /// The guided prediction for `x_t` at `timestep`.
    pub fn predict<B: Backend, const D: usize, M: Denoiser<B, D> + ?Sized>(
        &self,
        model: &mut M,
        x_t: Tensor<B, D>,
        timestep: usize,
    ) -> Tensor<B, D> {
        if self.scale == 1.0 {
            return model.predict(x_t, timestep, Condition::Conditional);
        }
        if self.scale == 0.0 {
            // uncond + 0 · (cond − uncond): the conditional branch would be thrown away.
            return model.predict(x_t, timestep, Condition::Unconditional);
        }
        let (uncond, cond) = model.predict_pair(x_t, timestep);
        uncond.clone() + (cond - uncond).mul_scalar(self.scale)
    }
}
