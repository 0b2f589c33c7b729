//! Timestep embeddings of the UNet.

use burn::module::Module;
use burn::tensor::activation::silu;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor};

use crate::error::Result;
use crate::loader::VarBuilder;
use crate::nn::Linear;

/// Sinusoidal embedding of (possibly fractional) timesteps, as diffusers'
/// `get_timestep_embedding` computes it in f32 (same operation order, so the
/// phases agree to the last bit wherever the backend's `exp` does).
///
/// `timesteps` `[B]` → `[B, dim]` in f32: `[cos | sin]` if `flip_sin_to_cos`, else `[sin | cos]`.
pub fn timestep_embedding<B: Backend>(
    timesteps: Tensor<B, 1>,
    dim: usize,
    flip_sin_to_cos: bool,
    freq_shift: f64,
) -> Tensor<B, 2> {
    let device = timesteps.device();
    let half = dim / 2;
    let exponent = Tensor::<B, 1, burn::tensor::Int>::arange(0..half as i64, &device)
        .float()
        .cast(DType::F32)
        * (-(10000f64.ln()));
    let exponent = exponent / (half as f64 - freq_shift);
    let freqs = exponent.exp();
    let args = timesteps.cast(DType::F32).unsqueeze_dim::<2>(1) * freqs.unsqueeze_dim::<2>(0);
    let (sin, cos) = (args.clone().sin(), args.cos());
    let emb = if flip_sin_to_cos {
        Tensor::cat(vec![cos, sin], 1)
    } else {
        Tensor::cat(vec![sin, cos], 1)
    };
    if dim % 2 == 1 {
        let [b, _] = emb.dims();
        Tensor::cat(vec![emb, Tensor::zeros([b, 1], (&device, DType::F32))], 1)
    } else {
        emb
    }
}

/// The MLP that maps the sinusoidal embedding to the ResNets' time features
/// (`time_embedding.linear_1`, SiLU, `time_embedding.linear_2`).
#[derive(Module, Debug)]
pub struct TimestepEmbedding<B: Backend> {
    /// `in → time_embed_dim`.
    pub linear_1: Linear<B>,
    /// `time_embed_dim → time_embed_dim`.
    pub linear_2: Linear<B>,
}

impl<B: Backend> TimestepEmbedding<B> {
    /// Loads `linear_1` and `linear_2` under `vb`.
    ///
    /// # Errors
    /// A loader error naming the missing or mis-shaped key.
    pub fn load(vb: &VarBuilder<B>, in_dim: usize, time_embed_dim: usize) -> Result<Self> {
        Ok(Self {
            linear_1: Linear::load(&vb.pp("linear_1"), in_dim, time_embed_dim, true)?,
            linear_2: Linear::load(&vb.pp("linear_2"), time_embed_dim, time_embed_dim, true)?,
        })
    }

    /// `[B, in]` → `[B, time_embed_dim]`.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.linear_2.forward(silu(self.linear_1.forward(x)))
    }
}
