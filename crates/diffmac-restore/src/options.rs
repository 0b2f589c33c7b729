//! What a user can choose about a restoration; defaults are the paper's inference settings.
//! The enums parse from the names `diffmac-restore`'s flags give them ([`std::str::FromStr`]),
//! and [`RestorePreset::merge`] puts a user's explicit steps and sampler on top of a preset.

use std::str::FromStr;

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

impl FromStr for SamplerKind {
    type Err = RestoreError;

    /// `ddpm`, or `ddim` (η = 0; [`RestorePreset::merge`] sets another η).
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "ddpm" => Ok(Self::Ddpm),
            "ddim" => Ok(Self::Ddim { eta: 0.0 }),
            other => Err(unknown("sampler", other, "ddpm or ddim")),
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

impl FromStr for ColorFix {
    type Err = RestoreError;

    /// `none`, `adain` or `wavelet`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(Self::None),
            "adain" => Ok(Self::Adain),
            "wavelet" => Ok(Self::Wavelet),
            other => Err(unknown("colour fix", other, "none, adain or wavelet")),
        }
    }
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

impl FromStr for RestorePreset {
    type Err = RestoreError;

    /// `paper` or `fast`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "paper" => Ok(Self::Paper),
            "fast" => Ok(Self::Fast),
            other => Err(unknown("preset", other, "paper or fast")),
        }
    }
}

/// A user's explicit choices of steps and sampler, each `None` keeping the preset's (the
/// flags `--steps`, `--stage2-steps`, `--sampler` and `--eta`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PresetOverrides {
    /// Steps of both stages.
    pub steps: Option<usize>,
    /// Steps of Stage II, if different from `steps`.
    pub stage2_steps: Option<usize>,
    /// The step rule; a DDIM's η here is replaced by `eta`.
    pub sampler: Option<SamplerKind>,
    /// DDIM's η (0 when not given); refused with DDPM.
    pub eta: Option<f64>,
}

impl RestorePreset {
    /// `options` with this preset's steps and sampler, and `overrides` on top of those; the
    /// other fields of `options` (seed, strength, ...) are kept. A DDIM sampler, chosen or the
    /// preset's, takes `overrides.eta` (0 when not given).
    ///
    /// # Errors
    /// [`RestoreOptions::check`]'s, then [`RestoreError::EtaWithoutDdim`] for an η with DDPM.
    pub fn merge(
        self,
        overrides: &PresetOverrides,
        options: RestoreOptions,
    ) -> Result<RestoreOptions> {
        let preset = self.options();
        let eta = overrides.eta.unwrap_or(0.0);
        let merged = RestoreOptions {
            stage1_steps: overrides.steps.unwrap_or(preset.stage1_steps),
            stage2_steps: (overrides.stage2_steps.or(overrides.steps))
                .unwrap_or(preset.stage2_steps),
            sampler: match (overrides.sampler, preset.sampler) {
                (Some(SamplerKind::Ddpm), _) => SamplerKind::Ddpm,
                (Some(SamplerKind::Ddim { .. }), _) | (None, SamplerKind::Ddim { .. }) => {
                    SamplerKind::Ddim { eta }
                }
                (None, SamplerKind::Ddpm) => SamplerKind::Ddpm,
            },
            ..options
        };
        merged.check()?;
        if overrides.eta.is_some() && merged.sampler == SamplerKind::Ddpm {
            return Err(RestoreError::EtaWithoutDdim);
        }
        Ok(merged)
    }
}

/// The error of a name that none of `what`'s values has.
fn unknown(what: &str, name: &str, known: &str) -> RestoreError {
    RestoreError::InvalidOption(format!("unknown {what} {name:?}: use {known}"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_into_the_enums() {
        assert_eq!(
            "paper".parse::<RestorePreset>().unwrap(),
            RestorePreset::Paper
        );
        assert_eq!(
            "fast".parse::<RestorePreset>().unwrap(),
            RestorePreset::Fast
        );
        assert_eq!("ddpm".parse::<SamplerKind>().unwrap(), SamplerKind::Ddpm);
        assert_eq!(
            "ddim".parse::<SamplerKind>().unwrap(),
            SamplerKind::Ddim { eta: 0.0 }
        );
        assert_eq!("none".parse::<ColorFix>().unwrap(), ColorFix::None);
        assert_eq!("adain".parse::<ColorFix>().unwrap(), ColorFix::Adain);
        assert_eq!("wavelet".parse::<ColorFix>().unwrap(), ColorFix::Wavelet);
        let err = "Fast".parse::<RestorePreset>().unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid option: unknown preset \"Fast\": use paper or fast"
        );
        assert!("plms".parse::<SamplerKind>().is_err());
        assert!("".parse::<ColorFix>().is_err());
    }

    #[test]
    fn explicit_settings_go_on_top_of_the_preset() {
        let base = RestoreOptions {
            seed: 9,
            strength: 0.5,
            ..RestoreOptions::default()
        };
        let none = PresetOverrides::default();
        // The preset alone, with the caller's other fields kept.
        let fast = RestorePreset::Fast.merge(&none, base.clone()).unwrap();
        assert_eq!(
            (fast.stage1_steps, fast.stage2_steps),
            (FAST_STEPS, FAST_STEPS)
        );
        assert_eq!(fast.sampler, SamplerKind::Ddim { eta: 0.0 });
        assert_eq!((fast.seed, fast.strength), (9, 0.5));
        let paper = RestorePreset::Paper.merge(&none, base.clone()).unwrap();
        assert_eq!((paper.stage1_steps, paper.stage2_steps), (50, 50));
        assert_eq!(paper.sampler, SamplerKind::Ddpm);
        // --steps sets both stages, --stage2-steps only the second.
        let steps = PresetOverrides {
            steps: Some(10),
            stage2_steps: Some(4),
            ..none
        };
        let o = RestorePreset::Paper.merge(&steps, base.clone()).unwrap();
        assert_eq!((o.stage1_steps, o.stage2_steps), (10, 4));
        let o = RestorePreset::Fast
            .merge(
                &PresetOverrides {
                    steps: Some(7),
                    ..none
                },
                base.clone(),
            )
            .unwrap();
        assert_eq!((o.stage1_steps, o.stage2_steps), (7, 7));
        // A sampler given wins over the preset's; η goes to DDIM, the chosen or the preset's.
        let ddpm = PresetOverrides {
            sampler: Some(SamplerKind::Ddpm),
            ..none
        };
        let o = RestorePreset::Fast.merge(&ddpm, base.clone()).unwrap();
        assert_eq!((o.sampler, o.stage1_steps), (SamplerKind::Ddpm, FAST_STEPS));
        let ddim = PresetOverrides {
            sampler: Some(SamplerKind::Ddim { eta: 0.0 }),
            eta: Some(0.3),
            ..none
        };
        let o = RestorePreset::Paper.merge(&ddim, base.clone()).unwrap();
        assert_eq!(o.sampler, SamplerKind::Ddim { eta: 0.3 });
        let eta = PresetOverrides {
            eta: Some(1.0),
            ..none
        };
        let o = RestorePreset::Fast.merge(&eta, base.clone()).unwrap();
        assert_eq!(o.sampler, SamplerKind::Ddim { eta: 1.0 });
        // η with DDPM is refused, after the range checks.
        let err = RestorePreset::Paper.merge(&eta, base.clone()).unwrap_err();
        assert!(matches!(err, RestoreError::EtaWithoutDdim), "{err}");
        let bad_eta = PresetOverrides {
            eta: Some(2.0),
            ..none
        };
        let err = RestorePreset::Fast
            .merge(&bad_eta, base.clone())
            .unwrap_err();
        assert!(err.to_string().contains("DDIM eta 2"), "{err}");
        let too_strong = RestoreOptions {
            strength: 2.0,
            ..base
        };
        let err = RestorePreset::Paper.merge(&eta, too_strong).unwrap_err();
        assert!(err.to_string().contains("strength 2"), "{err}");
    }
}
