//! The DID pipeline of Algorithm 1 at inference:
//!
//! ```text
//! X_LQ ─E→ R ─DiagonalGaussian→ control₁ ─50-step spaced DDPM (c = "")→ z̃₀¹ (eq. 5) ─D→ X_D1
//! X_D1 ─E→ R ─MIB(F_ID(X_D1))→ Z ─DiagonalGaussian→ control₂ ─50-step spaced DDPM→ z̃₀² ─D→ X_D2
//! ```
//!
//! Two of Table 3's ablations restore differently, as `diffmac-train` trained them:
//! - a 2AdaIN bundle ([`Stage2Variant::TwoAdain`]) has no bottleneck: its Stage II control
//!   reads `R = E(X_D1)` itself, and nothing is injected;
//! - a "no1" bundle ([`Stage2Variant::NoStage1`]) skips Stage I: its bottleneck reads
//!   `R = E(X_LQ)` and the identity of `X_LQ` (`X_D1` is `X_LQ`).
//!
//! [`Stage2Variant::TwoAdain`]: crate::bundle::Stage2Variant::TwoAdain
//! [`Stage2Variant::NoStage1`]: crate::bundle::Stage2Variant::NoStage1
//!
//! [`Restorer::restore`] runs it on a batch of aligned faces and reports every intermediate
//! result to an [`Observer`] (progress bars, debugging, and the test that checks the order).
//! [`Restorer::restore_seeded`] gives each face its own seed, so that a face's result does
//! not depend on the batch it is restored in.

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor};
use diffmac_ldm::{ManifoldInput, sample_stage};
use diffmac_mib::InjectionKind;
use diffmac_sampler::{BatchNoise, Init, Sampler, SpacedSchedule, Spacing, StepInfo};

use crate::bundle::{ModelBundle, StageModels};
use crate::color::color_fix;
use crate::error::{RestoreError, Result};
use crate::options::RestoreOptions;

/// One intermediate result of the pipeline, in Algorithm 1's order.
#[derive(Debug)]
pub enum PipelineEvent<'a, B: Backend> {
    /// Lines 4–5: the QC output `R = E(X_LQ)` (8 channels).
    LqManifold(&'a Tensor<B, 4>),
    /// One sampling step of a stage is done (`done` of `total`).
    Step {
        /// 1 or 2.
        stage: u8,
        /// Steps done so far.
        done: usize,
        /// Steps of this stage.
        total: usize,
    },
    /// Line 11: Stage I's final latent `z̃₀¹` (UNet scale).
    Stage1Latent(&'a Tensor<B, 4>),
    /// Line 12: `X_D1 = D(z̃₀¹)` in [-1, 1]. Neither this nor `Stage1Latent` is sent for a
    /// "no1" model, whose Stage II reads `X_LQ`.
    Stage1Image(&'a Tensor<B, 4>),
    /// Line 16: `R = E(X_D1)` (8 channels). Not sent for a "no1" model: its bottleneck reads
    /// the `LqManifold` tensor.
    D1Manifold(&'a Tensor<B, 4>),
    /// Line 18: the identity embedding fed to the bottleneck (of `X_D1`, or the reference).
    /// Only with identity injection, so never for a 2AdaIN model.
    Identity(&'a Tensor<B, 2>),
    /// Line 21: the bottleneck's `Z` (8 channels). Not sent for a 2AdaIN model, which has no
    /// bottleneck (its Stage II control reads the `D1Manifold` tensor).
    Bottleneck(&'a Tensor<B, 4>),
    /// Line 31: Stage II's final latent `z̃₀²`.
    Stage2Latent(&'a Tensor<B, 4>),
    /// Line 32: `X_D2` in [-1, 1], before any colour fix.
    Stage2Image(&'a Tensor<B, 4>),
}

/// Receives the pipeline's intermediate results.
pub trait Observer<B: Backend> {
    /// Called once per event, in order.
    fn event(&mut self, event: &PipelineEvent<'_, B>);
}

impl<B: Backend, F: FnMut(&PipelineEvent<'_, B>)> Observer<B> for F {
    fn event(&mut self, event: &PipelineEvent<'_, B>) {
        self(event)
    }
}

/// An observer that ignores everything.
pub struct Quiet;

impl<B: Backend> Observer<B> for Quiet {
    fn event(&mut self, _: &PipelineEvent<'_, B>) {}
}

/// The result of one batch, images `[N, 3, S, S]` in [-1, 1] (colour fix applied).
#[derive(Debug, Clone)]
pub struct Restored<B: Backend> {
    /// `X_D1`: Stage I's output, or for a "no1" model (whose Stage II reads the input,
    /// [`NoStage1`](crate::bundle::Stage2Variant::NoStage1)) the input itself.
    pub stage1: Tensor<B, 4>,
    /// `X_D2`, unless only Stage I ran.
    pub stage2: Option<Tensor<B, 4>>,
}

impl<B: Backend> Restored<B> {
    /// The pipeline's final output: `X_D2`, or `X_D1` when only Stage I ran.
    pub fn output(&self) -> &Tensor<B, 4> {
        self.stage2.as_ref().unwrap_or(&self.stage1)
    }
}

/// Restores aligned faces with a loaded [`ModelBundle`].
pub struct Restorer<'a, B: Backend> {
    bundle: &'a ModelBundle<B>,
    options: RestoreOptions,
    stage1: Sampler,
    stage2: Sampler,
}

impl<'a, B: Backend> Restorer<'a, B> {
    /// A restorer for `bundle` with `options`.
    ///
    /// # Errors
    /// [`RestoreError::InvalidOption`] for options out of range or not offered by the
    /// bundle (Stage II of a Stage I-only bundle, identity injection without an encoder, any
    /// `injection` for a 2AdaIN model, whose Stage II injects nothing); a bundle whose loaded
    /// modules disagree with its config (a bottleneck loaded or missing against its
    /// `stage2_variant`).
    pub fn new(bundle: &'a ModelBundle<B>, options: RestoreOptions) -> Result<Self> {
        options.check()?;
        if !options.stage1_only {
            if bundle.stage2.is_none() {
                return Err(RestoreError::InvalidOption(
                    "this model has no Stage II; restore with Stage I only".into(),
                ));
            }
            if bundle.config.stage2_variant.has_bottleneck() != bundle.mib.is_some() {
                return Err(RestoreError::Bundle {
                    path: bundle.dir.clone(),
                    message: format!(
                        "Stage II is {:?} but its bottleneck is {}",
                        bundle.config.stage2_variant,
                        if bundle.mib.is_some() {
                            "loaded"
                        } else {
                            "missing"
                        }
                    ),
                });
            }
            if bundle.mib.is_none() {
                // 2AdaIN: no bottleneck, so nothing to inject and no identity encoder needed.
                if let Some(kind) = options.injection {
                    return Err(RestoreError::InvalidOption(format!(
                        "injection {}: this model's Stage II is 2AdaIN, without a \
                         bottleneck, and injects nothing",
                        format!("{kind:?}").to_lowercase()
                    )));
                }
            } else if Self::injection_kind(bundle, &options) == InjectionKind::Identity
                && bundle.identity.is_none()
            {
                return Err(RestoreError::InvalidOption(
                    "identity injection needs an identity encoder, which this model lacks".into(),
                ));
            }
        }
        let sampler = |steps: usize| -> Result<Sampler> {
            let schedule = SpacedSchedule::new(&bundle.schedule, &Spacing::Sections(vec![steps]))?;
            let prediction = bundle.config.scheduler.prediction()?;
            Ok(Sampler::new(
                schedule,
                prediction,
                options.sampler.method(),
            )?)
        };
        Ok(Self {
            bundle,
            stage1: sampler(options.stage1_steps)?,
            stage2: sampler(options.stage2_steps.max(1))?,
            options,
        })
    }

    fn injection_kind(bundle: &ModelBundle<B>, options: &RestoreOptions) -> InjectionKind {
        options
            .injection
            .or_else(|| bundle.config.mib.as_ref().map(|m| m.config.injection))
            .unwrap_or_default()
    }

    /// The options in use.
    pub fn options(&self) -> &RestoreOptions {
        &self.options
    }

    /// Side of the square faces the model restores.
    pub fn image_size(&self) -> usize {
        self.bundle.config.image_size
    }

    /// The device the model lives on.
    pub fn device(&self) -> B::Device {
        self.bundle.context.device()
    }

    /// The bundle in use.
    pub fn bundle(&self) -> &ModelBundle<B> {
        self.bundle
    }

    /// The identity embedding `[N, D]` of aligned faces `[N, 3, S, S]` in [-1, 1] (`F_ID`,
    /// after the crop from FFHQ alignment to the encoder's own): what Stage II injects, or a
    /// reference identity for [`Restorer::restore`] (Fig. 10).
    ///
    /// # Errors
    /// If the bundle has no identity encoder or the crop cannot be made.
    pub fn identity_of(&self, faces: Tensor<B, 4>) -> Result<Tensor<B, 2>> {
        let encoder = self.bundle.identity.as_ref().ok_or_else(|| {
            RestoreError::InvalidOption("the model has no identity encoder".into())
        })?;
        Ok(encoder.embed_ffhq(faces.cast(DType::F32))?)
    }

    /// Runs the DID pipeline on `lq` `[N, 3, S, S]` in [-1, 1], S the bundle's
    /// `image_size`. `reference` (`[1, D]`) replaces the identity of `X_D1` (Fig. 10).
    /// Every draw of the batch comes from `seed` (one stream for the batch, so a face's
    /// result depends on its batch; [`Restorer::restore_seeded`] avoids that).
    ///
    /// # Errors
    /// Wrong input shapes, a failing stage, or a `reference` for a 2AdaIN model's Stage II
    /// (it injects no identity, so the reference would silently change nothing).
    pub fn restore(
        &self,
        lq: Tensor<B, 4>,
        reference: Option<Tensor<B, 2>>,
        seed: u64,
        observer: &mut dyn Observer<B>,
    ) -> Result<Restored<B>> {
        self.run(lq, reference, Seeds::Shared(seed), observer)
    }

    /// As [`Restorer::restore`], with one seed per face: face i's draws come only from
    /// `seeds[i]`, exactly as `restore` of that face alone with seed `seeds[i]` draws them,
    /// so the batch gives what its faces give alone (up to the rounding of batched kernels)
    /// and batching only changes speed. For a single face it is `restore`, bit for bit.
    ///
    /// # Errors
    /// As [`Restorer::restore`], and [`RestoreError::InvalidOption`] unless there is one
    /// seed per face.
    pub fn restore_seeded(
        &self,
        lq: Tensor<B, 4>,
        reference: Option<Tensor<B, 2>>,
        seeds: &[u64],
        observer: &mut dyn Observer<B>,
    ) -> Result<Restored<B>> {
        let n = lq.dims()[0];
        if seeds.len() != n {
            return Err(RestoreError::InvalidOption(format!(
                "{} seeds for a batch of {n} faces: give one seed per face",
                seeds.len()
            )));
        }
        self.run(lq, reference, Seeds::PerItem(seeds.to_vec()), observer)
    }

    fn run(
        &self,
        lq: Tensor<B, 4>,
        reference: Option<Tensor<B, 2>>,
        seeds: Seeds,
        observer: &mut dyn Observer<B>,
    ) -> Result<Restored<B>> {
        let b = self.bundle;
        let size = b.config.image_size;
        let [n, c, h, w] = lq.dims();
        if c != 3 || h != size || w != size {
            return Err(RestoreError::InvalidOption(format!(
                "faces must be [N, 3, {size}, {size}], got {:?}",
                [n, c, h, w]
            )));
        }
        if reference.is_some() && b.mib.is_none() && !self.options.stage1_only {
            // Checked before any sampling: the reference would change nothing.
            return Err(RestoreError::InvalidOption(
                "a reference identity: this model's Stage II is 2AdaIN, without a \
                 bottleneck, and injects no identity"
                    .into(),
            ));
        }
        let dtype = b.context.dtype();
        let lq = lq.cast(dtype);
        let scale = b.vae.scaling_factor;
        // Posterior samples and injected noise come from their own stream; the samplers draw
        // from `seed` and `seed + 1` (per face with per-face seeds).
        let mut rng = seeds.map(|s| s ^ 0x9E37_79B9_7F4A_7C15).noise();

        let r_lq = b.vae.moments(lq.clone());
        observer.event(&PipelineEvent::LqManifold(&r_lq));
        if !self.options.stage1_only && !b.config.stage2_variant.follows_stage1() {
            // "no1": Stage II restores X_LQ itself, as diffmac-train's no_stage1 step trains it.
            let input = Stage2Input {
                x_d1: lq.clone(),
                r: r_lq,
                lq,
                seeds,
                rng,
            };
            return self.bottleneck_and_stage2(input, reference, observer);
        }

        // Stage I (lines 1–12).
        let stage1 = &b.stage1;
        let input1 = read_manifold(b.config.stage1.control_config.input, r_lq.clone(), &mut rng)?;
        let stage = StageRun {
            number: 1,
            models: stage1,
            sampler: &self.stage1,
        };
        let z1 = self.run_stage(stage, input1, &r_lq, &seeds, observer)?;
        observer.event(&PipelineEvent::Stage1Latent(&z1));
        let x_d1 = b.vae.decode(z1 / scale).clamp(-1.0, 1.0);
        observer.event(&PipelineEvent::Stage1Image(&x_d1));
        if self.options.stage1_only {
            let stage1 = color_fix(x_d1, lq, self.options.color_fix);
            return Ok(Restored {
                stage1,
                stage2: None,
            });
        }
        let r = b.vae.moments(x_d1.clone());
        observer.event(&PipelineEvent::D1Manifold(&r));
        let input = Stage2Input {
            x_d1,
            r,
            lq,
            seeds,
            rng,
        };
        self.bottleneck_and_stage2(input, reference, observer)
    }

    /// Stage II (lines 13–32) on `x_d1` with `r = E(x_d1)` already computed: the bottleneck
    /// (or, for 2AdaIN, none) and the stage's sampling.
    fn bottleneck_and_stage2(
        &self,
        mut input: Stage2Input<B>,
        reference: Option<Tensor<B, 2>>,
        observer: &mut dyn Observer<B>,
    ) -> Result<Restored<B>> {
        let b = self.bundle;
        let dtype = b.context.dtype();
        let (Some(stage2), Some(stage2_config)) = (&b.stage2, &b.config.stage2) else {
            return Err(RestoreError::InvalidOption(
                "this model has no Stage II; restore with Stage I only".into(),
            ));
        };
        let Some(mib) = &b.mib else {
            // 2AdaIN: the control reads R = E(X_D1) as diffmac-train's 2AdaIN step does.
            let input2 = read_manifold(
                stage2_config.control_config.input,
                input.r.clone(),
                &mut input.rng,
            )?;
            return self.finish_stage2(stage2, input2, input, observer);
        };
        let injection = Self::injection_kind(b, &self.options).injection(
            || -> Result<_> {
                let embedding = match reference {
                    Some(e) => e,
                    None => self.identity_of(input.x_d1.clone())?,
                }
                .cast(dtype);
                observer.event(&PipelineEvent::Identity(&embedding));
                Ok(Some(embedding))
            },
            || Ok(input.rng.gaussian_like(&input.r)?),
        )?;
        let z = mib.forward(input.r.clone(), injection)?.z;
        observer.event(&PipelineEvent::Bottleneck(&z));
        let input2 = read_manifold(stage2_config.control_config.input, z, &mut input.rng)?;
        self.finish_stage2(stage2, input2, input, observer)
    }

    /// Stage II from its control input on (lines 24–32), and both stages' colour fix.
    /// `r = E(X_D1)` is where a stage of strength below 1 starts.
    fn finish_stage2(
        &self,
        stage2: &StageModels<B>,
        input2: Tensor<B, 4>,
        input: Stage2Input<B>,
        observer: &mut dyn Observer<B>,
    ) -> Result<Restored<B>> {
        let Stage2Input {
            x_d1, r, lq, seeds, ..
        } = input;
        let scale = self.bundle.vae.scaling_factor;
        let stage = StageRun {
            number: 2,
            models: stage2,
            sampler: &self.stage2,
        };
        let z2 = self.run_stage(
            stage,
            input2,
            &r,
            &seeds.map(|s| s.wrapping_add(1)),
            observer,
        )?;
        observer.event(&PipelineEvent::Stage2Latent(&z2));
        let x_d2 = self.bundle.vae.decode(z2 / scale).clamp(-1.0, 1.0);
        observer.event(&PipelineEvent::Stage2Image(&x_d2));
        let fix = self.options.color_fix;
        Ok(Restored {
            stage1: color_fix(x_d1, lq.clone(), fix),
            stage2: Some(color_fix(x_d2, lq, fix)),
        })
    }

    /// Samples one stage (`number` 1 or 2) with its control reading `control_input`,
    /// starting as [`Restorer::init`] says from `start`, the QC output of the stage's input
    /// image; reports each step. Returns z̃₀ in the UNet's scale.
    fn run_stage(
        &self,
        stage: StageRun<'_, B>,
        control_input: Tensor<B, 4>,
        start: &Tensor<B, 4>,
        seeds: &Seeds,
        observer: &mut dyn Observer<B>,
    ) -> Result<Tensor<B, 4>> {
        let StageRun {
            number,
            models,
            sampler,
        } = stage;
        let b = self.bundle;
        let init = self.init(sampler, start, b.vae.scaling_factor, b.context.dtype())?;
        let total = init_steps(&init, sampler);
        let mut done = 0;
        let on_step = |_: &StepInfo<'_, B, 4>| {
            done += 1;
            observer.event(&PipelineEvent::Step {
                stage: number,
                done,
                total,
            });
        };
        Ok(sample_stage(
            &models.unet,
            &models.control,
            control_input,
            b.context.clone(),
            sampler,
            init,
            seeds.noise(),
            on_step,
        )?)
    }

    /// Where a stage starts: pure noise (strength 1), or the stage input's posterior mean
    /// (scaled) noised to `strength` of the schedule.
    fn init(
        &self,
        sampler: &Sampler,
        moments: &Tensor<B, 4>,
        scale: f64,
        dtype: DType,
    ) -> Result<Init<B, 4>> {
        let [n, c, h, w] = moments.dims();
        if self.options.strength >= 1.0 {
            return Ok(Init::Noise {
                shape: [n, c / 2, h, w],
                options: (&moments.device(), dtype).into(),
            });
        }
        let mean = moments.clone().narrow(1, 0, c / 2);
        Ok(Init::Latent {
            latent: mean * scale,
            steps: sampler
                .schedule()
                .steps_for_strength(self.options.strength)?,
        })
    }
}

/// What Stage II works on.
struct Stage2Input<B: Backend> {
    /// The image Stage II restores from: Stage I's output `X_D1`, or for "no1" the input.
    x_d1: Tensor<B, 4>,
    /// Its manifold `R = E(x_d1)`, where a stage of strength below 1 starts.
    r: Tensor<B, 4>,
    /// The input faces, for the colour fix.
    lq: Tensor<B, 4>,
    /// The batch's seeds (the stage's sampler draws from `seed + 1`).
    seeds: Seeds,
    /// The stream of posterior samples and injected noise.
    rng: BatchNoise,
}

/// One stage to sample: which, its models and its sampler.
struct StageRun<'a, B: Backend> {
    /// 1 or 2, for the progress events.
    number: u8,
    /// The stage's UNet and control.
    models: &'a StageModels<B>,
    /// The stage's sampler.
    sampler: &'a Sampler,
}

/// Where a batch's draws come from: one seed for the batch, or one per face.
enum Seeds {
    Shared(u64),
    PerItem(Vec<u64>),
}

impl Seeds {
    /// The seeds of a derived stream: `f` of each seed.
    fn map(&self, f: impl Fn(u64) -> u64) -> Self {
        match self {
            Self::Shared(seed) => Self::Shared(f(*seed)),
            Self::PerItem(seeds) => Self::PerItem(seeds.iter().map(|&s| f(s)).collect()),
        }
    }

    /// Noise drawn from these seeds.
    fn noise(&self) -> BatchNoise {
        match self {
            Self::Shared(seed) => BatchNoise::shared(*seed),
            Self::PerItem(seeds) => BatchNoise::per_item(seeds),
        }
    }
}

/// Number of steps a run from `init` takes.
fn init_steps<B: Backend>(init: &Init<B, 4>, sampler: &Sampler) -> usize {
    match init {
        Init::Latent { steps, .. } => *steps,
        _ => sampler.schedule().len(),
    }
}

/// The control's input from a QC-shaped manifold (lines 5 and 23).
fn read_manifold<B: Backend>(
    input: ManifoldInput,
    moments: Tensor<B, 4>,
    rng: &mut BatchNoise,
) -> Result<Tensor<B, 4>> {
    let [n, c, h, w] = moments.dims();
    let noise = match input {
        ManifoldInput::Sample => {
            let device = moments.device();
            Some(rng.gaussian::<B, 4>([n, c / 2, h, w], (&device, moments.dtype()))?)
        }
        _ => None,
    };
    Ok(input.read(moments, noise))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{Preset, random_bundle};
    use burn::backend::Flex;
    use burn::tensor::FloatDType;

    #[test]
    fn default_options_sample_both_stages_with_the_papers_sampler() {
        let bundle =
            random_bundle::<Flex>(Preset::Tiny, 0, &Default::default(), FloatDType::F32).unwrap();
        let restorer = Restorer::new(&bundle, RestoreOptions::default()).unwrap();
        let paper = Sampler::paper();
        for stage in [&restorer.stage1, &restorer.stage2] {
            assert_eq!(stage.schedule().timesteps(), paper.schedule().timesteps());
            assert_eq!(stage.schedule().betas(), paper.schedule().betas());
            assert_eq!(stage.method(), paper.method());
            assert_eq!(stage.prediction(), paper.prediction());
        }
    }
}
