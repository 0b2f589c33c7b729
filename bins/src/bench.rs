//! What `diffmac-bench` measures with: the timing loop (warm-up, timed runs each ending with
//! a device sync, median / min / max), the process figures read from `/proc` (cores kept
//! busy, peak resident memory), the JSON report, and the training-step item, which runs the
//! trainer's own step ([`diffmac::train::trainer::optimizer_step`]) so that the benchmark
//! cannot drift from what training does.

use std::path::Path;
use std::time::Instant;

use burn::tensor::FloatDType;
use burn::tensor::backend::Backend;
use diffmac::backend::{
    DefaultBackend, default_device, device_memory_reserved, release_unused_device_memory,
};
use diffmac::ldm::{ControlConfig, TrainableParts, UNet2DConditionModel, VarBuilder};
use diffmac::restore::bundle::ModelBundle;
use diffmac::sampler::NoiseRng;
use diffmac::train::Autodiff;
use diffmac::train::config::OptimizerConfig;
use diffmac::train::models::FrozenModels;
use diffmac::train::optimizer::AdamW;
use diffmac::train::step::stage1_loss;
use diffmac::train::trainable::Trainable;
use diffmac::train::trainer::{StepGradients, optimizer_step};
use serde::Serialize;

type B = DefaultBackend;

/// One timed item of the report (the field names are read by `scripts/cpu_bench.sh` and
/// `scripts/gpu_bench.sh`).
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    /// The item's name (`unet_b1`, `train_b2`, …).
    pub name: String,
    /// What one run does.
    pub what: String,
    /// The first (warm-up) run, which includes kernel compilation and autotuning on CUDA.
    pub first_ms: f64,
    /// Median of the timed runs.
    pub median_ms: f64,
    /// Fastest timed run.
    pub min_ms: f64,
    /// Slowest timed run.
    pub max_ms: f64,
    /// Timed runs.
    pub repeats: usize,
    /// Device memory the allocator held after the item's runs, unused pages released before
    /// it (MiB; the models' weights included, as in PyTorch's peak allocated). GPU only.
    pub reserved_mib: Option<f64>,
    /// Cores kept busy during the timed runs: the process's CPU time (user + system) over the
    /// wall time. Linux only (read from `/proc/self/stat`).
    pub cores_busy: Option<f64>,
    /// The process's peak resident memory so far (MiB, `VmHWM`). Linux only.
    pub peak_rss_mib: Option<f64>,
}

/// The report `diffmac-bench` prints and writes.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    /// The backend of this build.
    pub backend: &'static str,
    /// `tiny` or `sd21`.
    pub preset: String,
    /// The precision asked for.
    pub precision: String,
    /// The dtype the outputs really had (the dtype pitfall of Burn 0.21).
    pub output_dtype: String,
    /// The items, in the order run.
    pub items: &'a [Timing],
}

impl Report<'_> {
    /// Writes the report as pretty JSON to `path` atomically (creating its folder).
    ///
    /// # Errors
    /// The folder cannot be created or the file written.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let json = serde_json::to_string_pretty(self)?;
        diffmac::io::write_atomically(path, json.as_bytes(), true)?;
        Ok(())
    }
}

/// Waits for the default device's queued work (a warning on stderr if it fails).
fn sync() {
    if let Err(e) = B::sync(&default_device()) {
        eprintln!("warning: device sync failed: {e:?}");
    }
}

/// Runs `f` `warmup` times (at least once, timing the first) and `repeats` times (at least
/// once) timed, each run ending with a device sync, and reports item `name`.
///
/// # Errors
/// The first error of `f`.
pub fn time(
    name: &str,
    what: &str,
    warmup: usize,
    repeats: usize,
    mut f: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Timing> {
    release_unused_device_memory();
    let mut first_ms = f64::NAN;
    for i in 0..warmup.max(1) {
        let start = Instant::now();
        f()?;
        sync();
        if i == 0 {
            first_ms = start.elapsed().as_secs_f64() * 1e3;
        }
    }
    let (cpu_before, wall_before) = (process_cpu_seconds(), Instant::now());
    let mut runs = Vec::with_capacity(repeats.max(1));
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        f()?;
        sync();
        runs.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let wall = wall_before.elapsed().as_secs_f64();
    let cores_busy = process_cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| (after - before) / wall);
    runs.sort_by(f64::total_cmp);
    Ok(Timing {
        name: name.into(),
        what: what.into(),
        first_ms,
        median_ms: runs[runs.len() / 2],
        min_ms: runs[0],
        max_ms: runs[runs.len() - 1],
        repeats: runs.len(),
        reserved_mib: device_memory_reserved().map(|bytes| bytes as f64 / (1 << 20) as f64),
        cores_busy,
        peak_rss_mib: peak_resident_mib(),
    })
}

/// CPU time (user + system) this process has used, in seconds. `None` off Linux.
pub fn process_cpu_seconds() -> Option<f64> {
    cpu_seconds_of_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// User + system time of a `/proc/<pid>/stat` line: fields 14 and 15, in Linux's fixed 100
/// ticks per second. The command name (field 2) may hold spaces and parentheses; the fields
/// after it follow its last ')'.
fn cpu_seconds_of_stat(stat: &str) -> Option<f64> {
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

/// Peak resident memory of this process (`VmHWM` of `/proc/self/status`), MiB. `None` off
/// Linux.
pub fn peak_resident_mib() -> Option<f64> {
    vm_hwm_mib(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// The `VmHWM` line of a `/proc/<pid>/status` text, in MiB.
fn vm_hwm_mib(status: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The VAE's down-sampling factor of a bundle (2^(levels − 1); SD: 8).
pub fn vae_factor(bundle: &ModelBundle<B>) -> usize {
    let levels = bundle.config.vae_config.block_out_channels.len();
    1 << levels.saturating_sub(1)
}

/// One Stage I training step of the trainer, batch 2, on a copy of the bundle's UNet made
/// trainable whole with its control, as `configs/train/sd21-*.json`: the trainer's Stage I
/// loss, then its optimiser step ([`StepGradients`], [`optimizer_step`]) with AdamW at the
/// default settings and gradients clipped to norm 1.
pub struct StageOneStep {
    /// `None` only if a step failed part-way.
    model: Option<Trainable<Autodiff<B>>>,
    optimizer: AdamW<B>,
    frozen: FrozenModels<B>,
    rng: NoiseRng,
}

impl StageOneStep {
    /// The trainable copy of `bundle`'s Stage I UNet and a fresh control in `dtype`.
    ///
    /// # Errors
    /// The UNet cannot be built from the bundle's config.
    pub fn new(bundle: &ModelBundle<B>, dtype: FloatDType) -> anyhow::Result<Self> {
        let device = default_device();
        let unet = UNet2DConditionModel::<Autodiff<B>>::load(
            &bundle.config.unet_config,
            &VarBuilder::random(&device, dtype),
        )?;
        let unet = TrainableParts::ControlAndUNet.apply(unet);
        let control =
            diffmac::ldm::cast_module(ControlConfig::for_unet(&unet).init(&device), dtype);
        Ok(Self {
            model: Some(Trainable {
                control,
                mib: None,
                unet,
            }),
            optimizer: AdamW::new(OptimizerConfig {
                grad_clip_norm: Some(1.0),
                ..OptimizerConfig::default()
            }),
            frozen: FrozenModels {
                vae: bundle.vae.clone(),
                context: bundle.context.clone(),
                schedule: bundle.schedule.clone(),
                identity: None,
            },
            rng: NoiseRng::new(0),
        })
    }

    /// One step on random HQ and LQ faces of the bundle's size.
    ///
    /// # Errors
    /// The loss or the step fails (a non-finite loss or gradient among them).
    pub fn run(&mut self, bundle: &ModelBundle<B>) -> anyhow::Result<()> {
        let size = bundle.config.image_size;
        let device = default_device();
        let dtype = self.frozen.context.dtype();
        let mut image = || {
            self.rng
                .gaussian::<B, 4>([2, 3, size, size], (&device, dtype))
                .clamp(-1.0, 1.0)
        };
        let (hq, lq) = (image(), image());
        let model = self
            .model
            .take()
            .ok_or_else(|| anyhow::anyhow!("an earlier training step failed part-way"))?;
        let input = bundle.config.stage1.control_config.input;
        let loss = stage1_loss(&model, &self.frozen, input, hq, lq, &mut self.rng)?;
        let mut grads = StepGradients::default();
        grads.add(&model, loss);
        let step = self.optimizer.steps_taken() + 1;
        let (model, _) = optimizer_step(model, grads, &mut self.optimizer, None, step)?;
        self.model = Some(model);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_follow_the_last_parenthesis() {
        // A command name with a space and a ')' of its own; utime 250, stime 50 ticks.
        let stat = "4242 (a b) c) S 1 1 1 0 -1 4194304 10 0 0 0 250 50 0 0 20 0 1 0";
        assert_eq!(cpu_seconds_of_stat(stat), Some(3.0));
        assert_eq!(cpu_seconds_of_stat("no parenthesis here"), None);
        assert_eq!(cpu_seconds_of_stat("1 (x) S 1"), None);
    }

    #[test]
    fn peak_resident_memory_is_read_in_mib() {
        let status = "Name:\tx\nVmPeak:\t 9000 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1024 kB\n";
        assert_eq!(vm_hwm_mib(status), Some(2.0));
        assert_eq!(vm_hwm_mib("Name:\tx\n"), None);
        if cfg!(target_os = "linux") {
            assert!(peak_resident_mib().is_some_and(|m| m > 0.0));
            assert!(process_cpu_seconds().is_some_and(|s| s >= 0.0));
        }
    }

    #[test]
    fn time_runs_warmup_and_repeats_and_orders_the_figures() {
        let mut calls = 0;
        let timing = time("item", "counts", 2, 5, || {
            calls += 1;
            std::thread::sleep(std::time::Duration::from_millis(calls));
            Ok(())
        })
        .unwrap();
        assert_eq!(calls, 7);
        assert_eq!((timing.name.as_str(), timing.repeats), ("item", 5));
        assert!(timing.first_ms >= 1.0, "{timing:?}");
        assert!(timing.min_ms >= 3.0, "{timing:?}");
        assert!(timing.min_ms <= timing.median_ms && timing.median_ms <= timing.max_ms);
        assert!(timing.max_ms >= 7.0, "{timing:?}");
        let mut failing = 0;
        let err = time("bad", "fails", 0, 3, || {
            failing += 1;
            anyhow::ensure!(failing < 2, "second run fails");
            Ok(())
        });
        assert!(err.is_err());
        assert_eq!(failing, 2, "a failure stops the item");
    }
}
