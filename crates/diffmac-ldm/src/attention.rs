//! Attention layers: multi-head (cross-)attention, the GEGLU feed-forward, the transformer
//! block, `Transformer2DModel`, and the single-head spatial attention of the VAE.

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::error::Result;
use crate::loader::VarBuilder;
use crate::nn::{Conv2d, GroupNorm, LayerNorm, Linear};

/// The head split, merge and scaled dot-product attention that the CLIP text encoder runs with
/// its causal mask (the UNet and VAE call [`diffmac_ops::attention`] on tokens directly).
pub(crate) use diffmac_ops::generic::{merge_heads, sdpa, split_heads};

/// diffusers' `Attention` as the UNet uses it: bias-free `to_q`/`to_k`/`to_v`, biased
/// `to_out.0`, `heads` heads of width `dim_head`.
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    /// Query projection.
    pub to_q: Linear<B>,
    /// Key projection (from the context for cross-attention).
    pub to_k: Linear<B>,
    /// Value projection.
    pub to_v: Linear<B>,
    /// Output projection (`to_out.0`; `to_out.1` is dropout).
    pub to_out: Vec<Linear<B>>,
    /// Number of heads.
    pub heads: usize,
    /// Scores and softmax in f32.
    pub upcast: bool,
}

impl<B: Backend> Attention<B> {
    /// Loads an attention layer; `context_dim` is `None` for self-attention.
    ///
    /// # Errors
    /// A loader error naming the missing or mis-shaped key.
    pub fn load(
        vb: &VarBuilder<B>,
        query_dim: usize,
        context_dim: Option<usize>,
        heads: usize,
        dim_head: usize,
        upcast: bool,
    ) -> Result<Self> {
        let inner = heads * dim_head;
        let ctx = context_dim.unwrap_or(query_dim);
        Ok(Self {
            to_q: Linear::load(&vb.pp("to_q"), query_dim, inner, false)?,
            to_k: Linear::load(&vb.pp("to_k"), ctx, inner, false)?,
            to_v: Linear::load(&vb.pp("to_v"), ctx, inner, false)?,
            to_out: vec![Linear::load(
                &vb.pp("to_out").pp(0),
                inner,
                query_dim,
                true,
            )?],
            heads,
            upcast,
        })
    }

    /// `x` `[B, N, query_dim]`, `context` `[B, M, context_dim]` (self-attention if `None`)
    /// → `[B, N, query_dim]`.
    pub fn forward(&self, x: Tensor<B, 3>, context: Option<&Tensor<B, 3>>) -> Tensor<B, 3> {
        let ctx = context.cloned().unwrap_or_else(|| x.clone());
        let q = self.to_q.forward(x);
        let k = self.to_k.forward(ctx.clone());
        let v = self.to_v.forward(ctx);
        let out = diffmac_ops::attention(q, k, v, self.heads, self.upcast);
        self.to_out[0].forward(out)
    }
}

/// GEGLU projection (`ff.net.0`): a linear layer to twice the width, half of it gating
/// the other half through an exact GELU.
#[derive(Module, Debug)]
pub struct GeGlu<B: Backend> {
    /// `dim → 2·inner`.
    pub proj: Linear<B>,
}

/// diffusers' `FeedForward` with GEGLU (`ff.net.0` = [`GeGlu`], `ff.net.2` = linear out).
#[derive(Module, Debug)]
pub struct FeedForward<B: Backend> {
    /// `net.0` (GEGLU).
    pub geglu: GeGlu<B>,
    /// `net.2` (`inner → dim`).
    pub out: Linear<B>,
}

impl<B: Backend> FeedForward<B> {
    /// Loads `net.0.proj` and `net.2` under `vb` (inner width 4·dim).
    ///
    /// # Errors
    /// A loader error naming the missing or mis-shaped key.
    pub fn load(vb: &VarBuilder<B>, dim: usize) -> Result<Self> {
        let inner = dim * 4;
        let net = vb.pp("net");
        Ok(Self {
            geglu: GeGlu {
                proj: Linear::load(&net.pp(0).pp("proj"), dim, inner * 2, true)?,
            },
            out: Linear::load(&net.pp(2), inner, dim, true)?,
        })
    }

    /// `[B, N, dim]` → `[B, N, dim]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let h = self.geglu.proj.forward(x);
        self.out.forward(diffmac_ops::geglu(h))
    }
}

/// diffusers' `BasicTransformerBlock` as SD uses it: self-attention, cross-attention and
/// GEGLU feed-forward, each pre-normed with a LayerNorm and added to its input.
#[derive(Module, Debug)]
pub struct BasicTransformerBlock<B: Backend> {
    /// Norm before self-attention.
    pub norm1: LayerNorm<B>,
    /// Self-attention.
    pub attn1: Attention<B>,
    /// Norm before cross-attention.
    pub norm2: LayerNorm<B>,
    /// Cross-attention to the text context.
    pub attn2: Attention<B>,
    /// Norm before the feed-forward.
    pub norm3: LayerNorm<B>,
    /// Feed-forward.
    pub ff: FeedForward<B>,
}

impl<B: Backend> BasicTransformerBlock<B> {
    /// Loads a block of width `dim` under `vb`.
    ///
    /// # Errors
    /// A loader error naming the missing or mis-shaped key.
    pub fn load(
        vb: &VarBuilder<B>,
        dim: usize,
        heads: usize,
        context_dim: usize,
        upcast: bool,
    ) -> Result<Self> {
        let d = dim / heads;
        Ok(Self {
            norm1: LayerNorm::load(&vb.pp("norm1"), dim, 1e-5)?,
            attn1: Attention::load(&vb.pp("attn1"), dim, None, heads, d, upcast)?,
            norm2: LayerNorm::load(&vb.pp("norm2"), dim, 1e-5)?,
            attn2: Attention::load(&vb.pp("attn2"), dim, Some(context_dim), heads, d, upcast)?,
            norm3: LayerNorm::load(&vb.pp("norm3"), dim, 1e-5)?,
            ff: FeedForward::load(&vb.pp("ff"), dim)?,
        })
    }

    /// `x` `[B, N, dim]`, `context` `[B, M, context_dim]` → `[B, N, dim]`.
    pub fn forward(&self, x: Tensor<B, 3>, context: &Tensor<B, 3>) -> Tensor<B, 3> {
        let add = diffmac_ops::add;
        let x = add(self.attn1.forward(self.norm1.forward(x.clone()), None), x);
        let x = add(
            self.attn2
                .forward(self.norm2.forward(x.clone()), Some(context)),
            x,
        );
        add(self.ff.forward(self.norm3.forward(x.clone())), x)
    }
}

/// Projection into or out of the token layout: a linear layer (SD 2.x) or a 1×1 conv.
#[derive(Module, Debug)]
pub enum Projection<B: Backend> {
    /// `use_linear_projection: true`.
    Linear(Linear<B>),
    /// `use_linear_projection: false`.
    Conv(Conv2d<B>),
}

impl<B: Backend> Projection<B> {
    fn load(vb: &VarBuilder<B>, i: usize, o: usize, linear: bool) -> Result<Self> {
        Ok(if linear {
            Self::Linear(Linear::load(vb, i, o, true)?)
        } else {
            Self::Conv(Conv2d::load(vb, i, o, 1, 1, 0)?)
        })
    }
}

/// diffusers' `Transformer2DModel` for continuous inputs: GroupNorm, projection in,
/// transformer blocks over the `H·W` tokens, projection out, residual.
#[derive(Module, Debug)]
pub struct Transformer2DModel<B: Backend> {
    /// GroupNorm (eps 1e-6).
    pub norm: GroupNorm<B>,
    /// Channels → tokens.
    pub proj_in: Projection<B>,
    /// The transformer blocks.
    pub transformer_blocks: Vec<BasicTransformerBlock<B>>,
    /// Tokens → channels.
    pub proj_out: Projection<B>,
}

/// Shape parameters of a [`Transformer2DModel`].
#[derive(Debug, Clone, Copy)]
pub struct TransformerSpec {
    /// Channels in and out (= heads × head width).
    pub channels: usize,
    /// Heads.
    pub heads: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Context width.
    pub context_dim: usize,
    /// GroupNorm groups.
    pub groups: usize,
    /// Linear (true) or 1×1-conv projections.
    pub linear_projection: bool,
    /// f32 attention scores.
    pub upcast: bool,
}

impl<B: Backend> Transformer2DModel<B> {
    /// Loads a transformer under `vb`.
    ///
    /// # Errors
    /// A loader error naming the missing or mis-shaped key.
    pub fn load(vb: &VarBuilder<B>, s: TransformerSpec) -> Result<Self> {
        let c = s.channels;
        let blocks = vb.pp("transformer_blocks");
        Ok(Self {
            norm: GroupNorm::load(&vb.pp("norm"), s.groups, c, 1e-6)?,
            proj_in: Projection::load(&vb.pp("proj_in"), c, c, s.linear_projection)?,
            transformer_blocks: (0..s.layers)
                .map(|i| {
                    BasicTransformerBlock::load(&blocks.pp(i), c, s.heads, s.context_dim, s.upcast)
                })
                .collect::<Result<_>>()?,
            proj_out: Projection::load(&vb.pp("proj_out"), c, c, s.linear_projection)?,
        })
    }

    /// `x` `[B, C, H, W]`, `context` `[B, M, context_dim]` → `[B, C, H, W]`.
    pub fn forward(&self, x: Tensor<B, 4>, context: &Tensor<B, 3>) -> Tensor<B, 4> {
        let [b, c, h, w] = x.dims();
        let residual = x.clone();
        let x = self.norm.forward(x);
        let to_tokens = |x: Tensor<B, 4>| x.permute([0, 2, 3, 1]).reshape([b, h * w, c]);
        let to_map = |x: Tensor<B, 3>| x.reshape([b, h, w, c]).permute([0, 3, 1, 2]);
        let mut tokens = match &self.proj_in {
            Projection::Linear(l) => l.forward(to_tokens(x)),
            Projection::Conv(conv) => to_tokens(conv.forward(x)),
        };
        for block in &self.transformer_blocks {
            tokens = block.forward(tokens, context);
        }
        let out = match &self.proj_out {
            Projection::Linear(l) => to_map(l.forward(tokens)),
            Projection::Conv(conv) => conv.forward(to_map(tokens)),
        };
        diffmac_ops::add(out, residual)
    }
}

/// The VAE mid block's single-head spatial self-attention (diffusers `Attention` with
/// `group_norm`, biased projections and a residual connection).
#[derive(Module, Debug)]
pub struct SpatialAttention<B: Backend> {
    /// GroupNorm (eps 1e-6).
    pub group_norm: GroupNorm<B>,
    /// Query projection.
    pub to_q: Linear<B>,
    /// Key projection.
    pub to_k: Linear<B>,
    /// Value projection.
    pub to_v: Linear<B>,
    /// Output projection (`to_out.0`).
    pub to_out: Vec<Linear<B>>,
}

impl<B: Backend> SpatialAttention<B> {
    /// Loads the layer under `vb`.
    ///
    /// # Errors
    /// A loader error naming the missing or mis-shaped key.
    pub fn load(vb: &VarBuilder<B>, channels: usize, groups: usize) -> Result<Self> {
        let c = channels;
        Ok(Self {
            group_norm: GroupNorm::load(&vb.pp("group_norm"), groups, c, 1e-6)?,
            to_q: Linear::load(&vb.pp("to_q"), c, c, true)?,
            to_k: Linear::load(&vb.pp("to_k"), c, c, true)?,
            to_v: Linear::load(&vb.pp("to_v"), c, c, true)?,
            to_out: vec![Linear::load(&vb.pp("to_out").pp(0), c, c, true)?],
        })
    }

    /// `[B, C, H, W]` → `[B, C, H, W]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [_, _, h, w] = x.dims();
        let residual = x.clone();
        let tokens = diffmac_ops::to_tokens(self.group_norm.forward(x));
        let q = self.to_q.forward(tokens.clone());
        let k = self.to_k.forward(tokens.clone());
        let v = self.to_v.forward(tokens);
        let out = self.to_out[0].forward(diffmac_ops::attention(q, k, v, 1, true));
        diffmac_ops::add(diffmac_ops::to_map(out, h, w), residual)
    }
}
