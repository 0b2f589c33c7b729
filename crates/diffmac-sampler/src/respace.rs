//! Timestep respacing: which of the T training timesteps a sampler visits, and the respaced
//! process on them.
//!
//! DiffMAC samples with "spaced DDPM sampling with 50 timesteps" (paper §4.1.1, after Nichol &
//! Dhariwal). That is improved DDPM's `space_timesteps(1000, "50")` plus `SpacedDiffusion`: the
//! kept ᾱ's define new betas β'_i = 1 − ᾱ_{s_i} / ᾱ_{s_{i−1}}, and the ordinary DDPM posterior
//! is then taken on those. diffusers' `leading` / `trailing` / `linspace` spacings are offered
//! too, so a schedule from a diffusers pipeline can be reproduced step for step.

use std::fmt;
use std::str::FromStr;

use crate::error::{Result, SamplerError};
use crate::schedule::NoiseSchedule;

/// A rule for choosing the kept timesteps. Non-exhaustive: more spacings may be added.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Spacing {
    /// improved DDPM's section counts: the T timesteps are cut into `len()` equal sections and
    /// section i keeps `counts[i]` evenly strided steps (fractional stride, rounded half to
    /// even, first and last step of each section kept). `"50"` is `Sections(vec![50])`.
    Sections(Vec<usize>),
    /// improved DDPM's `ddimN`: the integer stride of the DDIM paper, 0, s, 2s, …, with the
    /// smallest stride s that yields exactly N steps.
    DdimStride(usize),
    /// diffusers' `leading`: k · (T div N) + offset for k = 0..N (SD configs use offset 1).
    /// Written `leadingN`, or `leadingN+OFFSET` when the offset is not 0 (`leading50+1`).
    Leading {
        /// Number of steps N.
        steps: usize,
        /// diffusers' `steps_offset`.
        offset: usize,
    },
    /// diffusers' `trailing`: round(T + k·δ) − 1 for k = 0..N with numpy's step
    /// δ = (T − T/N) − T (≈ −T/N), so the last training timestep T − 1 is always visited.
    Trailing {
        /// Number of steps N.
        steps: usize,
    },
    /// diffusers' `linspace`: round(linspace(0, T − 1, N)).
    Linspace {
        /// Number of steps N.
        steps: usize,
    },
}

impl Spacing {
    /// The spacing DiffMAC uses: improved DDPM's 50 evenly spaced steps.
    pub fn paper() -> Self {
        Self::Sections(vec![50])
    }

    /// The kept timesteps out of `num_timesteps`, ascending and without repeats.
    pub fn timesteps(&self, num_timesteps: usize) -> Result<Vec<usize>> {
        let t = num_timesteps;
        let mut steps = match self {
            Self::Sections(counts) => sections(t, counts)?,
            Self::DdimStride(n) => {
                check_count(*n, t, self)?;
                let stride =
                    (1..t)
                        .find(|s| t.div_ceil(*s) == *n)
                        .ok_or(SamplerError::NoDdimStride {
                            steps: *n,
                            num_timesteps: t,
                        })?;
                (0..t).step_by(stride).collect()
            }
            Self::Leading { steps, offset } => {
                check_count(*steps, t, self)?;
                let ratio = t / steps;
                let last = (steps - 1) * ratio + offset;
                if last >= t {
                    return Err(SamplerError::OffsetTooLarge {
                        offset: *offset,
                        last,
                        max: t - 1,
                    });
                }
                (0..*steps).map(|k| k * ratio + offset).collect()
            }
            Self::Trailing { steps } => {
                check_count(*steps, t, self)?;
                // diffusers: round(arange(T, 0, −T/N)) − 1. numpy's arange does not step by
                // −T/N itself but by δ = (T − T/N) − T, and its k-th value is T + k·δ; δ differs
                // from −T/N in the last bits, which decides the rounding of values that land
                // on .5 (N = 48, 96, …), so δ is computed the same way here. Every value is
                // at least about T/N ≥ 1 and rounds to ≥ 1, so the − 1 cannot underflow.
                let ratio = t as f64 / *steps as f64;
                let delta = (t as f64 - ratio) - t as f64;
                (0..*steps)
                    .map(|k| (t as f64 + k as f64 * delta).round_ties_even() as usize - 1)
                    .collect()
            }
            Self::Linspace { steps } => {
                check_count(*steps, t, self)?;
                let last = (t - 1) as f64;
                if *steps == 1 {
                    vec![0]
                } else {
                    let step = last / (*steps - 1) as f64;
                    (0..*steps)
                        .map(|k| {
                            let v = if k + 1 == *steps {
                                last
                            } else {
                                k as f64 * step
                            };
                            v.round_ties_even() as usize
                        })
                        .collect()
                }
            }
        };
        steps.sort_unstable();
        steps.dedup();
        if steps.is_empty() {
            return Err(SamplerError::NoSteps {
                spec: self.to_string(),
            });
        }
        Ok(steps)
    }
}

fn check_count(steps: usize, num_timesteps: usize, spacing: &Spacing) -> Result<()> {
    if steps == 0 {
        return Err(SamplerError::NoSteps {
            spec: spacing.to_string(),
        });
    }
    if steps > num_timesteps {
        return Err(SamplerError::TooManySteps {
            requested: steps,
            available: num_timesteps,
        });
    }
    Ok(())
}

/// improved DDPM's `space_timesteps` for section counts (the float accumulation and Python's
/// round-half-to-even are kept, so the kept steps are the same integers).
fn sections(num_timesteps: usize, counts: &[usize]) -> Result<Vec<usize>> {
    if counts.is_empty() {
        return Err(SamplerError::NoSteps {
            spec: String::new(),
        });
    }
    let total: usize = counts.iter().sum();
    if total > num_timesteps {
        return Err(SamplerError::TooManySteps {
            requested: total,
            available: num_timesteps,
        });
    }
    let size_per = num_timesteps / counts.len();
    let extra = num_timesteps % counts.len();
    let mut start = 0;
    let mut steps = Vec::with_capacity(total);
    for (i, &count) in counts.iter().enumerate() {
        let size = size_per + usize::from(i < extra);
        if size < count {
            return Err(SamplerError::SectionTooSmall {
                section: i,
                requested: count,
                available: size,
            });
        }
        let stride = if count <= 1 {
            1.0
        } else {
            (size - 1) as f64 / (count - 1) as f64
        };
        let mut cur = 0.0_f64;
        for _ in 0..count {
            steps.push(start + cur.round_ties_even() as usize);
            cur += stride;
        }
        start += size;
    }
    Ok(steps)
}

impl FromStr for Spacing {
    type Err = SamplerError;

    /// Parses `"50"`, `"10,15,20"`, `"ddim50"`, `"leading50"`, `"leading50+1"` (with
    /// `steps_offset` 1), `"trailing50"`, `"linspace50"`: the forms `Display` writes.
    fn from_str(spec: &str) -> Result<Self> {
        let unknown = || SamplerError::UnknownSpacing {
            spec: spec.to_string(),
        };
        let count = |digits: &str| -> Result<usize> {
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(unknown());
            }
            digits.parse().map_err(|_| unknown())
        };
        let s = spec.trim();
        if let Some(rest) = s.strip_prefix("ddim") {
            return Ok(Self::DdimStride(count(rest)?));
        }
        if let Some(rest) = s.strip_prefix("leading") {
            let (steps, offset) = match rest.split_once('+') {
                Some((steps, offset)) => (count(steps)?, count(offset)?),
                None => (count(rest)?, 0),
            };
            return Ok(Self::Leading { steps, offset });
        }
        if let Some(rest) = s.strip_prefix("trailing") {
            return Ok(Self::Trailing {
                steps: count(rest)?,
            });
        }
        if let Some(rest) = s.strip_prefix("linspace") {
            return Ok(Self::Linspace {
                steps: count(rest)?,
            });
        }
        let counts = s
            .split(',')
            .map(|part| count(part.trim()))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::Sections(counts))
    }
}

impl fmt::Display for Spacing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sections(counts) => {
                let parts: Vec<String> = counts.iter().map(usize::to_string).collect();
                write!(f, "{}", parts.join(","))
            }
            Self::DdimStride(n) => write!(f, "ddim{n}"),
            Self::Leading { steps, offset: 0 } => write!(f, "leading{steps}"),
            Self::Leading { steps, offset } => write!(f, "leading{steps}+{offset}"),
            Self::Trailing { steps } => write!(f, "trailing{steps}"),
            Self::Linspace { steps } => write!(f, "linspace{steps}"),
        }
    }
}

/// The respaced process on the kept timesteps s_0 < s_1 < … < s_{N−1}, indexed by i = 0..N.
///
/// Index i is the sampler's step; `timestep(i)` = s_i is what the denoiser is conditioned on.
/// Every table is derived from the kept ᾱ's, exactly as improved DDPM's `SpacedDiffusion`.
#[derive(Debug, Clone, PartialEq)]
pub struct SpacedSchedule {
    num_train_timesteps: usize,
    training_alpha_cumprod_0: f64,
    timesteps: Vec<usize>,
    betas: Vec<f64>,
    alphas_cumprod: Vec<f64>,
    alphas_cumprod_prev: Vec<f64>,
    posterior_variance: Vec<f64>,
    posterior_mean_coef1: Vec<f64>,
    posterior_mean_coef2: Vec<f64>,
}

impl SpacedSchedule {
    /// Respaces `base` with `spacing`.
    pub fn new(base: &NoiseSchedule, spacing: &Spacing) -> Result<Self> {
        Self::from_timesteps(base, &spacing.timesteps(base.num_timesteps())?)
    }

    /// Every training timestep: the unspaced process.
    pub fn full(base: &NoiseSchedule) -> Self {
        let all: Vec<usize> = (0..base.num_timesteps()).collect();
        Self::from_timesteps(base, &all).expect("every timestep is in range")
    }

    /// Keeps the given timesteps (any order; repeats are dropped).
    pub fn from_timesteps(base: &NoiseSchedule, timesteps: &[usize]) -> Result<Self> {
        let mut kept = timesteps.to_vec();
        kept.sort_unstable();
        kept.dedup();
        if kept.is_empty() {
            return Err(SamplerError::NoSteps { spec: "[]".into() });
        }
        let alphas_cumprod = kept
            .iter()
            .map(|&t| base.alpha_cumprod(t))
            .collect::<Result<Vec<f64>>>()?;
        let alphas_cumprod_prev: Vec<f64> = std::iter::once(1.0)
            .chain(alphas_cumprod.iter().copied())
            .take(kept.len())
            .collect();
        let betas: Vec<f64> = alphas_cumprod
            .iter()
            .zip(&alphas_cumprod_prev)
            .map(|(a, p)| 1.0 - a / p)
            .collect();
        let mut posterior_variance = Vec::with_capacity(kept.len());
        let mut coef1 = Vec::with_capacity(kept.len());
        let mut coef2 = Vec::with_capacity(kept.len());
        for ((&a, &a_prev), &b) in alphas_cumprod.iter().zip(&alphas_cumprod_prev).zip(&betas) {
            posterior_variance.push(b * (1.0 - a_prev) / (1.0 - a));
            coef1.push(b * a_prev.sqrt() / (1.0 - a));
            coef2.push((1.0 - a_prev) * (1.0 - b).sqrt() / (1.0 - a));
        }
        Ok(Self {
            num_train_timesteps: base.num_timesteps(),
            training_alpha_cumprod_0: base.alphas_cumprod()[0],
            timesteps: kept,
            betas,
            alphas_cumprod,
            alphas_cumprod_prev,
            posterior_variance,
            posterior_mean_coef1: coef1,
            posterior_mean_coef2: coef2,
        })
    }

    /// Number of kept steps N.
    pub fn len(&self) -> usize {
        self.timesteps.len()
    }

    /// Always false: a spaced schedule keeps at least one step.
    pub fn is_empty(&self) -> bool {
        self.timesteps.is_empty()
    }

    /// The kept training timesteps, ascending.
    pub fn timesteps(&self) -> &[usize] {
        &self.timesteps
    }

    /// The training timestep of step index i.
    pub fn timestep(&self, index: usize) -> Result<usize> {
        self.check(index)?;
        Ok(self.timesteps[index])
    }

    /// T, the number of training timesteps of the base schedule.
    pub fn num_train_timesteps(&self) -> usize {
        self.num_train_timesteps
    }

    /// ᾱ of training timestep 0, kept or not: the value diffusers' DDIM steps to at the end
    /// with `set_alpha_to_one = false` ([`FinalAlpha::TrainingStepZero`](crate::ddim::FinalAlpha)).
    pub fn training_alpha_cumprod_0(&self) -> f64 {
        self.training_alpha_cumprod_0
    }

    /// The step index whose timestep is exactly `timestep`, if that timestep is kept.
    pub fn index_of(&self, timestep: usize) -> Option<usize> {
        self.timesteps.binary_search(&timestep).ok()
    }

    /// The index of the largest kept timestep ≤ `timestep`: where a run that should start at
    /// an arbitrary training timestep t (partial-noise restoration "from t") begins on this
    /// grid. Running from there takes `index + 1` steps. `timestep` must be a training
    /// timestep (< T) and not lie below the first kept one.
    pub fn index_at_or_below(&self, timestep: usize) -> Result<usize> {
        if timestep >= self.num_train_timesteps {
            return Err(SamplerError::TimestepOutOfRange {
                timestep,
                len: self.num_train_timesteps,
            });
        }
        // Kept timesteps ≤ t form a prefix; its length is one past the wanted index.
        match self.timesteps.partition_point(|&s| s <= timestep) {
            0 => Err(SamplerError::BeforeFirstStep {
                timestep,
                first: self.timesteps[0],
            }),
            count => Ok(count - 1),
        }
    }

    /// Respaced β'_i = 1 − ᾱ_i / ᾱ_{i−1}.
    pub fn betas(&self) -> &[f64] {
        &self.betas
    }

    /// ᾱ at the kept timesteps (the same values as the base schedule's).
    pub fn alphas_cumprod(&self) -> &[f64] {
        &self.alphas_cumprod
    }

    /// ᾱ of the previous kept step, 1 before the first.
    pub fn alphas_cumprod_prev(&self) -> &[f64] {
        &self.alphas_cumprod_prev
    }

    /// Variance of q(x_{i−1} | x_i, x_0): β'_i (1 − ᾱ_{i−1}) / (1 − ᾱ_i); 0 at i = 0.
    pub fn posterior_variance(&self) -> &[f64] {
        &self.posterior_variance
    }

    /// Coefficient of x_0 in the posterior mean.
    pub fn posterior_mean_coef1(&self) -> &[f64] {
        &self.posterior_mean_coef1
    }

    /// Coefficient of x_i in the posterior mean.
    pub fn posterior_mean_coef2(&self) -> &[f64] {
        &self.posterior_mean_coef2
    }

    /// How many of the last steps to run for an img2img-style `strength` in [0, 1], as diffusers
    /// does it: ⌊N · strength⌋. Start the sampler at index (that count − 1).
    pub fn steps_for_strength(&self, strength: f64) -> Result<usize> {
        if !(0.0..=1.0).contains(&strength) {
            return Err(SamplerError::InvalidOption {
                name: "strength",
                value: strength,
                reason: "must lie in [0, 1]",
            });
        }
        let steps = ((self.len() as f64 * strength) as usize).min(self.len());
        if steps == 0 {
            return Err(SamplerError::InvalidOption {
                name: "strength",
                value: strength,
                reason: "leaves no step to run",
            });
        }
        Ok(steps)
    }

    pub(crate) fn check(&self, index: usize) -> Result<()> {
        if index >= self.len() {
            return Err(SamplerError::StepIndexOutOfRange {
                index,
                len: self.len(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_form() {
        assert_eq!(
            "50".parse::<Spacing>().unwrap(),
            Spacing::Sections(vec![50])
        );
        assert_eq!(
            "10, 15,20".parse::<Spacing>().unwrap(),
            Spacing::Sections(vec![10, 15, 20])
        );
        assert_eq!(
            "ddim25".parse::<Spacing>().unwrap(),
            Spacing::DdimStride(25)
        );
        assert_eq!(
            "leading50".parse::<Spacing>().unwrap(),
            Spacing::Leading {
                steps: 50,
                offset: 0
            }
        );
        assert_eq!(
            "trailing7".parse::<Spacing>().unwrap(),
            Spacing::Trailing { steps: 7 }
        );
        assert_eq!(
            "linspace7".parse::<Spacing>().unwrap(),
            Spacing::Linspace { steps: 7 }
        );
        assert_eq!(
            "leading50+1".parse::<Spacing>().unwrap(),
            Spacing::Leading {
                steps: 50,
                offset: 1
            }
        );
        for s in [
            "50",
            "10,15,20",
            "ddim25",
            "leading50",
            "leading50+1",
            "leading10+20",
            "trailing7",
            "linspace7",
        ] {
            assert_eq!(s.parse::<Spacing>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn rejects_unknown_spacing_strings() {
        for bad in [
            "",
            "fifty",
            "ddim",
            "ddimx",
            "10,,20",
            "-5",
            "5.5",
            "uniform50",
            "leading",
            "leading+1",
            "leading50+",
            "leading50+1+1",
            "leading50 (offset 1)",
            "trailing50+1",
        ] {
            let err = bad.parse::<Spacing>().unwrap_err();
            assert!(
                matches!(err, SamplerError::UnknownSpacing { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn impossible_requests_are_errors() {
        let too_many = Spacing::Sections(vec![1001]).timesteps(1000).unwrap_err();
        assert!(matches!(
            too_many,
            SamplerError::TooManySteps {
                requested: 1001,
                available: 1000
            }
        ));
        // 3 sections of 333/333/334: the second cannot hold 400 steps.
        let section = Spacing::Sections(vec![10, 400, 10])
            .timesteps(1000)
            .unwrap_err();
        assert!(matches!(
            section,
            SamplerError::SectionTooSmall {
                section: 1,
                requested: 400,
                available: 333
            }
        ));
        assert!(
            section
                .to_string()
                .starts_with("cannot take 400 steps from section 1 of 333 timesteps"),
            "{section}"
        );
        assert!(matches!(
            Spacing::Sections(vec![]).timesteps(1000),
            Err(SamplerError::NoSteps { .. })
        ));
        let spaced =
            SpacedSchedule::new(&NoiseSchedule::stable_diffusion(), &Spacing::paper()).unwrap();
        let err = spaced.timestep(50).unwrap_err();
        assert!(matches!(
            err,
            SamplerError::StepIndexOutOfRange { index: 50, len: 50 }
        ));
        assert_eq!(
            err.to_string(),
            "step index 50 is out of range: the spaced schedule keeps 50 steps"
        );
        for spacing in [
            Spacing::Leading {
                steps: 1001,
                offset: 0,
            },
            Spacing::Trailing { steps: 1001 },
            Spacing::Linspace { steps: 1001 },
            Spacing::DdimStride(1001),
        ] {
            assert!(matches!(
                spacing.timesteps(1000),
                Err(SamplerError::TooManySteps { .. })
            ));
        }
        // ceil(10 / s) jumps from 10 (s = 1) to 5 (s = 2): no integer stride gives 6 steps.
        assert!(matches!(
            Spacing::DdimStride(6).timesteps(10),
            Err(SamplerError::NoDdimStride {
                steps: 6,
                num_timesteps: 10
            })
        ));
        assert!(matches!(
            Spacing::Sections(vec![0]).timesteps(10),
            Err(SamplerError::NoSteps { .. })
        ));
        assert!(matches!(
            Spacing::Leading {
                steps: 50,
                offset: 20
            }
            .timesteps(1000),
            Err(SamplerError::OffsetTooLarge { last: 1000, .. })
        ));
    }

    #[test]
    fn trailing_rounds_like_numpy_arange() {
        // 1000 − k·(1000/48) is exactly 937.5 at k = 3, which rounds to 938 (timestep 937);
        // numpy's step δ = (1000 − 1000/48) − 1000 gives 937.4999999999999 there, so diffusers
        // keeps timestep 936.
        let steps = Spacing::Trailing { steps: 48 }.timesteps(1000).unwrap();
        assert_eq!(steps[48 - 1 - 3], 936);
    }

    #[test]
    fn trailing_keeps_exactly_n_steps_where_numpy_arange_overshoots() {
        // diffusers' arange(1000, 0, -1000/61) yields 62 values, the last one −1.
        let steps = Spacing::Trailing { steps: 61 }.timesteps(1000).unwrap();
        assert_eq!(steps.len(), 61);
        assert_eq!((steps[0], steps[60]), (15, 999));
    }

    #[test]
    fn respaced_betas_reproduce_the_kept_alphas() {
        let base = NoiseSchedule::stable_diffusion();
        let spaced = SpacedSchedule::new(&base, &Spacing::paper()).unwrap();
        assert_eq!(spaced.len(), 50);
        let mut product = 1.0;
        for (i, b) in spaced.betas().iter().enumerate() {
            product *= 1.0 - b;
            let expected = base.alphas_cumprod()[spaced.timesteps()[i]];
            assert!((product - expected).abs() < 1e-14, "step {i}");
        }
        assert_eq!(spaced.posterior_variance()[0], 0.0);
    }

    #[test]
    fn arbitrary_timesteps_start_at_the_kept_step_at_or_below() {
        let base = NoiseSchedule::stable_diffusion();
        let spaced = SpacedSchedule::new(&base, &Spacing::paper()).unwrap();
        // Kept: 0, 20, 41, 61, …, 979, 999.
        assert_eq!(spaced.num_train_timesteps(), 1000);
        assert_eq!(spaced.index_of(41), Some(2));
        assert_eq!(spaced.index_of(42), None);
        assert_eq!(spaced.index_at_or_below(41).unwrap(), 2);
        assert_eq!(spaced.index_at_or_below(60).unwrap(), 2);
        assert_eq!(spaced.index_at_or_below(0).unwrap(), 0);
        assert_eq!(spaced.index_at_or_below(999).unwrap(), 49);
        assert_eq!(spaced.index_at_or_below(998).unwrap(), 48);
        for t in 0..1000 {
            let i = spaced.index_at_or_below(t).unwrap();
            assert!(spaced.timesteps()[i] <= t);
            assert!(spaced.timesteps().get(i + 1).is_none_or(|&next| next > t));
        }
        assert!(matches!(
            spaced.index_at_or_below(1000),
            Err(SamplerError::TimestepOutOfRange {
                timestep: 1000,
                len: 1000
            })
        ));
        // SD's `leading` grid with offset 1 starts at timestep 1: nothing is kept at or below 0.
        let leading = Spacing::Leading {
            steps: 50,
            offset: 1,
        };
        let sd = SpacedSchedule::new(&base, &leading).unwrap();
        assert!(matches!(
            sd.index_at_or_below(0),
            Err(SamplerError::BeforeFirstStep {
                timestep: 0,
                first: 1
            })
        ));
    }

    #[test]
    fn full_respacing_is_the_base_process() {
        let base = NoiseSchedule::stable_diffusion();
        let full = SpacedSchedule::full(&base);
        for (a, b) in full.betas().iter().zip(base.betas()) {
            assert!((a - b).abs() < 1e-15);
        }
    }

    #[test]
    fn strength_counts_steps_like_diffusers() {
        let spaced =
            SpacedSchedule::new(&NoiseSchedule::stable_diffusion(), &Spacing::paper()).unwrap();
        assert_eq!(spaced.steps_for_strength(1.0).unwrap(), 50);
        assert_eq!(spaced.steps_for_strength(0.5).unwrap(), 25);
        assert_eq!(spaced.steps_for_strength(0.299).unwrap(), 14);
        assert!(spaced.steps_for_strength(0.01).is_err());
        assert!(spaced.steps_for_strength(1.5).is_err());
    }
}
