//! Identity modulation (eq. 8; Algorithm 1 lines 18–19).

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{Device, Tensor};
use diffmac_ldm::nn::Linear;

use crate::init;

/// Two fully connected layers from an identity embedding to the per-channel scale
/// `σ_ID` (the paper's `γ_id`) and shift `μ_ID` (`β_id`) of the normalised manifold:
/// `F_N = F_R · σ_ID + μ_ID` (line 19), i.e. `ε_id = γ_id ⊙ M_I + β_id` (eq. 8).
#[derive(Module, Debug)]
pub struct IdentityModulation<B: Backend> {
    /// Embedding → `σ_ID` (`γ_id`), the scale.
    pub fc_sigma: Linear<B>,
    /// Embedding → `μ_ID` (`β_id`), the shift.
    pub fc_mu: Linear<B>,
}

impl<B: Backend> IdentityModulation<B> {
    /// Fresh layers `identity_dim → channels` (PyTorch's default initialisation).
    pub fn init(identity_dim: usize, channels: usize, device: &Device<B>) -> Self {
        Self {
            fc_sigma: init::linear(identity_dim, channels, device),
            fc_mu: init::linear(identity_dim, channels, device),
        }
    }

    /// Width of the embedding the layers take.
    pub fn identity_dim(&self) -> usize {
        self.fc_sigma.weight.dims()[0]
    }

    /// Embedding `[N, D]` → `(σ_ID, μ_ID)`, each `[N, C]`.
    pub fn forward(&self, embedding: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 2>) {
        (
            self.fc_sigma.forward(embedding.clone()),
            self.fc_mu.forward(embedding),
        )
    }

    /// `F_N = F_R · σ_ID + μ_ID`: `f_r` `[N, C, h, w]`, embedding `[N, D]` (or `[1, D]`, one
    /// reference identity for the whole batch) → `[N, C, h, w]`.
    pub fn modulate(&self, f_r: Tensor<B, 4>, embedding: Tensor<B, 2>) -> Tensor<B, 4> {
        let (sigma, mu) = self.forward(embedding);
        let [n, c] = sigma.dims();
        f_r * sigma.reshape([n, c, 1, 1]) + mu.reshape([n, c, 1, 1])
    }
}
