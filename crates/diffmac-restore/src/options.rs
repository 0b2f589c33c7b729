//! What a user can choose about a restoration; defaults are the paper's inference settings.

use diffmac_mib::InjectionKind;
use diffmac_sampler::{Method, VarianceType};
use serde::{Deserialize, Serialize};

use crate::error::{RestoreError, Result};

/// The step rule of both stages.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplerKind {
    /// Spaced ancestral DDPM with fixed-small variance (the paper's, §4.1.1).
    #[default]
    Ddpm,
    /// DDIM with stochasticity η in [0, 1] (0: deterministic).
    Ddim {
        /// η.
        eta: f64,
    },
}

impl SamplerKind {
    /// The sampler method.
    pub fn method(self) -> Method {
        match self {
            Self::Ddpm => Method::Ddpm(VarianceType::FixedSmall),
            Self::Ddim { eta } => Method::ddim(eta),
        }
    }
}

/// Optional colour correction of the output towards the input's colours (DiffBIR and SUPIR
/// offer the same two): diffusion models drift in colour, and a degraded input still carries
/// the right low-frequency colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColorFix {
    /// Leave the output as the model made it (the paper's setting).
    #[default]
    None,
    /// Match each channel's mean and standard deviation to the input's.
    Adain,
    /// Keep the output's high frequencies and take the low frequencies from the input.
    Wavelet,
}

/// Settings of one restoration run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RestoreOptions {
    /// Sampling steps of Stage I (paper: 50 spaced steps of 1000).
    pub stage1_steps: usize,
    /// Sampling steps of Stage II (paper: 50).
    pub stage2_steps: usize,
    /// Step rule of both stages.
    pub sampler: SamplerKind,
    /// Seed of every random draw (starting noise, posterior samples, sampler noise).
    pub seed: u64,
    /// Stop after Stage I (`X_D1`).
    pub stage1_only: bool,
    /// What the bottleneck injects; `None` takes the bundle's setting (identity for the
    /// paper's model). Table 3's ablations: noise, none. Must stay `None` for a 2AdaIN
    /// model, which has no bottleneck (a set value is refused rather than ignored).
    pub injection: Option<InjectionKind>,
    /// Starting noise level in (0, 1]: 1 starts each stage from pure noise (the paper);
    /// smaller values start from the stage's input latent noised to that fraction of the
    /// schedule, which keeps more of the input and runs fewer steps.
    pub strength: f64,
    /// Colour correction of the final output.
    pub color_fix: ColorFix,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        Self {
            stage1_steps: 50,
            stage2_steps: 50,
            sampler: SamplerKind::Ddpm,
            seed: 0,
            stage1_only: false,
            injection: None,
            strength: 1.0,
            color_fix: ColorFix::None,
        }
    }
}

/// Named starting points for [`RestoreOptions`]; a user's explicit settings go on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestorePreset {
    /// The paper's inference (§4.1.1): 50 spaced DDPM steps per stage.
    #[default]
    Paper,
    /// DDIM with η = 0 and [`FAST_STEPS`] steps per stage: 2.5× fewer UNet calls, and
    /// deterministic given the starting noise.
    Fast,
}

/// Steps per stage of [`RestorePreset::Fast`].
pub const FAST_STEPS: usize = 20;

impl RestorePreset {
    /// The preset's options (seed 0, every other setting the paper's).
    pub fn options(self) -> RestoreOptions {
        match self {
            Self::Paper => RestoreOptions::default(),
            Self::Fast => RestoreOptions {
                stage1_steps: FAST_STEPS,
                stage2_steps: FAST_STEPS,
                sampler: SamplerKind::Ddim { eta: 0.0 },
                ..RestoreOptions::default()
            },
        }
    }
}

impl RestoreOptions {
    /// Checks ranges that do not depend on the model.
    ///
    /// # Errors
    /// [`RestoreError::InvalidOption`] naming the option.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(RestoreError::InvalidOption(m));
        if self.stage1_steps == 0 || (!self.stage1_only && self.stage2_steps == 0) {
            return bad("each stage takes at least one step".into());
        }
        if !(self.strength > 0.0 && self.strength <= 1.0) {
            return bad(format!("strength {} must lie in (0, 1]", self.strength));
        }
        if let SamplerKind::Ddim { eta } = self.sampler
            && !(0.0..=1.0).contains(&eta)
        {
            return bad(format!("DDIM eta {eta} must lie in [0, 1]"));
        }
        Ok(())
    }
}
