//! Two-stage training of DiffMAC (paper §3, §4.1.1, Algorithm 1) on Burn.
//!
//! - [`config`]: [`TrainConfig`] with the paper's values, presets, JSON files merged over them.
//! - [`dataset`]: HQ faces → (HQ, LQ) pairs, reproducible from (seed, epoch, image).
//! - [`models`]: the frozen VAE, the UNet, the "" context and `F_ID` ([`models::FrozenModels`]
//!   holds the frozen ones).
//! - [`step`]: the Stage I loss (lines 4–9) and the Stage II loss (lines 16–29, eq. 13).
//! - [`x_d1`]: the Stage I result `X_D1` for Stage II, cached or on the fly.
//! - [`qc_stats`]: `μ_QC`, `σ_QC` of the QC manifold over training faces or a folder.
//! - [`optimizer`]: AdamW with PyTorch's rule, state keyed by module path; [`ema`]: optional
//!   moving average of the trained weights.
//! - [`checkpoint`]: the checkpoint folder (a contract with the restorer), `latest`, resume.
//! - [`metrics`], [`validation`]: `metrics.jsonl`, validation sheets.
//! - [`trainer`]: [`train`], the loop, in named steps; [`trainer::optimizer_step`] is one
//!   optimiser step as the loop takes it (the benchmark times it).
//! - `ddp` (cargo feature `ddp`): `train_data_parallel`, the loop on several devices with
//!   Burn's collective all-reduce (`burn-collective`).
//! - [`launch`]: a run as a tool's flags describe it (config flags, devices and nodes, the
//!   orchestrator), with what needs `ddp` refused in builds without it.
//!
//! Everything is generic over an autodiff backend; frozen models run on its inner backend.
//! See `docs/training.md`.

pub mod checkpoint;
pub mod config;
pub mod dataset;
#[cfg(feature = "ddp")]
pub mod ddp;
pub mod ema;
pub mod error;
pub mod launch;
pub mod metrics;
pub mod models;
pub mod optimizer;
pub mod qc_stats;
pub mod step;
pub mod trainable;
pub mod validation;
pub mod x_d1;

pub use error::{Result, TrainError};
pub mod trainer;

pub use burn::backend::Autodiff;
pub use config::{Preset, Stage, TrainConfig};
pub use qc_stats::{qc_stats_from_folder, qc_stats_with};
pub use trainer::{Event, TrainOptions, TrainSummary, train};
