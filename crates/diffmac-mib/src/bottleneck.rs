//! The manifold information bottleneck (eqs. 7–9; Algorithm 1 lines 17–21).

use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Device, Tensor, TensorData};
use diffmac_ldm::vae::DiagonalGaussian;

use crate::config::{InjectionKind, MibConfig};
use crate::error::{MibError, Result};
use crate::filter::InformationFilter;
use crate::identity::IdentityModulation;
use crate::stats::QcStats;

/// What fills the `1 − λ` share of the manifold in one forward pass.
#[derive(Debug, Clone)]
pub enum Injection<B: Backend> {
    /// Identity embeddings `[N, D]` from `F_ID` (of `X_D1`, line 18), or `[1, D]`: one
    /// reference identity of another face for the whole batch (Fig. 10).
    Identity(Tensor<B, 2>),
    /// Standard-normal noise `n` `[N, C, h, w]`; the injection is
    /// `ε = μ_QC + max(σ_QC, o) · n`, a draw from `N(μ_M, σ_M²)`.
    Noise(Tensor<B, 4>),
    /// Nothing: `Z = λ · R`.
    None,
}

impl InjectionKind {
    /// The injection of this kind. `identity` is called only for [`InjectionKind::Identity`]
    /// (`None`: no identity encoder, so nothing is injected) and `noise`, the standard-normal
    /// noise shaped like `R`, only for [`InjectionKind::Noise`]: a caller's random stream
    /// advances only when noise is injected.
    ///
    /// # Errors
    /// What `identity` or `noise` returns.
    pub fn injection<B: Backend, E>(
        self,
        identity: impl FnOnce() -> std::result::Result<Option<Tensor<B, 2>>, E>,
        noise: impl FnOnce() -> std::result::Result<Tensor<B, 4>, E>,
    ) -> std::result::Result<Injection<B>, E> {
        Ok(match self {
            Self::Identity => identity()?.map_or(Injection::None, Injection::Identity),
            Self::Noise => Injection::Noise(noise()?),
            Self::None => Injection::None,
        })
    }
}

impl<B: Backend> Injection<B> {
    /// The kind of this injection.
    pub fn kind(&self) -> InjectionKind {
        match self {
            Self::Identity(_) => InjectionKind::Identity,
            Self::Noise(_) => InjectionKind::Noise,
            Self::None => InjectionKind::None,
        }
    }
}

/// Everything one pass of the bottleneck computes (all `[N, C, h, w]`).
#[derive(Debug, Clone)]
pub struct MibOutput<B: Backend> {
    /// `Z = λ · R + (1 − λ) · F_N` (eq. 9, line 21): the optimised manifold, 8 channels
    /// like the QC output (mean and log-variance halves).
    pub z: Tensor<B, 4>,
    /// The filter `λ` (line 20).
    pub lambda: Tensor<B, 4>,
    /// The filter's logits `Conv(F_R)` (for a numerically stable `L_info`).
    pub lambda_logits: Tensor<B, 4>,
    /// `F_R = (R − μ_QC) / max(σ_QC, o)` (line 17).
    pub f_r: Tensor<B, 4>,
    /// The injected manifold `F_N` (line 19; zeros for [`Injection::None`]).
    pub f_n: Tensor<B, 4>,
}

impl<B: Backend> MibOutput<B> {
    /// `Z` as the VAE's posterior (line 23): its first half of channels the mean, the second
    /// the log-variance (clamped as the VAE does). The control of Stage II reads it (line 27).
    pub fn z_distribution(&self) -> DiagonalGaussian<B> {
        DiagonalGaussian::from_moments(self.z.clone())
    }
}

/// The bottleneck's trainable layers (filter, identity FCs) and the dataset statistics
/// `μ_QC`, `max(σ_QC, o)`, which are kept as parameters that never require gradients so that
/// they are saved with the model.
#[derive(Module, Debug)]
pub struct ManifoldBottleneck<B: Backend> {
    /// `λ = Sigmoid(Conv(F_R))`.
    pub filter: InformationFilter<B>,
    /// `σ_ID`, `μ_ID` from the identity embedding; present for identity injection only.
    pub identity: Option<IdentityModulation<B>>,
    /// `μ_QC` `[C]` (frozen).
    pub qc_mean: Param<Tensor<B, 1>>,
    /// `max(σ_QC, o)` `[C]` (frozen).
    pub qc_std: Param<Tensor<B, 1>>,
}

impl MibConfig {
    /// A fresh bottleneck for `stats` (its channel count must be `channels`).
    ///
    /// # Errors
    /// [`MibError::Invalid`] for statistics that do not fit, an even filter kernel or a
    /// non-positive `min_std`.
    pub fn init<B: Backend>(
        &self,
        stats: &QcStats,
        device: &Device<B>,
    ) -> Result<ManifoldBottleneck<B>> {
        stats.check(self.channels)?;
        if self.filter_kernel.is_multiple_of(2) {
            return Err(MibError::Invalid(format!(
                "filter_kernel must be odd, got {}",
                self.filter_kernel
            )));
        }
        if self.min_std.is_nan() || self.min_std <= 0.0 {
            return Err(MibError::Invalid(format!(
                "min_std must be positive, got {}",
                self.min_std
            )));
        }
        let c = self.channels;
        let vec = |v: Vec<f32>| {
            Param::from_tensor(Tensor::from_data(TensorData::new(v, [c]), device))
                .set_require_grad(false)
        };
        let mean: Vec<f32> = stats.mean.iter().map(|&m| m as f32).collect();
        let std: Vec<f32> = stats
            .std
            .iter()
            .map(|&s| s.max(self.min_std) as f32)
            .collect();
        Ok(ManifoldBottleneck {
            filter: InformationFilter::init(c, self.filter_kernel, device),
            identity: (self.injection == InjectionKind::Identity)
                .then(|| IdentityModulation::init(self.identity_dim, c, device)),
            qc_mean: vec(mean),
            qc_std: vec(std),
        })
    }
}

impl<B: Backend> ManifoldBottleneck<B> {
    /// Channels of the manifold.
    pub fn channels(&self) -> usize {
        self.qc_mean.dims()[0]
    }

    /// The statistics the module holds, for writing next to its weights
    /// ([`QcStats::save`]); `std` is the floored `max(σ_QC, o)`, `count` and `images` are 0
    /// (not kept in the module).
    pub fn qc_stats(&self) -> QcStats {
        let read = |p: &Param<Tensor<B, 1>>| {
            p.val()
                .into_data()
                .convert::<f64>()
                .to_vec::<f64>()
                .expect("f64 values")
        };
        QcStats {
            mean: read(&self.qc_mean),
            std: read(&self.qc_std),
            count: 0,
            images: 0,
        }
    }

    /// `μ_QC` and `max(σ_QC, o)` as `[1, C, 1, 1]`, ready to broadcast.
    fn stats4(&self) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let c = self.channels();
        (
            self.qc_mean.val().reshape([1, c, 1, 1]),
            self.qc_std.val().reshape([1, c, 1, 1]),
        )
    }

    /// `F_R = (R − μ_QC) / max(σ_QC, o)` (line 17): `[N, C, h, w]` → same shape.
    pub fn normalise(&self, r: Tensor<B, 4>) -> Tensor<B, 4> {
        let (mean, std) = self.stats4();
        (r - mean) / std
    }

    /// The bottleneck on the QC output `r` = `R` `[N, C, h, w]` (of `E(X_D1)`, line 16).
    ///
    /// # Errors
    /// [`MibError::InvalidInput`] if `r` has the wrong channel count, the injection's shape
    /// does not fit, or identity injection is asked of a bottleneck built without it.
    pub fn forward(&self, r: Tensor<B, 4>, injection: Injection<B>) -> Result<MibOutput<B>> {
        let [n, c, h, w] = r.dims();
        if c != self.channels() {
            return Err(MibError::InvalidInput(format!(
                "R has {c} channels, the bottleneck takes {}",
                self.channels()
            )));
        }
        let f_r = self.normalise(r.clone());
        let f_n = match injection {
            Injection::Identity(embedding) => {
                let Some(id) = &self.identity else {
                    return Err(MibError::InvalidInput(
                        "identity injection asked of a bottleneck built without identity layers"
                            .into(),
                    ));
                };
                let [m, d] = embedding.dims();
                if (m != n && m != 1) || d != id.identity_dim() {
                    return Err(MibError::InvalidInput(format!(
                        "identity embedding is [{m}, {d}], expected [{n} or 1, {}]",
                        id.identity_dim()
                    )));
                }
                id.modulate(f_r.clone(), embedding)
            }
            Injection::Noise(noise) => {
                if noise.dims() != [n, c, h, w] {
                    return Err(MibError::InvalidInput(format!(
                        "noise is {:?}, R is {:?}",
                        noise.dims(),
                        [n, c, h, w]
                    )));
                }
                let (mean, std) = self.stats4();
                noise * std + mean
            }
            Injection::None => r.zeros_like(),
        };
        let lambda_logits = self.filter.logits(f_r.clone());
        let lambda = burn::tensor::activation::sigmoid(lambda_logits.clone());
        let z = lambda.clone() * r + (lambda.clone().neg() + 1.0) * f_n.clone();
        Ok(MibOutput {
            z,
            lambda,
            lambda_logits,
            f_r,
            f_n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type B = burn::backend::Flex;

    fn build(
        kind: InjectionKind,
        identity: Option<Tensor<B, 2>>,
        calls: &mut Vec<&'static str>,
    ) -> Injection<B> {
        let device = Default::default();
        let mut asked = Vec::new();
        let injection = kind
            .injection::<B, ()>(
                || {
                    asked.push("identity");
                    Ok(identity)
                },
                || Ok(Tensor::ones([1, 2, 1, 1], &device)),
            )
            .unwrap();
        calls.extend(asked);
        injection
    }

    #[test]
    fn each_kind_builds_its_injection_and_asks_only_for_what_it_needs() {
        let device = Default::default();
        let mut calls = Vec::new();
        let id = Tensor::<B, 2>::ones([1, 4], &device);
        for kind in [
            InjectionKind::Identity,
            InjectionKind::Noise,
            InjectionKind::None,
        ] {
            assert_eq!(build(kind, Some(id.clone()), &mut calls).kind(), kind);
        }
        assert_eq!(calls, ["identity"]);
        // No identity encoder: nothing is injected.
        let none = build(InjectionKind::Identity, None, &mut calls);
        assert_eq!(none.kind(), InjectionKind::None);
        // A failing source's error is returned.
        let err = InjectionKind::Noise.injection::<B, &str>(|| Ok(None), || Err("no noise"));
        assert!(matches!(err, Err("no noise")));
    }
}
