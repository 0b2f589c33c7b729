//! The loop of one peer: micro-batches from the loader, their losses, the optimiser step,
//! and, on rank 0, `metrics.jsonl`, validation sheets and checkpoints.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{FloatDType, Tensor};
use diffmac_io::{images_to_tensor, stream_seed, tensor_to_images};
use diffmac_ldm::ControlModulation;
use diffmac_sampler::NoiseRng;

use super::setup::{TrainedModels, UnetRecord};
use super::update::{StepGradients, StepUpdate, optimizer_step};
use super::x_d1_source::{XD1Source, geometry};
use super::{Event, Peer, TrainSummary};
use crate::checkpoint::{
    DataPosition, FORMAT_VERSION, RngState, TrainState, step_name, write_checkpoint,
};
use crate::config::{Stage, TrainConfig};
use crate::dataset::{Batch, Dataset, Geometry, Loader};
use crate::error::Result;
use crate::metrics::{MetricsRecord, MetricsWriter};
use crate::models::FrozenModels;
use crate::optimizer::trainable_parameter_count;
use crate::step::{Stage2Context, StepLoss, control_input, stage1_loss, stage2_loss_step};
use crate::trainable::Trainable;
use crate::validation::{one_step_output, write_sheet};

/// What every step of a peer's run reads and none changes.
pub(super) struct Steps<'a, B: Backend> {
    /// The run's config.
    pub config: &'a TrainConfig,
    /// VAE, context, schedule, `F_ID`.
    pub frozen: &'a FrozenModels<B>,
    /// Where `X_D1` comes from.
    pub x_d1: &'a XD1Source<B>,
    /// The training images.
    pub dataset: &'a Arc<Dataset>,
    /// The run folder.
    pub run_dir: &'a Path,
    /// The run's float dtype.
    pub dtype: FloatDType,
    /// Whether this peer writes the run folder (rank 0).
    pub lead: bool,
    /// Peers of the run (1 on a single device).
    pub world: usize,
}

impl<B: Backend> Steps<'_, B> {
    /// Micro-batches of the whole run per optimiser step (every peer's).
    fn per_step(&self) -> usize {
        self.config.optimizer.accumulation * self.world
    }

    /// Runs the steps after `summary.first_step` up to the config's total with `trained`,
    /// `peer` taking its share of the micro-batches; returns the summary.
    pub fn run<AB: AutodiffBackend<InnerBackend = B>>(
        &self,
        trained: TrainedModels<AB>,
        mut summary: TrainSummary,
        peer: &mut dyn Peer<B>,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<TrainSummary> {
        let config = self.config;
        let TrainedModels {
            mut model,
            mut optimizer,
            mut ema,
            unet,
        } = trained;
        let (start, total, per_step) = (summary.first_step, config.total_steps(), self.per_step());
        // This peer takes the micro-batches `k ≡ rank (mod world)`.
        let loader = Loader::spawn_strided(
            Arc::clone(self.dataset),
            config.batch_size,
            (start * per_step + peer.rank()) as u64,
            (total * per_step) as u64,
            self.world,
            geometry(config),
            config.data.prefetch,
        );
        let mut metrics = if self.lead {
            Some(MetricsWriter::open(self.run_dir, start)?)
        } else {
            None
        };
        on_event(Event::Start {
            first_step: start,
            total,
            trainable_parameters: trainable_parameter_count(&model),
        });
        let began = Instant::now();
        for step in start + 1..=total {
            let step_began = Instant::now();
            let grads = self.micro_batches(&model, &loader, step, peer)?;
            let (next, update) = optimizer_step(model, grads, &mut optimizer, ema.as_mut(), step)?;
            model = next;
            let record = self.record(step, update, began, step_began);
            summary.first_loss.get_or_insert(record.loss);
            summary.last_loss = Some(record.loss);
            summary.last_step = step;
            if let Some(metrics) = metrics.as_mut()
                && (step % config.logging.log_every == 0 || step == total)
            {
                metrics.write(&record)?;
            }
            on_event(Event::Step(&record));
            if self.lead
                && config.logging.validate_every > 0
                && (step % config.logging.validate_every == 0 || step == total)
            {
                let path = self.validate(&model.valid(), step)?;
                on_event(Event::Validation(&path));
            }
            if self.lead && (step % config.checkpoint.every == 0 || step == total) {
                let state = self.state_at(step, &unet, &model, ema.is_some(), record.loss);
                let folder = write_checkpoint(
                    self.run_dir,
                    &state,
                    &model,
                    &unet.keys,
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

    /// This peer's micro-batches of optimiser step `step`, backpropagated and summed, then
    /// averaged over the peers.
    fn micro_batches<AB: AutodiffBackend<InnerBackend = B>>(
        &self,
        model: &Trainable<AB>,
        loader: &Loader,
        step: usize,
        peer: &mut dyn Peer<B>,
    ) -> Result<StepGradients<B>> {
        let mut grads = StepGradients::default();
        for micro in 0..self.config.optimizer.accumulation {
            let k = ((step - 1) * self.per_step() + micro * self.world + peer.rank()) as u64;
            let batch = loader.next_batch()?;
            let mut rng = NoiseRng::new(stream_seed(
                self.config.seed,
                format!("noise/{k}").as_bytes(),
            ));
            let loss = self.micro_batch_loss(model, &batch, k, &mut rng)?;
            grads.add(model, loss);
        }
        grads.all_reduce(peer)?;
        Ok(grads)
    }

    /// The loss of micro-batch `k`.
    fn micro_batch_loss<AB: AutodiffBackend<InnerBackend = B>>(
        &self,
        model: &Trainable<AB>,
        batch: &Batch,
        k: u64,
        rng: &mut NoiseRng,
    ) -> Result<StepLoss<AB>> {
        let (config, dtype) = (self.config, self.dtype);
        let device = self.frozen.context.device();
        let hq: Vec<_> = batch.samples.iter().map(|s| s.hq.clone()).collect();
        let lq: Vec<_> = batch.samples.iter().map(|s| s.lq.clone()).collect();
        let hq = images_to_tensor::<B>(&hq, &device)?.cast(dtype);
        let lq = images_to_tensor::<B>(&lq, &device)?.cast(dtype);
        match config.stage {
            Stage::One => stage1_loss(model, self.frozen, config.control.input, hq, lq, rng),
            Stage::Two => {
                let x = self
                    .x_d1
                    .for_batch(self.frozen, config, batch, lq, k, dtype)?;
                let cx = Stage2Context {
                    frozen: self.frozen,
                    input: config.control.input,
                    variant: config.stage2.variant,
                    mib: &config.mib,
                };
                stage2_loss_step(model, &cx, hq, x, rng)
            }
        }
    }

    /// The `metrics.jsonl` record of step `step`.
    fn record(
        &self,
        step: usize,
        update: StepUpdate,
        began: Instant,
        step_began: Instant,
    ) -> MetricsRecord {
        MetricsRecord {
            step,
            stage: self.config.stage.number(),
            loss: update.loss,
            terms: update.terms,
            lr: update.lr,
            grad_norm: update.grad_norm,
            seconds: began.elapsed().as_secs_f64(),
            step_seconds: step_began.elapsed().as_secs_f64(),
        }
    }

    /// The checkpoint state after step `step` (`last_loss` its loss).
    fn state_at<AB: AutodiffBackend<InnerBackend = B>>(
        &self,
        step: usize,
        unet: &UnetRecord,
        model: &Trainable<AB>,
        has_ema: bool,
        last_loss: f64,
    ) -> TrainState {
        let config = self.config;
        let samples = (step * self.per_step() * config.batch_size) as u64;
        let (epoch, index_in_epoch) = self.dataset.position(samples);
        TrainState {
            format_version: FORMAT_VERSION,
            stage: config.stage,
            step,
            unet_trained: unet.trained,
            unet_origin: Some(unet.origin.clone()),
            has_mib: model.mib.is_some(),
            has_ema,
            dtype: format!("{:?}", self.dtype),
            rng: RngState {
                kind: "derived".into(),
                seed: config.seed,
                micro_batches: (step * self.per_step()) as u64,
            },
            data: DataPosition {
                samples,
                epoch,
                index_in_epoch,
                images: self.dataset.len(),
            },
            last_loss: Some(last_loss),
            config: config.clone(),
        }
    }

    /// Writes the validation sheet of step `step` for `model` (the current weights).
    fn validate(&self, model: &Trainable<B>, step: usize) -> Result<PathBuf> {
        let (config, dtype) = (self.config, self.dtype);
        let path = self
            .run_dir
            .join("validation")
            .join(format!("{}.png", step_name(step)));
        let device = self.frozen.context.device();
        let n = config
            .logging
            .validation_images
            .clamp(1, self.dataset.len());
        let samples = (0..n)
            .map(|i| self.dataset.sample(0, i, Geometry::Fixed))
            .collect::<Result<Vec<_>>>()?;
        let hq_img: Vec<_> = samples.iter().map(|s| s.hq.clone()).collect();
        let lq_img: Vec<_> = samples.iter().map(|s| s.lq.clone()).collect();
        let hq = images_to_tensor::<B>(&hq_img, &device)?.cast(dtype);
        let lq = images_to_tensor::<B>(&lq_img, &device)?.cast(dtype);
        let mut rng = NoiseRng::new(stream_seed(config.seed, b"validation"));
        let mut columns = vec![lq_img.clone()];
        let modulation = match config.stage {
            Stage::One => model.control.modulation(control_input(
                config.control.input,
                self.frozen.vae.moments(lq),
                &mut rng,
            )),
            Stage::Two => {
                let x = self
                    .x_d1
                    .for_validation(self.frozen, config, n, lq, dtype)?;
                if !matches!(self.x_d1, XD1Source::Lq) {
                    columns.push(tensor_to_images(x.clone())?);
                }
                self.stage2_modulation(model, x, &mut rng)?
            }
        };
        let output = one_step_output(
            model,
            self.frozen,
            &modulation,
            hq,
            config.logging.validation_timestep,
            &mut rng,
        )?;
        columns.push(tensor_to_images(output.cast(FloatDType::F32))?);
        columns.push(hq_img);
        write_sheet(&path, &columns)
    }

    /// Stage II's control modulation from `X_D1` `x`: through the bottleneck (with its
    /// injection) when the run has one, else `R` read directly.
    fn stage2_modulation(
        &self,
        model: &Trainable<B>,
        x: Tensor<B, 4>,
        rng: &mut NoiseRng,
    ) -> Result<ControlModulation<B>> {
        let config = self.config;
        let r = self.frozen.vae.moments(x.clone());
        let z = match &model.mib {
            None => r,
            Some(mib) => {
                let injection = config.mib.injection.injection(
                    || -> Result<_> {
                        match &self.frozen.identity {
                            Some(id) => Ok(Some(id.embed(x)?.cast(self.dtype))),
                            None => Ok(None),
                        }
                    },
                    || Ok(rng.gaussian_like(&r)),
                )?;
                mib.forward(r, injection)?.z
            }
        };
        Ok(model
            .control
            .modulation(control_input(config.control.input, z, rng)))
    }
}
