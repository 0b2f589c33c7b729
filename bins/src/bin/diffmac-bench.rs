//! `diffmac-bench`: times DiffMAC's building blocks on this build's backend with random
//! weights of the real (`--preset sd21`) or toy (`--preset tiny`) sizes, and prints JSON.
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
use diffmac::backend::{BACKEND_NAME, DefaultBackend, default_device};
use diffmac::mib::Injection;
use diffmac::restore::bundle::{ModelBundle, Preset, random_bundle};
use diffmac::restore::{Quiet, RestoreOptions, Restorer};
use diffmac_cli::{exit_code, init_logging};
use serde::Serialize;

type B = DefaultBackend;

/// Time DiffMAC's building blocks (UNet step, VAE, control + MIB, a full DID restore).
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
    /// Items to run (comma-separated): unet_b1, unet_b8, vae_encode, vae_decode,
    /// control_mib, restore.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "unet_b1,unet_b8,vae_encode,vae_decode,control_mib,restore"
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
}

#[derive(Debug, Serialize)]
struct Report {
    backend: &'static str,
    preset: String,
    precision: String,
    /// The dtype the outputs really had (the dtype pitfall of Burn 0.21).
    output_dtype: String,
    items: Vec<Timing>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.verbose);
    exit_code(run(&args).map(|()| true))
}

fn sync() {
    if let Err(e) = B::sync(&default_device()) {
        eprintln!("warning: device sync failed: {e:?}");
    }
}

/// Runs `f` `warmup` times (timing the first) and `repeats` times timed.
fn time(name: &str, what: &str, warmup: usize, repeats: usize, mut f: impl FnMut()) -> Timing {
    let mut first_ms = f64::NAN;
    for i in 0..warmup.max(1) {
        let start = Instant::now();
        f();
        sync();
        if i == 0 {
            first_ms = start.elapsed().as_secs_f64() * 1e3;
        }
    }
    let mut runs: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            sync();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    let timing = Timing {
        name: name.into(),
        what: what.into(),
        first_ms,
        median_ms: runs[runs.len() / 2],
        min_ms: runs[0],
        max_ms: runs[runs.len() - 1],
        repeats: runs.len(),
    };
    eprintln!(
        "{name:12} median {:10.2} ms  (first {:.1} ms, min {:.2}, max {:.2}, n={})",
        timing.median_ms, timing.first_ms, timing.min_ms, timing.max_ms, timing.repeats
    );
    timing
}

fn run(args: &Args) -> anyhow::Result<()> {
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
    let wants = |item: &str| args.only.iter().any(|o| o == item);
    let mut items = Vec::new();
    let mut output_dtype = DType::from(dtype);

    for (item, batch) in [("unet_b1", 1usize), ("unet_b8", 8)] {
        if !wants(item) {
            continue;
        }
        let x = random([batch, 4, latent, latent]);
        let t = Tensor::<B, 1>::full([batch], 500.0, (&device, DType::F32));
        let c = context(batch);
        let what =
            format!("UNet forward, latent {batch}×4×{latent}×{latent}, context {batch}×77×D");
        items.push(time(item, &what, args.warmup, args.repeats, || {
            let out = stage.unet.forward(x.clone(), t.clone(), c.clone());
            output_dtype = out.dtype();
        }));
    }
    if wants("vae_encode") {
        let image = random([1, 3, size, size]);
        let what = format!("VAE encoder + quant_conv, 1×3×{size}×{size}");
        items.push(time("vae_encode", &what, args.warmup, args.repeats, || {
            let _ = bundle.vae.moments(image.clone());
        }));
    }
    if wants("vae_decode") {
        let z = random([1, 4, latent, latent]);
        let what = format!("post_quant_conv + VAE decoder, 1×4×{latent}×{latent}");
        items.push(time("vae_decode", &what, args.warmup, args.repeats, || {
            let _ = bundle.vae.decode(z.clone());
        }));
    }
    if wants("control_mib") {
        let moments = random([1, 8, latent, latent]);
        let faces = random([1, 3, size, size]);
        let mib = bundle.mib.as_ref().expect("random bundles have a MIB");
        let encoder = bundle.identity.as_ref().expect("random bundles have F_ID");
        let what =
            "per stage: F_ID + MIB + control γ/β (once; the per-step AdaIN add is in the UNet)";
        items.push(time("control_mib", what, args.warmup, args.repeats, || {
            let id = encoder
                .embed_ffhq(faces.clone().cast(DType::F32))
                .expect("F_ID")
                .cast(dtype);
            let z = mib
                .forward(moments.clone(), Injection::Identity(id))
                .expect("MIB")
                .z;
            let _ = stage.control.modulation(z.narrow(1, 0, 4));
        }));
        let x = random([1, 4, latent, latent]);
        let t = Tensor::<B, 1>::full([1], 500.0, (&device, DType::F32));
        let modulation = stage.control.modulation(random([1, 4, latent, latent]));
        items.push(time(
            "unet_mod_b1",
            "UNet forward with the AdaIN modulation of every encoder block, batch 1",
            args.warmup,
            args.repeats,
            || {
                let _ = stage
                    .unet
                    .forward_modulated(x.clone(), t.clone(), context(1), &modulation);
            },
        ));
    }
    if wants("restore") {
        let options = RestoreOptions {
            stage1_steps: args.steps,
            stage2_steps: args.steps,
            ..RestoreOptions::default()
        };
        let restorer = Restorer::new(&bundle, options)?;
        let face = random([1, 3, size, size]);
        let what = format!(
            "full DID restore of one {size}² face: 2 × (VAE encode + {} UNet steps + decode), F_ID, MIB",
            args.steps
        );
        let warmup = args.warmup.min(1);
        items.push(time("restore", &what, warmup, args.restore_repeats, || {
            restorer
                .restore(face.clone(), None, 0, &mut Quiet)
                .expect("restore");
        }));
    }
    let report = Report {
        backend: BACKEND_NAME,
        preset: format!("{:?}", args.preset).to_lowercase(),
        precision: format!("{:?}", args.precision).to_lowercase(),
        output_dtype: format!("{output_dtype:?}"),
        items,
    };
    if output_dtype != DType::from(dtype) {
        eprintln!(
            "warning: outputs came out in {output_dtype:?}, not the {:?} asked for",
            args.precision
        );
    }
    let json = serde_json::to_string_pretty(&report)?;
    println!("{json}");
    if let Some(path) = &args.json {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        diffmac::degrade::io::write_atomically(path, json.as_bytes(), true)?;
    }
    Ok(())
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
