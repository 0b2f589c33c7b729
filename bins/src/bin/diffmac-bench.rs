//! `diffmac-bench`: times DiffMAC's building blocks (inference and one training step) on this
//! build's backend with random weights of the real (`--preset sd21`) or toy (`--preset tiny`)
//! sizes, and prints JSON (written to `--json` after every item, so a stopped run keeps what
//! it measured).
//!
//! Each item runs `--warmup` times untimed first (the first call includes NVRTC kernel
//! compilation and autotuning on CUDA; its time is reported as `first_ms`), then `--repeats`
//! timed runs, each ending with a device sync; the report gives the median, min and max.
//! `scripts/gpu_bench.sh` runs it next to the PyTorch reference on the same card.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Distribution, FloatDType, Tensor};
use clap::{Parser, ValueEnum};
use diffmac::backend::{
    BACKEND_NAME, DefaultBackend, default_device, device_memory_reserved,
    release_unused_device_memory,
};
use diffmac::ldm::{
    ControlConfig, TrainableParts, UNet2DConditionModel, UNetConfig, VarBuilder, cast_module,
};
use diffmac::mib::Injection;
use diffmac::restore::bundle::{ModelBundle, Preset, random_bundle};
use diffmac::restore::{Quiet, RestoreOptions, Restorer};
use diffmac::sampler::NoiseRng;
use diffmac::train::Autodiff;
use diffmac::train::config::OptimizerConfig;
use diffmac::train::optimizer::{AdamW, Gradients};
use diffmac::train::step::stage1_loss;
use diffmac::train::trainable::Trainable;
use diffmac_cli::{exit_code, init_logging, note_gpu_first_run};
use serde::Serialize;

type B = DefaultBackend;

/// Time DiffMAC's building blocks (UNet step, VAE, control + MIB, a full DID restore, a
/// Stage I training step).
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Example: diffmac-bench --preset sd21 --precision bf16 --json out/bench.json"
)]
struct Args {
    /// Model sizes.
    #[arg(long, value_enum, default_value_t = PresetArg::Tiny)]
    preset: PresetArg,
    /// Precision of weights and activations.
    #[arg(long, value_enum, default_value_t = PrecisionArg::F32)]
    precision: PrecisionArg,
    /// Items to run, in this order (comma-separated): unet_b1, unet_b8, vae_encode,
    /// vae_decode, control_mib, unet_mod_b1, restore, restore_b8 (8 faces at once, as
    /// whole-photo mode batches them), train_b2.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "unet_b1,unet_b8,vae_encode,vae_decode,control_mib,unet_mod_b1,restore,train_b2"
    )]
    only: Vec<String>,
    /// Untimed runs per item before timing.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Timed runs per item.
    #[arg(long, default_value_t = 10)]
    repeats: usize,
    /// Timed runs of the full restore (it is 100 UNet steps long).
    #[arg(long, default_value_t = 3)]
    restore_repeats: usize,
    /// Sampling steps per stage of the full restore.
    #[arg(long, default_value_t = 50)]
    steps: usize,
    /// Also write the report to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Log more.
    #[arg(long, short)]
    verbose: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PresetArg {
    Tiny,
    Sd21,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PrecisionArg {
    F32,
    F16,
    Bf16,
}

/// One timed item.
#[derive(Debug, Serialize)]
struct Timing {
    name: String,
    /// What one run does.
    what: String,
    first_ms: f64,
    median_ms: f64,
    min_ms: f64,
    max_ms: f64,
    repeats: usize,
    /// Device memory the allocator held after the item's runs, unused pages released before
    /// it (MiB; the models' weights included, as in PyTorch's peak allocated). GPU only.
    reserved_mib: Option<f64>,
    /// Cores kept busy during the timed runs: the process's CPU time (user + system) over the
    /// wall time. Linux only (read from `/proc/self/stat`).
    cores_busy: Option<f64>,
    /// The process's peak resident memory so far (MiB, `VmHWM`). Linux only.
    peak_rss_mib: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Report<'a> {
    backend: &'static str,
    preset: String,
    precision: String,
    /// The dtype the outputs really had (the dtype pitfall of Burn 0.21).
    output_dtype: String,
    items: &'a [Timing],
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.verbose);
    note_gpu_first_run();
    exit_code(run(&args).map(|()| true))
}

fn sync() {
    if let Err(e) = B::sync(&default_device()) {
        eprintln!("warning: device sync failed: {e:?}");
    }
}

/// Runs `f` `warmup` times (timing the first) and `repeats` times timed.
fn time(name: &str, what: &str, warmup: usize, repeats: usize, mut f: impl FnMut()) -> Timing {
    release_unused_device_memory();
    let mut first_ms = f64::NAN;
    for i in 0..warmup.max(1) {
        let start = Instant::now();
        f();
        sync();
        if i == 0 {
            first_ms = start.elapsed().as_secs_f64() * 1e3;
        }
    }
    let (cpu_before, wall_before) = (process_cpu_seconds(), Instant::now());
    let mut runs: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            sync();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let wall = wall_before.elapsed().as_secs_f64();
    let cores_busy = process_cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| (after - before) / wall);
    runs.sort_by(f64::total_cmp);
    let timing = Timing {
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
    };
    eprintln!(
        "{name:12} median {:10.2} ms  (first {:.1} ms, min {:.2}, max {:.2}, n={})",
        timing.median_ms, timing.first_ms, timing.min_ms, timing.max_ms, timing.repeats
    );
    timing
}

/// CPU time (user + system) this process has used, in seconds: fields 14 and 15 of
/// `/proc/self/stat`, in Linux's fixed 100 ticks per second. `None` off Linux.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; the fields after it follow its ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

/// Peak resident memory of this process (`VmHWM` of `/proc/self/status`), MiB. `None` off Linux.
fn peak_resident_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The items `--only` can name.
const ITEMS: [&str; 9] = [
    "unet_b1",
    "unet_b8",
    "vae_encode",
    "vae_decode",
    "control_mib",
    "unet_mod_b1",
    "restore",
    "restore_b8",
    "train_b2",
];

fn run(args: &Args) -> anyhow::Result<()> {
    if let Some(unknown) = args.only.iter().find(|o| !ITEMS.contains(&o.as_str())) {
        anyhow::bail!(
            "--only: unknown item {unknown:?}; known: {}",
            ITEMS.join(", ")
        );
    }
    let device = default_device();
    let dtype = match args.precision {
        PrecisionArg::F32 => FloatDType::F32,
        PrecisionArg::F16 => FloatDType::F16,
        PrecisionArg::Bf16 => FloatDType::BF16,
    };
    let preset = match args.preset {
        PresetArg::Tiny => Preset::Tiny,
        PresetArg::Sd21 => Preset::Sd21,
    };
    let build = Instant::now();
    let bundle: ModelBundle<B> = random_bundle(preset, 0, &device, dtype)?;
    eprintln!(
        "{BACKEND_NAME}: built random {:?} models in {:.1} s",
        args.preset,
        build.elapsed().as_secs_f64()
    );
    let size = bundle.config.image_size;
    let latent = size / vae_factor(&bundle);
    let random = |shape: [usize; 4]| {
        Tensor::<B, 4>::random(
            shape,
            Distribution::Normal(0.0, 1.0),
            (&device, dtype.into()),
        )
    };
    let context = |n: usize| bundle.context.clone().repeat_dim(0, n);
    let stage = &bundle.stage1;
    let mut items = Vec::new();
    let mut output_dtype = DType::from(dtype);

    for item in &args.only {
        let timing = match item.as_str() {
            "unet_b1" | "unet_b8" => {
                let batch = if item == "unet_b1" { 1 } else { 8 };
                let x = random([batch, 4, latent, latent]);
                let t = Tensor::<B, 1>::full([batch], 500.0, (&device, DType::F32));
                let c = context(batch);
                let what = format!(
                    "UNet forward, latent {batch}×4×{latent}×{latent}, context {batch}×77×D"
                );
                time(item, &what, args.warmup, args.repeats, || {
                    let out = stage.unet.forward(x.clone(), t.clone(), c.clone());
                    output_dtype = out.dtype();
                })
            }
            "vae_encode" => {
                let image = random([1, 3, size, size]);
                let what = format!("VAE encoder + quant_conv, 1×3×{size}×{size}");
                time(item, &what, args.warmup, args.repeats, || {
                    let _ = bundle.vae.moments(image.clone());
                })
            }
            "vae_decode" => {
                let z = random([1, 4, latent, latent]);
                let what = format!("post_quant_conv + VAE decoder, 1×4×{latent}×{latent}");
                time(item, &what, args.warmup, args.repeats, || {
                    let _ = bundle.vae.decode(z.clone());
                })
            }
            "control_mib" => {
                let moments = random([1, 8, latent, latent]);
                let faces = random([1, 3, size, size]);
                let mib = bundle.mib.as_ref().expect("random bundles have a MIB");
                let encoder = bundle.identity.as_ref().expect("random bundles have F_ID");
                let what = "per stage: F_ID + MIB + control γ/β (once; the per-step AdaIN add \
                            is in the UNet)";
                time(item, what, args.warmup, args.repeats, || {
                    let id = encoder
                        .embed_ffhq(faces.clone().cast(DType::F32))
                        .expect("F_ID")
                        .cast(dtype);
                    let z = mib
                        .forward(moments.clone(), Injection::Identity(id))
                        .expect("MIB")
                        .z;
                    let _ = stage.control.modulation(z.narrow(1, 0, 4));
                })
            }
            "unet_mod_b1" => {
                let x = random([1, 4, latent, latent]);
                let t = Tensor::<B, 1>::full([1], 500.0, (&device, DType::F32));
                let modulation = stage.control.modulation(random([1, 4, latent, latent]));
                let what = "UNet forward with the AdaIN modulation of every encoder block, batch 1";
                time(item, what, args.warmup, args.repeats, || {
                    let _ =
                        stage
                            .unet
                            .forward_modulated(x.clone(), t.clone(), context(1), &modulation);
                })
            }
            "restore" | "restore_b8" => {
                let options = RestoreOptions {
                    stage1_steps: args.steps,
                    stage2_steps: args.steps,
                    ..RestoreOptions::default()
                };
                let restorer = Restorer::new(&bundle, options)?;
                let faces = if item == "restore" { 1 } else { 8 };
                let batch = random([faces, 3, size, size]);
                let seeds: Vec<u64> = (0..faces as u64).collect();
                let what = format!(
                    "full DID restore of {faces} {size}² face(s) at once (whole-photo mode's \
                     batches, one noise stream per face): 2 × (VAE encode + {} UNet steps + \
                     decode), F_ID, MIB",
                    args.steps
                );
                time(
                    item,
                    &what,
                    args.warmup.min(1),
                    args.restore_repeats,
                    || {
                        restorer
                            .restore_seeded(batch.clone(), None, &seeds, &mut Quiet)
                            .expect("restore");
                    },
                )
            }
            "train_b2" => {
                let mut step = StageOneStep::new(&bundle, dtype)?;
                let what = "Stage I training step, batch 2: E(HQ), E(LQ), control + whole UNet \
                            forward and backward, AdamW (lr 1e-4) on control and UNet";
                time(item, what, args.warmup, args.repeats, || step.run(&bundle))
            }
            _ => unreachable!("item names are checked before the models are built"),
        };
        items.push(timing);
        // Written after every item, so that a run stopped part-way keeps what it measured.
        if let Some(path) = &args.json {
            write_report(path, &report(args, output_dtype, &items))?;
        }
    }
    let report = report(args, output_dtype, &items);
    if output_dtype != DType::from(dtype) {
        eprintln!(
            "warning: outputs came out in {output_dtype:?}, not the {:?} asked for",
            args.precision
        );
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    if let Some(path) = &args.json {
        write_report(path, &report)?;
    }
    Ok(())
}

fn report<'a>(args: &Args, output_dtype: DType, items: &'a [Timing]) -> Report<'a> {
    Report {
        backend: BACKEND_NAME,
        preset: format!("{:?}", args.preset).to_lowercase(),
        precision: format!("{:?}", args.precision).to_lowercase(),
        output_dtype: format!("{output_dtype:?}"),
        items,
    }
}

fn write_report(path: &std::path::Path, report: &Report<'_>) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let json = serde_json::to_string_pretty(report)?;
    diffmac::io::write_atomically(path, json.as_bytes(), true)?;
    Ok(())
}

/// One Stage I training step of the trainer (`diffmac_train::step`), batch 2, on a copy of
/// the bundle's UNet made trainable whole with its control, as `configs/train/sd21-*.json`.
struct StageOneStep {
    model: Option<Trainable<Autodiff<B>>>,
    optimizer: AdamW<B>,
    rng: NoiseRng,
}

impl StageOneStep {
    fn new(bundle: &ModelBundle<B>, dtype: FloatDType) -> anyhow::Result<Self> {
        let device = default_device();
        let config = UNetConfig::from_json(&bundle.config.unet_config.to_string())?;
        let unet = UNet2DConditionModel::<Autodiff<B>>::load(
            &config,
            &VarBuilder::random(&device, dtype),
        )?;
        let unet = TrainableParts::ControlAndUNet.apply(unet);
        let control = cast_module(ControlConfig::for_unet(&unet).init(&device), dtype);
        Ok(Self {
            model: Some(Trainable {
                control,
                mib: None,
                unet,
            }),
            optimizer: AdamW::new(OptimizerConfig::default()),
            rng: NoiseRng::new(0),
        })
    }

    fn run(&mut self, bundle: &ModelBundle<B>) {
        let size = bundle.config.image_size;
        let device = default_device();
        let dtype = bundle.context.dtype();
        let mut image = || {
            self.rng
                .gaussian::<B, 4>([2, 3, size, size], (&device, dtype))
                .clamp(-1.0, 1.0)
        };
        let (hq, lq) = (image(), image());
        let model = self
            .model
            .take()
            .expect("the model is put back after every step");
        let loss = stage1_loss(
            &model,
            &bundle.vae,
            &bundle.context,
            &bundle.schedule,
            bundle.config.stage1.control_config.input,
            hq,
            lq,
            &mut self.rng,
        )
        .expect("Stage I loss");
        let mut grads = Gradients::default();
        grads.accumulate(&model, &loss.total.backward());
        grads.finish(Some(1.0));
        self.model = Some(self.optimizer.step(model, &grads).0);
    }
}

/// The VAE's down-sampling factor (2^(levels − 1); SD: 8).
fn vae_factor(bundle: &ModelBundle<B>) -> usize {
    let levels = bundle
        .config
        .vae_config
        .get("block_out_channels")
        .and_then(|v| v.as_array())
        .map_or(4, Vec::len);
    1 << levels.saturating_sub(1)
}
