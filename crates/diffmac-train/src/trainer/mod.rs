//! The training loop: builds the models of a [`TrainConfig`], feeds micro-batches from the
//! [`Loader`](crate::dataset::Loader), steps AdamW, and writes metrics, validation sheets and
//! checkpoints into the run folder. [`train`] starts a run or, with `resume`, continues the
//! newest checkpoint exactly.
//!
//! One peer's run, in the order [`train`] takes the steps:
//! - `setup`: where the run starts (fresh, or the checkpoint it resumes and its config), the
//!   frozen models ([`FrozenModels`](crate::models::FrozenModels)) and the trained ones with
//!   their optimiser and moving average;
//! - `x_d1_source`: where Stage II's `X_D1` comes from (the LQ face, a cache folder that rank
//!   0 fills while the other peers wait, or Stage I sampled on the fly);
//! - `steps`: the loop, its validation sheets and checkpoint states;
//! - `update`: one optimiser step as the loop takes it ([`StepGradients`], [`optimizer_step`]),
//!   public so that a benchmark times what training does.

mod setup;
mod steps;
mod update;
mod x_d1_source;

use std::path::{Path, PathBuf};

use burn::tensor::backend::{AutodiffBackend, Backend};

use crate::config::{IdentitySource, ModelSource, TrainConfig};
use crate::error::Result;
use crate::metrics::MetricsRecord;
use crate::optimizer::Gradients;

pub use update::{StepGradients, StepUpdate, optimizer_step};

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
    let mut ignore = |_: Event<'_>| {};
    let on_event: &mut dyn FnMut(Event<'_>) = if lead { on_event } else { &mut ignore };
    let run_dir = options.run_dir.as_path();
    let start = setup::RunStart::resolve(config, options, peer.world().max(1))?;
    if lead {
        setup::write_run_config(run_dir, &start.config)?;
    }
    setup::set_default_dtype::<AB>(device, &start.config);
    let setup = setup::Setup::<AB>::new(&start, run_dir, lead, device)?;
    let frozen = setup.frozen_models()?;
    let trained = setup.trained_models(&frozen)?;
    let x_d1 = setup.x_d1_source(&frozen, &trained.model, peer, on_event)?;
    let summary = TrainSummary {
        first_step: start.step(),
        last_step: start.step(),
        first_loss: None,
        last_loss: start.resumed.as_ref().and_then(|r| r.state.last_loss),
        checkpoint: start.resumed.as_ref().map(|r| r.folder.clone()),
    };
    let steps = steps::Steps {
        config: &start.config,
        frozen: &frozen,
        x_d1: &x_d1,
        dataset: &setup.dataset,
        run_dir,
        dtype: setup.dtype,
        lead,
        world: peer.world().max(1),
    };
    steps.run(trained, summary, peer, on_event)
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
