//! What the denoiser predicts (ε, v or x₀) and the exact conversions between them.
//!
//! With x_t = √ᾱ x₀ + √(1−ᾱ) ε (eq. 1) and v = √ᾱ ε − √(1−ᾱ) x₀ (Salimans & Ho), any one of
//! ε, v, x₀ together with x_t determines the other two. SD 2.1-base predicts ε, SD 2.1-768
//! predicts v; DiffMAC's eq. 5 is [`x0_from_eps`].

use std::str::FromStr;

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::error::{Result, SamplerError};

/// The quantity a denoiser outputs (diffusers' `prediction_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PredictionType {
    /// The noise ε (SD 2.1-base, DiffMAC).
    #[default]
    Epsilon,
    /// The velocity v = √ᾱ ε − √(1−ᾱ) x₀ (SD 2.1-768).
    VPrediction,
    /// The clean sample x₀ itself (diffusers' `sample`).
    Sample,
}

impl FromStr for PredictionType {
    type Err = SamplerError;

    /// Parses diffusers' names: `epsilon`, `v_prediction`, `sample`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "epsilon" => Ok(Self::Epsilon),
            "v_prediction" => Ok(Self::VPrediction),
            "sample" => Ok(Self::Sample),
            other => Err(SamplerError::UnknownPredictionType(other.to_string())),
        }
    }
}

impl PredictionType {
    /// x₀ implied by the model `output` at x_t.
    pub fn to_x0<B: Backend, const D: usize>(
        self,
        x_t: Tensor<B, D>,
        output: Tensor<B, D>,
        alpha_bar: impl Into<AlphaBar>,
    ) -> Result<Tensor<B, D>> {
        match self {
            Self::Epsilon => x0_from_eps(x_t, output, alpha_bar),
            Self::VPrediction => x0_from_v(x_t, output, alpha_bar),
            Self::Sample => Ok(output),
        }
    }

    /// ε implied by the model `output` at x_t.
    pub fn to_eps<B: Backend, const D: usize>(
        self,
        x_t: Tensor<B, D>,
        output: Tensor<B, D>,
        alpha_bar: impl Into<AlphaBar>,
    ) -> Result<Tensor<B, D>> {
        match self {
            Self::Epsilon => Ok(output),
            Self::VPrediction => eps_from_v(x_t, output, alpha_bar),
            Self::Sample => eps_from_x0(x_t, output, alpha_bar),
        }
    }

    /// The training target for this prediction type, given the clean sample and the noise
    /// that produced x_t.
    pub fn target<B: Backend, const D: usize>(
        self,
        x0: Tensor<B, D>,
        noise: Tensor<B, D>,
        alpha_bar: impl Into<AlphaBar>,
    ) -> Result<Tensor<B, D>> {
        match self {
            Self::Epsilon => Ok(noise),
            Self::VPrediction => v_from_x0_eps(x0, noise, alpha_bar),
            Self::Sample => Ok(x0),
        }
    }
}

/// ᾱ for a conversion: one value for the whole batch, or one per sample (dimension 0).
#[derive(Debug, Clone, PartialEq)]
pub enum AlphaBar {
    /// Every sample is at the same timestep.
    Shared(f64),
    /// Sample i is at ᾱ = `values[i]` (training batches with per-sample t).
    PerSample(Vec<f64>),
}

impl From<f64> for AlphaBar {
    fn from(value: f64) -> Self {
        Self::Shared(value)
    }
}

impl From<Vec<f64>> for AlphaBar {
    fn from(values: Vec<f64>) -> Self {
        Self::PerSample(values)
    }
}

impl From<&[f64]> for AlphaBar {
    fn from(values: &[f64]) -> Self {
        Self::PerSample(values.to_vec())
    }
}

impl AlphaBar {
    /// `x` times f(ᾱ), with f(ᾱ) broadcast over each sample; coefficients are computed in f64
    /// and cast once to the tensor's dtype.
    pub(crate) fn scale<B: Backend, const D: usize>(
        &self,
        x: Tensor<B, D>,
        f: impl Fn(f64) -> f64,
    ) -> Result<Tensor<B, D>> {
        match self {
            Self::Shared(a) => Ok(x.mul_scalar(f(*a))),
            Self::PerSample(values) => {
                let batch = x.dims()[0];
                if values.len() != batch {
                    return Err(SamplerError::BatchMismatch {
                        what: "alpha_bar",
                        batch,
                        got: values.len(),
                    });
                }
                let mut shape = [1usize; D];
                shape[0] = batch;
                let coefs: Vec<f64> = values.iter().map(|a| f(*a)).collect();
                let coefs = Tensor::<B, D>::from_data(
                    TensorData::new(coefs, shape),
                    (&x.device(), x.dtype()),
                );
                Ok(x * coefs)
            }
        }
    }
}

/// `ShapeMismatch` unless `b` (the argument named `what`) has `a`'s shape: a mismatch would
/// otherwise broadcast silently or panic inside the backend.
pub(crate) fn same_shape<B: Backend, const D: usize>(
    what: &'static str,
    a: &Tensor<B, D>,
    b: &Tensor<B, D>,
) -> Result<()> {
    if a.dims() != b.dims() {
        return Err(SamplerError::ShapeMismatch {
            what,
            expected: a.dims().to_vec(),
            got: b.dims().to_vec(),
        });
    }
    Ok(())
}

/// Checks a step's optional noise against the sample's shape.
pub(crate) fn check_noise<B: Backend, const D: usize>(
    sample: &Tensor<B, D>,
    noise: Option<&Tensor<B, D>>,
) -> Result<()> {
    noise.map_or(Ok(()), |noise| same_shape("noise", sample, noise))
}

/// Eq. 5: z̃₀ = z_t / √ᾱ − √(1−ᾱ) ε / √ᾱ.
pub fn x0_from_eps<B: Backend, const D: usize>(
    x_t: Tensor<B, D>,
    eps: Tensor<B, D>,
    alpha_bar: impl Into<AlphaBar>,
) -> Result<Tensor<B, D>> {
    same_shape("eps", &x_t, &eps)?;
    let a = alpha_bar.into();
    Ok(a.scale(x_t, |a| 1.0 / a.sqrt())? - a.scale(eps, |a| (1.0 - a).sqrt() / a.sqrt())?)
}

/// ε = (x_t − √ᾱ x₀) / √(1−ᾱ).
pub fn eps_from_x0<B: Backend, const D: usize>(
    x_t: Tensor<B, D>,
    x0: Tensor<B, D>,
    alpha_bar: impl Into<AlphaBar>,
) -> Result<Tensor<B, D>> {
    same_shape("x0", &x_t, &x0)?;
    let a = alpha_bar.into();
    Ok(a.scale(x_t, |a| 1.0 / (1.0 - a).sqrt())? - a.scale(x0, |a| a.sqrt() / (1.0 - a).sqrt())?)
}

/// x₀ = √ᾱ x_t − √(1−ᾱ) v.
pub fn x0_from_v<B: Backend, const D: usize>(
    x_t: Tensor<B, D>,
    v: Tensor<B, D>,
    alpha_bar: impl Into<AlphaBar>,
) -> Result<Tensor<B, D>> {
    same_shape("v", &x_t, &v)?;
    let a = alpha_bar.into();
    Ok(a.scale(x_t, f64::sqrt)? - a.scale(v, |a| (1.0 - a).sqrt())?)
}

/// ε = √ᾱ v + √(1−ᾱ) x_t.
pub fn eps_from_v<B: Backend, const D: usize>(
    x_t: Tensor<B, D>,
    v: Tensor<B, D>,
    alpha_bar: impl Into<AlphaBar>,
) -> Result<Tensor<B, D>> {
    same_shape("v", &x_t, &v)?;
    let a = alpha_bar.into();
    Ok(a.scale(v, f64::sqrt)? + a.scale(x_t, |a| (1.0 - a).sqrt())?)
}

/// v = √ᾱ ε − √(1−ᾱ) x₀ (the v-prediction training target).
pub fn v_from_x0_eps<B: Backend, const D: usize>(
    x0: Tensor<B, D>,
    eps: Tensor<B, D>,
    alpha_bar: impl Into<AlphaBar>,
) -> Result<Tensor<B, D>> {
    same_shape("eps", &x0, &eps)?;
    let a = alpha_bar.into();
    Ok(a.scale(eps, f64::sqrt)? - a.scale(x0, |a| (1.0 - a).sqrt())?)
}
