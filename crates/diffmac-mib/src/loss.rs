//! The bottleneck's losses: `L_info` (eq. 11), `L_rec` (eq. 10) and the Stage II total
//! (eq. 13).

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::bottleneck::MibOutput;
use crate::config::MibConfig;

/// `softplus(a) = log(1 + eˢ)`, computed without overflow as `max(a, 0) + log1p(e^(−|a|))`.
fn softplus<B: Backend, const D: usize>(a: Tensor<B, D>) -> Tensor<B, D> {
    a.clone().clamp_min(0.0) + a.abs().neg().exp().log1p()
}

/// The KL divergence of eq. 11 per element, from the filter logits `a` (`λ = sigmoid(a)`)
/// and `F_R = (R − μ_R) / σ_R` (same shape):
///
/// ```text
/// KL[N(λR + (1−λ)μ_R, (1−λ)²σ_R²) ‖ N(μ_R, σ_R²)] = −log(1−λ) + ½[(1−λ)² + (λ F_R)² − 1]
/// ```
///
/// `−log(1 − λ) = softplus(a)` keeps it finite when `λ` rounds to 1. (The paper prints the
/// first term as `−log(1−λ)²`; the divergence itself has `−½ log(1−λ)²`, see `docs/mib.md`.)
pub fn kl_elements<B: Backend, const D: usize>(
    lambda_logits: Tensor<B, D>,
    f_r: Tensor<B, D>,
) -> Tensor<B, D> {
    let lambda = burn::tensor::activation::sigmoid(lambda_logits.clone());
    let keep = lambda.clone().neg() + 1.0;
    let shifted = lambda * f_r;
    softplus(lambda_logits) + (keep.square() + shifted.square() - 1.0) * 0.5
}

/// `L_info = I(Z; R)` (eq. 11, line 22): the mean over all elements of [`kl_elements`]
/// → `[1]`.
pub fn info_loss<B: Backend>(out: &MibOutput<B>) -> Tensor<B, 1> {
    kl_elements(out.lambda_logits.clone(), out.f_r.clone()).mean()
}

/// `L_rec = ‖Z − E(X_HQ)‖²` (eq. 10, line 25), as the mean squared difference over all
/// elements: `z`, `target` `[N, C, h, w]` → `[1]`. The paper's reading passes `Z` and the
/// HQ face's QC output (both 8-channel moments).
pub fn rec_loss<B: Backend>(z: Tensor<B, 4>, target: Tensor<B, 4>) -> Tensor<B, 1> {
    (z - target).square().mean()
}

/// The terms of the Stage II loss (eq. 13), each `[1]`.
#[derive(Debug, Clone)]
pub struct Stage2Loss<B: Backend> {
    /// `L_ldm² + λ_info · L_info + λ_rec · L_rec`.
    pub total: Tensor<B, 1>,
    /// `L_ldm²`, the noise-prediction loss of the second diffusion.
    pub ldm: Tensor<B, 1>,
    /// `L_info` (unweighted).
    pub info: Tensor<B, 1>,
    /// `L_rec` (unweighted).
    pub rec: Tensor<B, 1>,
}

/// Eq. 13 from the second diffusion's loss `ldm` `[1]`, the bottleneck's output and the HQ
/// face's QC output `hq_moments` `[N, C, h, w]`, weighted by `config.lambda_info` and
/// `config.lambda_rec`.
pub fn stage2_loss<B: Backend>(
    ldm: Tensor<B, 1>,
    out: &MibOutput<B>,
    hq_moments: Tensor<B, 4>,
    config: &MibConfig,
) -> Stage2Loss<B> {
    let info = info_loss(out);
    let rec = rec_loss(out.z.clone(), hq_moments);
    let total = ldm.clone() + info.clone() * config.lambda_info + rec.clone() * config.lambda_rec;
    Stage2Loss {
        total,
        ldm,
        info,
        rec,
    }
}
