//! The training loop: builds the models of a [`TrainConfig`], feeds micro-batches from the
//! [`Loader`], steps AdamW, and writes metrics, validation sheets and checkpoints into the run
//! folder. [`train`] starts a run or, with `resume`, continues the newest checkpoint exactly.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{FloatDType, Tensor};

use diffmac_io::{images_to_tensor, stream_seed, tensor_to_images};
use diffmac_ldm::{AdaInControl, ControlConfig, ControlModulation, load_module_file};
use diffmac_mib::{Injection, InjectionKind, QcStats};
use diffmac_sampler::{NoiseRng, NoiseSchedule};

use crate::checkpoint::{
    CONTROL_FILE, DataPosition, OPTIMIZER_FILE, RngState, TrainState, UNET_FILE, UnetOrigin,
    latest_checkpoint, load_weights, read_state, write_checkpoint,
};
use crate::config::{
    IdentitySource, ModelSource, Precision, Stage, Stage2Variant, TrainConfig, XD1Mode,
};
use crate::dataset::{Batch, Dataset, Geometry, Loader};
use crate::error::{Result, TrainError};
use crate::metrics::{MetricsRecord, MetricsWriter};
use crate::models::{
    IdentityModel, load_context, load_unet, load_vae, model_configs, noise_schedule, seeded,
};
use crate::optimizer::{AdamW, Gradients, trainable_parameter_count};
use crate::step::{Stage2Context, StepLoss, control_input, stage1_loss, stage2_loss_step};
use crate::trainable::Trainable;
use crate::validation::{one_step_output, write_sheet};
use crate::x_d1::{CacheManifest, Stage1Model, XD1Cache, stage_sampler};

/// Where a run writes and whether it continues.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// The run folder (created if missing).
    pub run_dir: PathBuf,
    /// Continue from `RUN_DIR/checkpoints/latest` (a run folder without one starts fresh).
    /// The checkpoint's config is used, except `steps`, taken from the given config.
    pub resume: bool,
}

/// What the loop reports to its caller (progress bars, logs).
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Training starts at `first_step` (0 for a fresh run) of `total`.
    Start {
        /// Steps already done.
        first_step: usize,
        /// Steps of the run.
        total: usize,
        /// Trainable parameters.
        trainable_parameters: usize,
    },
    /// `X_D1` cache progress.
    Cache {
        /// Images done.
        done: usize,
        /// Images to do.
        total: usize,
    },
    /// A step finished.
    Step(&'a MetricsRecord),
    /// A checkpoint folder was written.
    Checkpoint(&'a Path),
    /// A validation sheet was written.
    Validation(&'a Path),
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// Steps done before this call (0 for a fresh run).
    pub first_step: usize,
    /// Steps done at the end.
    pub last_step: usize,
    /// Loss of the first step of this call.
    pub first_loss: Option<f64>,
    /// Loss of the last step.
    pub last_loss: Option<f64>,
    /// The last checkpoint folder.
    pub checkpoint: Option<PathBuf>,
}

fn scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    t.into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .ok()
        .and_then(|v| v.first().copied())
        .unwrap_or(f64::NAN)
}

/// Where Stage II's `X_D1` comes from during the run.
enum XD1Source<B: Backend> {
    Lq,
    Cache(XD1Cache),
    OnTheFly(Box<(Stage1Model<B>, diffmac_sampler::Sampler)>),
}

/// What the loop needs to know about the other data-parallel peers of a run (one device each):
/// a single-device run is peer 0 of 1 ([`SingleDevice`]); `crate::ddp` (feature `ddp`) gives
/// the `burn-collective` implementation.
pub(crate) trait Peer<B: Backend> {
    /// This peer's rank, `0..world()`; rank 0 writes the run folder.
    fn rank(&self) -> usize;
    /// Number of peers.
    fn world(&self) -> usize;
    /// Replaces `grads` (summed over this peer's micro-batches) and `stats` by their means over
    /// all peers.
    fn all_reduce(&mut self, grads: &mut Gradients<B>, stats: &mut [f64]) -> Result<()>;
    /// Returns once every peer has called it.
    fn barrier(&mut self) -> Result<()>;
}

/// The one peer of a single-device run.
pub(crate) struct SingleDevice;

impl<B: Backend> Peer<B> for SingleDevice {
    fn rank(&self) -> usize {
        0
    }
    fn world(&self) -> usize {
        1
    }
    fn all_reduce(&mut self, _grads: &mut Gradients<B>, _stats: &mut [f64]) -> Result<()> {
        Ok(())
    }
    fn barrier(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Trains as `config` says into `options.run_dir` on `device` (autodiff backend `AB`).
///
/// # Errors
/// Config, data, model, checkpoint and I/O errors, each naming its file.
pub fn train<AB: AutodiffBackend>(
    config: TrainConfig,
    options: &TrainOptions,
    device: &AB::Device,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<TrainSummary> {
    train_peer::<AB>(config, options, device, &mut SingleDevice, on_event)
}

/// [`train`] as one peer of a data-parallel run: the peer takes micro-batches
/// `k ≡ rank (mod world)` of the single-device stream, gradients are averaged over the peers
/// before clipping and the (identical) optimiser step, and only rank 0 writes the run folder
/// (config, statistics, metrics, validation sheets, checkpoints) and reports events.
pub(crate) fn train_peer<AB: AutodiffBackend>(
    config: TrainConfig,
    options: &TrainOptions,
    device: &AB::Device,
    peer: &mut dyn Peer<AB::InnerBackend>,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<TrainSummary> {
    let lead = peer.rank() == 0;
    let world = peer.world().max(1);
    let mut ignore = |_: Event<'_>| {};
    let on_event: &mut dyn FnMut(Event<'_>) = if lead { on_event } else { &mut ignore };
    let run_dir = options.run_dir.as_path();
    let resume_from = if options.resume {
        latest_checkpoint(run_dir)?
    } else {
        if latest_checkpoint(run_dir)?.is_some() {
            return Err(TrainError::RunFolder {
                path: run_dir.to_path_buf(),
                message: "already holds a run with checkpoints; pass --resume to continue it \
                          or choose another folder"
                    .into(),
            });
        }
        None
    };
    let (config, state) = match &resume_from {
        Some(folder) => {
            let state = read_state(folder)?;
            let mut c = state.config.clone();
            c.steps = Some(config.total_steps());
            if c != config {
                tracing::warn!(
                    "resuming with the config stored in {} (only `steps` is taken from the \
                     given config)",
                    folder.display()
                );
            }
            (c, Some(state))
        }
        None => {
            // A Stage I run folder or its `latest` names the checkpoint to start from.
            let mut config = config;
            if let Some(p) = &config.stage2.stage1_checkpoint {
                config.stage2.stage1_checkpoint = Some(diffmac_io::resolve_latest(
                    p,
                    crate::checkpoint::STATE_FILE,
                )?);
            }
            (config, None)
        }
    };
    config.validate()?;
    if let Some(s) = &state
        && s.step >= config.total_steps()
    {
        tracing::info!(
            "the run is already at step {} of {}",
            s.step,
            config.total_steps()
        );
    }
    if let Some(s) = &state {
        let expected = (s.step * config.optimizer.accumulation * world) as u64;
        if s.rng.micro_batches != expected {
            return Err(TrainError::Config(format!(
                "the checkpoint was written after {} micro-batches at step {}, this run would \
                 take {expected} ({} per step on each of {world} device(s)); resume on as many \
                 devices as the run started with",
                s.rng.micro_batches, s.step, config.optimizer.accumulation
            )));
        }
    }
    if lead {
        std::fs::create_dir_all(run_dir).map_err(TrainError::io(run_dir))?;
        let config_json = serde_json::to_vec_pretty(&config).expect("plain data");
        diffmac_io::write_atomically(&run_dir.join("config.json"), &config_json, true)?;
    }

    let dtype = config.precision.dtype();
    if config.precision != Precision::F32 {
        // The dtype pitfall of Burn 0.21: fix the device default before the first tensor.
        if let Err(e) =
            burn::tensor::set_default_dtypes::<AB>(device, dtype, burn::tensor::IntDType::I64)
        {
            tracing::debug!("default dtype already set on the device: {e:?}");
        }
    }
    let seed = config.seed;
    let stage = config.stage;
    let dataset = Arc::new(Dataset::open(&config.data, seed)?);

    // Frozen models on the inner backend.
    let inner_device: burn::tensor::Device<AB::InnerBackend> = device.clone();
    // Before any weights: a base model that predicts v (SD 2.x-768) is refused here.
    let schedule = noise_schedule(&config.model.source)?;
    let vae = load_vae::<AB::InnerBackend>(&config.model.source, seed, &inner_device, dtype)?;
    let (unet_config, vae_config) = model_configs(&config.model.source)?;
    let context = load_context::<AB::InnerBackend>(
        &config.model,
        unet_config.cross_attention_dim,
        seed,
        &inner_device,
        dtype,
    )?;
    let stage1_dir = (stage == Stage::Two && config.stage2.variant != Stage2Variant::NoStage1)
        .then(|| config.stage2.stage1_checkpoint.clone())
        .flatten();
    let stage1_unet = stage1_dir
        .as_ref()
        .map(|d| d.join(UNET_FILE))
        .filter(|p| p.is_file());

    // The UNet: the checkpoint's when resuming a run that trains it, else Stage I's, else the base.
    let unet_weights = match &state {
        Some(s) if s.unet_trained => resume_from.as_ref().map(|d| d.join(UNET_FILE)),
        _ => stage1_unet.clone(),
    };
    let loaded = load_unet::<AB>(
        &config.model.source,
        unet_weights.as_deref(),
        seed,
        device,
        dtype,
    )?;
    let unet_keys = loaded.keys;
    let unet = config.control.trainable.apply(loaded.unet);
    let unet_trained = trainable_parameter_count(&unet) > 0;
    let unet_origin = match &stage1_unet {
        _ if unet_trained => UnetOrigin::Own,
        Some(file) => UnetOrigin::Stage1 {
            file: file.canonicalize().unwrap_or_else(|_| file.clone()),
            sha256: diffmac_io::sha256_file(file)?,
        },
        None => UnetOrigin::Base,
    };

    let control_config = ControlConfig {
        encoder_channels: unet.encoder_input_channels(),
        latent_channels: vae_config.latent_channels,
        ..config.control.clone()
    };
    let mut control = seeded::<AB, _>(device, stream_seed(seed, b"control"), || {
        control_config.init::<AB>(device)
    });
    control = diffmac_ldm::cast_module(control, dtype);
    if state.is_none()
        && let Some(dir) = &stage1_dir
    {
        control = load_module_file(control, dir.join(CONTROL_FILE), dtype)?;
    }

    let uses_mib = stage == Stage::Two && config.stage2.variant != Stage2Variant::TwoAdain;
    let mib = if uses_mib {
        let stats = match &state {
            Some(_) => QcStats {
                mean: vec![0.0; config.mib.channels],
                std: vec![1.0; config.mib.channels],
                count: 0,
                images: 0,
            },
            None => crate::qc_stats::qc_stats_for_run(
                &config,
                &dataset,
                &vae,
                lead.then_some(run_dir),
                &inner_device,
                dtype,
            )?,
        };
        let mib = seeded::<AB, _>(device, stream_seed(seed, b"mib"), || {
            config.mib.init::<AB>(&stats, device)
        })?;
        Some(diffmac_ldm::cast_module(mib, dtype))
    } else {
        None
    };

    let mut model = Trainable { control, mib, unet };
    let mut optimizer = AdamW::<AB::InnerBackend>::new(config.optimizer.clone());
    if let (Some(folder), Some(_)) = (&resume_from, &state) {
        model = load_weights(folder, model, dtype)?;
        optimizer = AdamW::load(
            config.optimizer.clone(),
            &folder.join(OPTIMIZER_FILE),
            &inner_device,
        )?;
    }
    let mut ema = match (config.optimizer.ema_decay, &resume_from, &state) {
        (None, _, _) => None,
        (Some(d), Some(folder), Some(s)) if s.has_ema => Some(crate::ema::Ema::load(
            d,
            &folder.join(crate::checkpoint::EMA_FILE),
            &inner_device,
        )?),
        (Some(d), _, _) => Some(crate::ema::Ema::new(d)),
    };
    let start = state.as_ref().map_or(0, |s| s.step);
    let total = config.total_steps();

    // Stage II's X_D1 and F_ID.
    let identity = if uses_mib && config.mib.injection == InjectionKind::Identity {
        let id =
            IdentityModel::<AB::InnerBackend>::load(&config.model.identity, seed, &inner_device)?;
        if id.dim() != config.mib.identity_dim {
            return Err(TrainError::Config(format!(
                "the identity encoder gives {}-D embeddings, mib.identity_dim is {}",
                id.dim(),
                config.mib.identity_dim
            )));
        }
        Some(id)
    } else {
        None
    };
    let geometry = if stage == Stage::Two
        && config.stage2.variant != Stage2Variant::NoStage1
        && config.stage2.x_d1 == XD1Mode::Cache
    {
        Geometry::CentreWithFlip
    } else {
        Geometry::Random
    };
    let x_d1_source = match (&stage1_dir, stage) {
        (Some(dir), Stage::Two) => {
            // X_D1 is Stage I's output: its control as Stage I trained it (how it reads the
            // manifold, its widths), whatever Stage II's own control settings are.
            let trained = read_state(dir)?.config.control;
            if trained.input != config.control.input {
                tracing::warn!(
                    "Stage I ({}) was trained with control.input {:?}; X_D1 is sampled with it, \
                     while Stage II's own control reads {:?}",
                    dir.display(),
                    trained.input,
                    config.control.input
                );
            }
            let stage1_control = ControlConfig {
                encoder_channels: control_config.encoder_channels.clone(),
                latent_channels: vae_config.latent_channels,
                ..trained
            };
            let stage1 = Stage1Model {
                unet: load_unet::<AB::InnerBackend>(
                    &config.model.source,
                    stage1_unet.as_deref(),
                    seed,
                    &inner_device,
                    dtype,
                )?
                .unet,
                control: load_module_file(
                    seeded::<AB::InnerBackend, _>(&inner_device, seed, || {
                        stage1_control.init::<AB::InnerBackend>(&inner_device)
                    }),
                    dir.join(CONTROL_FILE),
                    dtype,
                )?,
                input: stage1_control.input,
            };
            let sampler = stage_sampler(&schedule, config.stage2.sampler_steps)?;
            match config.stage2.x_d1 {
                XD1Mode::OnTheFly => XD1Source::OnTheFly(Box::new((stage1, sampler))),
                XD1Mode::Cache => {
                    let cache_dir = config
                        .stage2
                        .cache_dir
                        .clone()
                        .unwrap_or_else(|| run_dir.join("x_d1_cache"));
                    let manifest = CacheManifest {
                        stage1_checkpoint: dir.clone(),
                        seed,
                        size: config.data.size,
                        sampler_steps: config.stage2.sampler_steps,
                        files: dataset.files().to_vec(),
                    };
                    // Rank 0 builds the cache; the other peers open it once it is complete.
                    if !lead {
                        peer.barrier()?;
                    }
                    let cache = XD1Cache::build(
                        &cache_dir,
                        &manifest,
                        &dataset,
                        &stage1,
                        &vae,
                        &context,
                        &sampler,
                        config.batch_size,
                        dtype,
                        |done, total| on_event(Event::Cache { done, total }),
                    )?;
                    if lead {
                        peer.barrier()?;
                    }
                    XD1Source::Cache(cache)
                }
            }
        }
        _ => XD1Source::Lq,
    };

    let accumulation = config.optimizer.accumulation;
    // Micro-batches of the whole run per optimiser step; this peer takes `k ≡ rank (mod world)`.
    let per_step = accumulation * world;
    let loader = Loader::spawn_strided(
        Arc::clone(&dataset),
        config.batch_size,
        (start * per_step + peer.rank()) as u64,
        (total * per_step) as u64,
        world,
        geometry,
        config.data.prefetch,
    );
    let mut metrics = if lead {
        Some(MetricsWriter::open(run_dir, start)?)
    } else {
        None
    };
    on_event(Event::Start {
        first_step: start,
        total,
        trainable_parameters: trainable_parameter_count(&model),
    });

    let began = Instant::now();
    let mut summary = TrainSummary {
        first_step: start,
        last_step: start,
        first_loss: None,
        last_loss: state.as_ref().and_then(|s| s.last_loss),
        checkpoint: resume_from.clone(),
    };
    for step in start + 1..=total {
        let step_began = Instant::now();
        let mut grads = Gradients::<AB::InnerBackend>::default();
        let mut loss_sum = 0.0;
        let mut term_sums: std::collections::BTreeMap<String, f64> = Default::default();
        for micro in 0..accumulation {
            let k = ((step - 1) * per_step + micro * world + peer.rank()) as u64;
            let batch = loader.next_batch()?;
            let mut rng = NoiseRng::new(stream_seed(seed, format!("noise/{k}").as_bytes()));
            let loss = micro_batch_loss(
                &model,
                &config,
                &batch,
                &vae,
                &context,
                &schedule,
                &x_d1_source,
                identity.as_ref(),
                k,
                dtype,
                &mut rng,
            )?;
            let g = loss.total.clone().backward();
            grads.accumulate(&model, &g);
            loss_sum += scalar(loss.total);
            for (name, t) in loss.terms {
                *term_sums.entry(name.to_string()).or_default() += scalar(t);
            }
        }
        if world > 1 {
            let mut stats: Vec<f64> = std::iter::once(loss_sum)
                .chain(term_sums.values().copied())
                .collect();
            peer.all_reduce(&mut grads, &mut stats)?;
            loss_sum = stats[0];
            for (v, s) in term_sums.values_mut().zip(&stats[1..]) {
                *v = *s;
            }
        }
        let grad_norm = grads.finish(config.optimizer.grad_clip_norm);
        // Before the weights change: a non-finite loss or gradient stops the run with the
        // model (and the last checkpoint on disk) as they were after the last good step.
        let loss = loss_sum / accumulation as f64;
        if !loss.is_finite() || !grad_norm.is_finite() {
            return Err(TrainError::Stopped(format!(
                "the loss is {loss} (gradient norm {grad_norm}) at step {step}; the weights \
                 are those of step {}, as is the last checkpoint. Lower the learning rate or \
                 check the data",
                step - 1
            )));
        }
        let (next, lr) = optimizer.step::<AB, _>(model, &grads);
        model = next;
        if let Some(ema) = ema.as_mut() {
            ema.update::<AB, _>(&model);
        }
        let n = accumulation as f64;
        let record = MetricsRecord {
            step,
            stage: stage.number(),
            loss,
            terms: term_sums.into_iter().map(|(k, v)| (k, v / n)).collect(),
            lr,
            grad_norm,
            seconds: began.elapsed().as_secs_f64(),
            step_seconds: step_began.elapsed().as_secs_f64(),
        };
        summary.first_loss.get_or_insert(record.loss);
        summary.last_loss = Some(record.loss);
        summary.last_step = step;
        if let Some(metrics) = metrics.as_mut()
            && (step % config.logging.log_every == 0 || step == total)
        {
            metrics.write(&record)?;
        }
        on_event(Event::Step(&record));

        if lead
            && config.logging.validate_every > 0
            && (step % config.logging.validate_every == 0 || step == total)
        {
            let path = run_dir
                .join("validation")
                .join(format!("{}.png", crate::checkpoint::step_name(step)));
            validate(
                &model.valid(),
                &config,
                &dataset,
                &vae,
                &context,
                &schedule,
                &x_d1_source,
                identity.as_ref(),
                dtype,
                &path,
            )?;
            on_event(Event::Validation(&path));
        }
        if lead && (step % config.checkpoint.every == 0 || step == total) {
            let samples = (step * per_step * config.batch_size) as u64;
            let (epoch, index_in_epoch) = dataset.position(samples);
            let state = TrainState {
                format_version: crate::checkpoint::FORMAT_VERSION,
                stage,
                step,
                unet_trained,
                unet_origin: Some(unet_origin.clone()),
                has_mib: model.mib.is_some(),
                has_ema: ema.is_some(),
                dtype: format!("{:?}", dtype),
                rng: RngState {
                    kind: "derived".into(),
                    seed,
                    micro_batches: (step * per_step) as u64,
                },
                data: DataPosition {
                    samples,
                    epoch,
                    index_in_epoch,
                    images: dataset.len(),
                },
                last_loss: Some(record.loss),
                config: config.clone(),
            };
            let folder = write_checkpoint(
                run_dir,
                &state,
                &model,
                &unet_keys,
                &optimizer,
                ema.as_ref(),
                config.checkpoint.keep_last,
            )?;
            on_event(Event::Checkpoint(&folder));
            summary.checkpoint = Some(folder);
        }
    }
    Ok(summary)
}

/// The loss of micro-batch `k`.
#[allow(clippy::too_many_arguments)]
fn micro_batch_loss<AB: AutodiffBackend>(
    model: &Trainable<AB>,
    config: &TrainConfig,
    batch: &Batch,
    vae: &diffmac_ldm::AutoencoderKL<AB::InnerBackend>,
    context: &Tensor<AB::InnerBackend, 3>,
    schedule: &NoiseSchedule,
    x_d1: &XD1Source<AB::InnerBackend>,
    identity: Option<&IdentityModel<AB::InnerBackend>>,
    k: u64,
    dtype: FloatDType,
    rng: &mut NoiseRng,
) -> Result<StepLoss<AB>> {
    let device = context.device();
    let hq: Vec<_> = batch.samples.iter().map(|s| s.hq.clone()).collect();
    let lq: Vec<_> = batch.samples.iter().map(|s| s.lq.clone()).collect();
    let hq = images_to_tensor::<AB::InnerBackend>(&hq, &device)?.cast(dtype);
    let lq = images_to_tensor::<AB::InnerBackend>(&lq, &device)?.cast(dtype);
    match config.stage {
        Stage::One => stage1_loss(
            model,
            vae,
            context,
            schedule,
            config.control.input,
            hq,
            lq,
            rng,
        ),
        Stage::Two => {
            let x = match x_d1 {
                XD1Source::Lq => lq,
                XD1Source::Cache(cache) => {
                    let parts = batch
                        .samples
                        .iter()
                        .map(|s| cache.get::<AB::InnerBackend>(s.image, s.flipped, &device, dtype))
                        .collect::<Result<Vec<_>>>()?;
                    Tensor::cat(parts, 0)
                }
                XD1Source::OnTheFly(m) => m.0.restore(
                    vae,
                    context,
                    &m.1,
                    lq,
                    stream_seed(config.seed, format!("x_d1/step/{k}").as_bytes()),
                )?,
            };
            let cx = Stage2Context {
                vae,
                context,
                schedule,
                input: config.control.input,
                variant: config.stage2.variant,
                mib: &config.mib,
                identity,
            };
            stage2_loss_step(model, &cx, hq, x, rng)
        }
    }
}

/// Writes the validation sheet of the current model.
#[allow(clippy::too_many_arguments)]
fn validate<B: Backend>(
    model: &Trainable<B>,
    config: &TrainConfig,
    dataset: &Dataset,
    vae: &diffmac_ldm::AutoencoderKL<B>,
    context: &Tensor<B, 3>,
    schedule: &NoiseSchedule,
    x_d1: &XD1Source<B>,
    identity: Option<&IdentityModel<B>>,
    dtype: FloatDType,
    path: &Path,
) -> Result<PathBuf> {
    let device = context.device();
    let n = config.logging.validation_images.clamp(1, dataset.len());
    let samples = (0..n)
        .map(|i| dataset.sample(0, i, Geometry::Fixed))
        .collect::<Result<Vec<_>>>()?;
    let hq_img: Vec<_> = samples.iter().map(|s| s.hq.clone()).collect();
    let lq_img: Vec<_> = samples.iter().map(|s| s.lq.clone()).collect();
    let hq = images_to_tensor::<B>(&hq_img, &device)?.cast(dtype);
    let lq = images_to_tensor::<B>(&lq_img, &device)?.cast(dtype);
    let mut rng = NoiseRng::new(stream_seed(config.seed, b"validation"));
    let mut columns = vec![lq_img.clone()];
    let modulation: ControlModulation<B> = match config.stage {
        Stage::One => model.control.modulation(control_input(
            config.control.input,
            vae.moments(lq),
            &mut rng,
        )),
        Stage::Two => {
            let x = match x_d1 {
                XD1Source::Lq => lq,
                XD1Source::Cache(cache) => Tensor::cat(
                    (0..n)
                        .map(|i| cache.get::<B>(i, false, &device, dtype))
                        .collect::<Result<Vec<_>>>()?,
                    0,
                ),
                XD1Source::OnTheFly(m) => m.0.restore(
                    vae,
                    context,
                    &m.1,
                    lq,
                    stream_seed(config.seed, b"x_d1/validation"),
                )?,
            };
            if !matches!(x_d1, XD1Source::Lq) {
                columns.push(tensor_to_images(x.clone())?);
            }
            let r = vae.moments(x.clone());
            match &model.mib {
                None => control_modulation(&model.control, config, r, &mut rng),
                Some(mib) => {
                    let injection = match config.mib.injection {
                        InjectionKind::Identity => match identity {
                            Some(id) => Injection::Identity(id.embed(x)?.cast(dtype)),
                            None => Injection::None,
                        },
                        InjectionKind::Noise => Injection::Noise(rng.gaussian_like(&r)),
                        InjectionKind::None => Injection::None,
                    };
                    let out = mib.forward(r, injection)?;
                    control_modulation(&model.control, config, out.z, &mut rng)
                }
            }
        }
    };
    let output = one_step_output(
        model,
        vae,
        context,
        schedule,
        &modulation,
        hq,
        config.logging.validation_timestep,
        &mut rng,
    )?;
    columns.push(tensor_to_images(output.cast(FloatDType::F32))?);
    columns.push(hq_img);
    write_sheet(path, &columns)
}

fn control_modulation<B: Backend>(
    control: &AdaInControl<B>,
    config: &TrainConfig,
    moments: Tensor<B, 4>,
    rng: &mut NoiseRng,
) -> ControlModulation<B> {
    control.modulation(control_input(config.control.input, moments, rng))
}

/// The identity source a config needs, for messages.
pub fn describe_identity(source: &IdentitySource) -> String {
    match source {
        IdentitySource::Iresnet { weights } => format!("IResNet {}", weights.display()),
        IdentitySource::Dlib { weights } => format!("dlib ResNet {}", weights.display()),
        IdentitySource::Random { dim } => format!("random {dim}-D projection (tests)"),
    }
}

/// A short description of a model source, for logs.
pub fn describe_models(source: &ModelSource) -> String {
    match source {
        ModelSource::Diffusers { dir } => format!("diffusers folder {}", dir.display()),
        ModelSource::Random {
            unet_config: None, ..
        } => "tiny random UNet and VAE".into(),
        ModelSource::Random { .. } => "random weights from the given configs".into(),
    }
}
