//! Where Stage II's `X_D1` comes from during a run: the LQ face itself (Stage I and
//! "w/o Stage I"), a cache folder that rank 0 fills while the other peers wait at a barrier,
//! or the Stage I model sampled anew for every micro-batch.

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{FloatDType, Tensor};
use diffmac_io::stream_seed;
use diffmac_ldm::{ControlConfig, load_module_file};

use super::setup::{Setup, stage1_dir, stage1_unet};
use super::{Event, Peer};
use crate::checkpoint::{CONTROL_FILE, read_state};
use crate::config::{Stage, Stage2Variant, TrainConfig, XD1Mode};
use crate::dataset::{Batch, Geometry};
use crate::error::Result;
use crate::models::{FrozenModels, load_unet, model_configs, seeded};
use crate::trainable::Trainable;
use crate::x_d1::{CacheManifest, Stage1Model, XD1Cache, stage_sampler};

/// Where Stage II's `X_D1` comes from during the run.
pub(super) enum XD1Source<B: Backend> {
    /// The LQ face (Stage I, "w/o Stage I").
    Lq,
    /// The cache folder of every training image's `X_D1`.
    Cache(XD1Cache),
    /// Stage I sampled for every micro-batch.
    OnTheFly(Box<Stage1Model<B>>),
}

/// How the loader crops and flips: the cache holds centred, unflipped faces (a flip is
/// applied to the cached `X_D1`), so a cached run's samples are centred.
pub(super) fn geometry(config: &TrainConfig) -> Geometry {
    if config.stage == Stage::Two
        && config.stage2.variant != Stage2Variant::NoStage1
        && config.stage2.x_d1 == XD1Mode::Cache
    {
        Geometry::CentreWithFlip
    } else {
        Geometry::Random
    }
}

impl<AB: AutodiffBackend> Setup<'_, AB> {
    /// The run's `X_D1` source. A cache is filled by rank 0 while the other peers wait at
    /// `peer`'s barrier, then opened by them (`on_event` hears the progress).
    pub fn x_d1_source(
        &self,
        frozen: &FrozenModels<AB::InnerBackend>,
        trained: &Trainable<AB>,
        peer: &mut dyn Peer<AB::InnerBackend>,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<XD1Source<AB::InnerBackend>> {
        let config = &self.start.config;
        let Some(dir) = stage1_dir(config) else {
            return Ok(XD1Source::Lq);
        };
        let stage1 = self.stage1_model(frozen, trained, &dir)?;
        match config.stage2.x_d1 {
            XD1Mode::OnTheFly => Ok(XD1Source::OnTheFly(Box::new(stage1))),
            XD1Mode::Cache => {
                let cache_dir = config
                    .stage2
                    .cache_dir
                    .clone()
                    .unwrap_or_else(|| self.run_dir.join("x_d1_cache"));
                let manifest = CacheManifest {
                    stage1_checkpoint: dir,
                    seed: config.seed,
                    size: config.data.size,
                    sampler_steps: config.stage2.sampler_steps,
                    files: self.dataset.files().to_vec(),
                };
                // Rank 0 builds the cache; the other peers open it once it is complete.
                if !self.lead {
                    peer.barrier()?;
                }
                let cache = XD1Cache::open(&cache_dir, &manifest)?;
                cache.fill(
                    &self.dataset,
                    &stage1,
                    frozen,
                    config.batch_size,
                    self.dtype,
                    |done, total| on_event(Event::Cache { done, total }),
                )?;
                if self.lead {
                    peer.barrier()?;
                }
                Ok(XD1Source::Cache(cache))
            }
        }
    }

    /// The frozen Stage I model of checkpoint `dir`, with its control as Stage I trained it
    /// (how it reads the manifold, its widths) whatever Stage II's own control settings are.
    fn stage1_model(
        &self,
        frozen: &FrozenModels<AB::InnerBackend>,
        trained: &Trainable<AB>,
        dir: &std::path::Path,
    ) -> Result<Stage1Model<AB::InnerBackend>> {
        let config = &self.start.config;
        let (seed, dtype, device) = (config.seed, self.dtype, &self.inner_device());
        let stage1_trained = read_state(dir)?.config.control;
        if stage1_trained.input != config.control.input {
            tracing::warn!(
                "Stage I ({}) was trained with control.input {:?}; X_D1 is sampled with it, \
                 while Stage II's own control reads {:?}",
                dir.display(),
                stage1_trained.input,
                config.control.input
            );
        }
        let (_, vae_config) = model_configs(&config.model.source)?;
        let stage1_control = ControlConfig {
            encoder_channels: trained.unet.encoder_input_channels(),
            latent_channels: vae_config.latent_channels,
            ..stage1_trained
        };
        Ok(Stage1Model {
            unet: load_unet::<AB::InnerBackend>(
                &config.model.source,
                stage1_unet(config).as_deref(),
                seed,
                device,
                dtype,
            )?
            .unet,
            control: load_module_file(
                seeded::<AB::InnerBackend, _>(device, seed, || {
                    stage1_control.init::<AB::InnerBackend>(device)
                }),
                dir.join(CONTROL_FILE),
                dtype,
            )?,
            input: stage1_control.input,
            sampler: stage_sampler(&frozen.schedule, config.stage2.sampler_steps)?,
        })
    }
}

impl<B: Backend> XD1Source<B> {
    /// `X_D1` of micro-batch `k` (`batch`, LQ faces `lq`), in `dtype`.
    pub fn for_batch(
        &self,
        frozen: &FrozenModels<B>,
        config: &TrainConfig,
        batch: &Batch,
        lq: Tensor<B, 4>,
        k: u64,
        dtype: FloatDType,
    ) -> Result<Tensor<B, 4>> {
        let device = frozen.context.device();
        Ok(match self {
            Self::Lq => lq,
            Self::Cache(cache) => {
                let parts = batch
                    .samples
                    .iter()
                    .map(|s| cache.get::<B>(s.image, s.flipped, &device, dtype))
                    .collect::<Result<Vec<_>>>()?;
                Tensor::cat(parts, 0)
            }
            Self::OnTheFly(m) => m.restore(
                &frozen.vae,
                &frozen.context,
                lq,
                stream_seed(config.seed, format!("x_d1/step/{k}").as_bytes()),
            )?,
        })
    }

    /// `X_D1` of the `n` validation images (LQ faces `lq`), in `dtype`.
    pub fn for_validation(
        &self,
        frozen: &FrozenModels<B>,
        config: &TrainConfig,
        n: usize,
        lq: Tensor<B, 4>,
        dtype: FloatDType,
    ) -> Result<Tensor<B, 4>> {
        let device = frozen.context.device();
        Ok(match self {
            Self::Lq => lq,
            Self::Cache(cache) => Tensor::cat(
                (0..n)
                    .map(|i| cache.get::<B>(i, false, &device, dtype))
                    .collect::<Result<Vec<_>>>()?,
                0,
            ),
            Self::OnTheFly(m) => m.restore(
                &frozen.vae,
                &frozen.context,
                lq,
                stream_seed(config.seed, b"x_d1/validation"),
            )?,
        })
    }
}
