//! The Stage I AdaIN control (paper §3.1, eqs. 2–4).
//!
//! From the LQ face's VAE manifold (the [`DiagonalGaussian`] of the QC output, Algorithm 1
//! lines 4–7) a ConvLayer + SiLU feature extractor builds multi-scale spatial features
//! `z_Sⁱ`, one per SD encoder level. Per level, two convolutions give `γⁱ` and `βⁱ`
//! (`Cⁱ × Hⁱ × Wⁱ`, the shape of the encoder block input `hⁱ`), and the block input becomes
//!
//! ```text
//! h_Iⁱ = (hⁱ − μ_Iⁱ) / σ_Iⁱ          (eq. 2, instance normalisation)
//! H_Iⁱ = γⁱ ⊙ h_Iⁱ + βⁱ             (eq. 3)
//! Hⁱ   = H_Iⁱ + hⁱ                  (eq. 4)
//! ```
//!
//! The `γ`/`β` convolutions are zero convolutions (weight and bias zero at
//! initialisation, as in ControlNet), so a fresh [`AdaInControl`] leaves the pretrained
//! UNet's prediction exactly unchanged. [`AdaInControl::modulation`] computes every `γⁱ`,
//! `βⁱ` once (they do not depend on the timestep) and returns a [`ControlModulation`] for
//! [`UNet2DConditionModel::forward_modulated`].
//!
//! Which parameters train is [`TrainableParts`]: the control always, the UNet as chosen
//! ([`TrainableParts::apply`] marks the rest as not requiring gradients).
//!
//! Where the paper is silent, this module reads it as follows:
//! - the feature extractor is one 3×3 ConvLayer + SiLU on the manifold, then per level one
//!   3×3 convolution + SiLU (stride 2 from level 1 on, matching the UNet's downsamplers),
//!   with the encoder input's width at each level unless `feature_channels` says otherwise;
//! - "respective convolutional layer": one 3×3 zero convolution for `γⁱ` and one for `βⁱ`;
//! - every encoder block is modulated (SD 2.1: four levels); the skip connections keep the
//!   unmodulated features (the hook of [`UNet2DConditionModel::forward_modulated`]);
//! - the instance normalisation has no affine parameters and ε = 1e-5;
//! - the manifold is read as [`ManifoldInput`] says (a sample of the posterior by default),
//!   unscaled (not multiplied by the VAE's latent scale factor);
//! - the UNet is frozen by default ([`TrainableParts::Control`]).

use burn::module::{Module, Param};
use burn::tensor::activation::silu;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Device, Distribution, FloatDType, Tensor};
use serde::{Deserialize, Serialize};

use crate::nn::Conv2d;
use crate::unet::{EncoderModulation, UNet2DConditionModel};
use crate::vae::DiagonalGaussian;

/// How the control reads the manifold distribution `ℛ` (Algorithm 1, line 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManifoldInput {
    /// A draw `mean + std · ε` with the caller's standard-normal `ε` (latent channels). The
    /// default: line 5 turns `R` into a distribution before the control reads it, which is
    /// what latent diffusion code does before using a latent.
    #[default]
    Sample,
    /// The posterior mean (latent channels): deterministic.
    Mean,
    /// The QC output itself, mean and log-variance (2 · latent channels).
    Moments,
}

impl ManifoldInput {
    /// Channels of the control's input for a VAE with `latent_channels` latent channels.
    pub fn channels(self, latent_channels: usize) -> usize {
        match self {
            Self::Sample | Self::Mean => latent_channels,
            Self::Moments => 2 * latent_channels,
        }
    }

    /// The control's input from the QC output `moments` `[B, 2·latent, h, w]`.
    ///
    /// `noise` (standard normal, `[B, latent, h, w]`) is used only by
    /// [`ManifoldInput::Sample`]; without it the sample falls back to the mean.
    pub fn read<B: Backend>(
        self,
        moments: Tensor<B, 4>,
        noise: Option<Tensor<B, 4>>,
    ) -> Tensor<B, 4> {
        match self {
            Self::Moments => moments,
            Self::Mean => DiagonalGaussian::from_moments(moments).mean,
            Self::Sample => {
                let g = DiagonalGaussian::from_moments(moments);
                match noise {
                    Some(n) => g.sample(n),
                    None => g.mean,
                }
            }
        }
    }
}

/// Which parameters train along with the control (the paper fine-tunes SD "with the
/// alignment" without saying which layers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrainableParts {
    /// The control only; the whole UNet is frozen (ControlNet's locked setting).
    #[default]
    Control,
    /// The control and the UNet's decoder half (`up_blocks`, `conv_norm_out`, `conv_out`),
    /// ControlNet's unlocked-decoder setting.
    #[serde(rename = "control_and_unet_decoder")]
    ControlAndUNetDecoder,
    /// The control and every UNet parameter.
    #[serde(rename = "control_and_unet")]
    ControlAndUNet,
}

impl TrainableParts {
    /// Marks the UNet parameters that do not train as not requiring gradients (and the
    /// ones that do as requiring them). Only meaningful on an autodiff backend.
    pub fn apply<B: Backend>(self, unet: UNet2DConditionModel<B>) -> UNet2DConditionModel<B> {
        match self {
            Self::Control => unet.no_grad(),
            Self::ControlAndUNet => set_require_grad(unet, true),
            Self::ControlAndUNetDecoder => {
                let mut unet = unet.no_grad();
                unet.up_blocks = unet
                    .up_blocks
                    .into_iter()
                    .map(|b| set_require_grad(b, true))
                    .collect();
                unet.conv_norm_out = set_require_grad(unet.conv_norm_out, true);
                unet.conv_out = set_require_grad(unet.conv_out, true);
                unet
            }
        }
    }
}

/// Sets `require_grad` on every float parameter of `module`.
fn set_require_grad<B: Backend, M: Module<B>>(module: M, require_grad: bool) -> M {
    struct Mapper(bool);
    impl<B: Backend> burn::module::ModuleMapper<B> for Mapper {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            param.set_require_grad(self.0)
        }
    }
    module.map(&mut Mapper(require_grad))
}

/// Settings of an [`AdaInControl`]. JSON files may give only the fields they change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlConfig {
    /// Latent channels of the VAE (SD: 4).
    pub latent_channels: usize,
    /// How the manifold is read (Algorithm 1, line 5).
    pub input: ManifoldInput,
    /// Channels of the input of each UNet encoder block, highest resolution first
    /// ([`UNet2DConditionModel::encoder_input_channels`]; SD 2.1: 320, 320, 640, 1280).
    pub encoder_channels: Vec<usize>,
    /// Channels of the feature `z_Sⁱ` of each level; empty means `encoder_channels`.
    pub feature_channels: Vec<usize>,
    /// Epsilon of the instance normalisation of eq. 2 (PyTorch's `InstanceNorm2d`: 1e-5).
    pub eps: f64,
    /// Which parameters train (see [`TrainableParts`]).
    pub trainable: TrainableParts,
}

impl Default for ControlConfig {
    fn default() -> Self {
        Self {
            latent_channels: 4,
            input: ManifoldInput::default(),
            encoder_channels: vec![320, 320, 640, 1280],
            feature_channels: Vec::new(),
            eps: 1e-5,
            trainable: TrainableParts::default(),
        }
    }
}

impl ControlConfig {
    /// The paper's settings for `unet` (its encoder input channels, everything else default).
    pub fn for_unet<B: Backend>(unet: &UNet2DConditionModel<B>) -> Self {
        Self {
            encoder_channels: unet.encoder_input_channels(),
            ..Self::default()
        }
    }

    /// The feature channels of each level (`feature_channels`, or `encoder_channels` when
    /// that is empty).
    pub fn features(&self) -> Vec<usize> {
        if self.feature_channels.is_empty() {
            self.encoder_channels.clone()
        } else {
            self.feature_channels.clone()
        }
    }

    /// A fresh control: the feature extractor with PyTorch's default initialisation
    /// (uniform in ±1/√fan_in), every `γ`/`β` convolution zero.
    ///
    /// # Panics
    /// If `feature_channels` is non-empty and its length differs from `encoder_channels`'s,
    /// or there are no levels.
    pub fn init<B: Backend>(&self, device: &Device<B>) -> AdaInControl<B> {
        let feats = self.features();
        assert!(!feats.is_empty(), "the control needs at least one level");
        assert_eq!(
            feats.len(),
            self.encoder_channels.len(),
            "one feature width per encoder level"
        );
        let input = self.input.channels(self.latent_channels);
        let feature_in = random_conv(input, feats[0], 1, device);
        let feature_levels = feats
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let (from, stride) = if i == 0 {
                    (feats[0], 1)
                } else {
                    (feats[i - 1], 2)
                };
                random_conv(from, c, stride, device)
            })
            .collect();
        let zero = |i: usize| zero_conv(feats[i], self.encoder_channels[i], device);
        AdaInControl {
            feature_in,
            feature_levels,
            gamma: (0..feats.len()).map(zero).collect(),
            beta: (0..feats.len()).map(zero).collect(),
            eps: self.eps,
        }
    }
}

/// 3×3 convolution (padding 1) initialised as PyTorch's `nn.Conv2d`.
fn random_conv<B: Backend>(
    cin: usize,
    cout: usize,
    stride: usize,
    device: &Device<B>,
) -> Conv2d<B> {
    let bound = 1.0 / ((cin * 9) as f64).sqrt();
    let u = Distribution::Uniform(-bound, bound);
    Conv2d {
        weight: Param::from_tensor(Tensor::random([cout, cin, 3, 3], u, device)),
        bias: Some(Param::from_tensor(Tensor::random([cout], u, device))),
        stride,
        padding: 1,
    }
}

/// 3×3 zero convolution (padding 1): weight and bias zero.
fn zero_conv<B: Backend>(cin: usize, cout: usize, device: &Device<B>) -> Conv2d<B> {
    Conv2d {
        weight: Param::from_tensor(Tensor::zeros([cout, cin, 3, 3], device)),
        bias: Some(Param::from_tensor(Tensor::zeros([cout], device))),
        stride: 1,
        padding: 1,
    }
}

/// The Stage I control: feature extractor and per-level `γ`/`β` zero convolutions.
#[derive(Module, Debug)]
pub struct AdaInControl<B: Backend> {
    /// ConvLayer on the manifold, `input → feature[0]`, followed by SiLU.
    pub feature_in: Conv2d<B>,
    /// Per level a 3×3 convolution + SiLU giving `z_Sⁱ`: stride 1 for level 0, stride 2
    /// (halving the resolution like the UNet's downsamplers) after.
    pub feature_levels: Vec<Conv2d<B>>,
    /// Per level the zero convolution `z_Sⁱ → γⁱ`.
    pub gamma: Vec<Conv2d<B>>,
    /// Per level the zero convolution `z_Sⁱ → βⁱ`.
    pub beta: Vec<Conv2d<B>>,
    /// Instance-norm epsilon of eq. 2.
    pub eps: f64,
}

impl<B: Backend> AdaInControl<B> {
    /// Number of encoder levels the control modulates.
    pub fn levels(&self) -> usize {
        self.gamma.len()
    }

    /// The multi-scale features `z_Sⁱ`: manifold `[B, in, h, w]` → per level
    /// `[B, feature_i, ⌈h/2ⁱ⌉, ⌈w/2ⁱ⌉]`.
    pub fn features(&self, manifold: Tensor<B, 4>) -> Vec<Tensor<B, 4>> {
        let mut z = silu(self.feature_in.forward(manifold));
        let mut out = Vec::with_capacity(self.feature_levels.len());
        for conv in &self.feature_levels {
            z = silu(conv.forward(z));
            out.push(z.clone());
        }
        out
    }

    /// `γⁱ` and `βⁱ` of every level from the manifold `[B, in, h, w]` (the control's input,
    /// see [`ManifoldInput::read`]); each `[B, Cⁱ, ⌈h/2ⁱ⌉, ⌈w/2ⁱ⌉]`, the shape of the
    /// input of encoder block `i` for a latent of size `h × w`.
    pub fn modulation(&self, manifold: Tensor<B, 4>) -> ControlModulation<B> {
        let levels = self
            .features(manifold)
            .into_iter()
            .zip(self.gamma.iter().zip(&self.beta))
            .map(|(z, (g, b))| (g.forward(z.clone()), b.forward(z)))
            .collect();
        ControlModulation {
            levels,
            eps: self.eps,
        }
    }
}

/// Instance normalisation over each sample's and channel's spatial positions (eq. 2),
/// statistics in f32: `[B, C, H, W]` → same shape and dtype.
pub fn instance_norm<B: Backend>(h: Tensor<B, 4>, eps: f64) -> Tensor<B, 4> {
    let [n, c, hh, ww] = h.dims();
    let dtype = h.dtype();
    let x = if dtype == DType::F32 {
        h
    } else {
        h.cast(FloatDType::F32)
    };
    let x = x.reshape([n, c, hh * ww]);
    let mean = x.clone().mean_dim(2);
    let centred = x - mean;
    let var = centred.clone().square().mean_dim(2);
    (centred / (var + eps).sqrt())
        .reshape([n, c, hh, ww])
        .cast(dtype)
}

/// The per-level `γⁱ`, `βⁱ` of one batch, applied by eqs. 2–4 to each encoder block input.
#[derive(Debug, Clone)]
pub struct ControlModulation<B: Backend> {
    /// `(γⁱ, βⁱ)` per level, each `[B, Cⁱ, Hⁱ, Wⁱ]`.
    pub levels: Vec<(Tensor<B, 4>, Tensor<B, 4>)>,
    /// Instance-norm epsilon.
    pub eps: f64,
}

impl<B: Backend> EncoderModulation<B> for ControlModulation<B> {
    /// `hⁱ` `[B, C, H, W]` → `γⁱ ⊙ IN(hⁱ) + βⁱ + hⁱ`; levels beyond the control's are
    /// passed through.
    fn modulate(&self, level: usize, h: Tensor<B, 4>) -> Tensor<B, 4> {
        match self.levels.get(level) {
            Some((gamma, beta)) => {
                let h_i = instance_norm(h.clone(), self.eps);
                gamma.clone() * h_i + beta.clone() + h
            }
            None => h,
        }
    }
}
