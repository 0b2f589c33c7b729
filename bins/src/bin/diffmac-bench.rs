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

use burn::tensor::{DType, Distribution, FloatDType, Tensor};
use clap::{Parser, ValueEnum};
use diffmac::backend::{BACKEND_NAME, DefaultBackend, default_device};
use diffmac::mib::Injection;
use diffmac::restore::bundle::{ModelBundle, Preset, random_bundle};
use diffmac::restore::{Quiet, RestoreOptions, Restorer};
use diffmac_cli::bench::{Report, StageOneStep, Timing, time, vae_factor};
use diffmac_cli::{Precision, exit_code, init_logging, note_gpu_first_run, one_of};

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
    #[arg(long, default_value = "f32", value_parser = one_of::<Precision>(&["f32", "f16", "bf16"]))]
    precision: Precision,
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

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.verbose);
    note_gpu_first_run();
    exit_code(run(&args).map(|()| true))
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
    let dtype = args.precision.dtype();
    let preset = match args.preset {
        PresetArg::Tiny => Preset::Tiny,
        PresetArg::Sd21 => Preset::Sd21,
    };
    let build = Instant::now();
    let bundle: ModelBundle<B> = random_bundle(preset, 0, &default_device(), dtype)?;
    eprintln!(
        "{BACKEND_NAME}: built random {:?} models in {:.1} s",
        args.preset,
        build.elapsed().as_secs_f64()
    );
    let bench = Bench {
        args,
        bundle: &bundle,
        dtype,
        size: bundle.config.image_size,
        latent: bundle.config.image_size / vae_factor(&bundle),
    };
    let mut items = Vec::new();
    let mut output_dtype = DType::from(dtype);
    for item in &args.only {
        let timing = bench.item(item, &mut output_dtype)?;
        eprintln!(
            "{item:12} median {:10.2} ms  (first {:.1} ms, min {:.2}, max {:.2}, n={})",
            timing.median_ms, timing.first_ms, timing.min_ms, timing.max_ms, timing.repeats
        );
        items.push(timing);
        // Written after every item, so that a run stopped part-way keeps what it measured.
        if let Some(path) = &args.json {
            report(args, output_dtype, &items).write(path)?;
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
        report.write(path)?;
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

/// The models and sizes every item runs on.
struct Bench<'a> {
    args: &'a Args,
    bundle: &'a ModelBundle<B>,
    dtype: FloatDType,
    /// Image side.
    size: usize,
    /// Latent side.
    latent: usize,
}

impl Bench<'_> {
    fn random(&self, shape: [usize; 4]) -> Tensor<B, 4> {
        let options = (&default_device(), self.dtype.into());
        Tensor::<B, 4>::random(shape, Distribution::Normal(0.0, 1.0), options)
    }

    /// Times `item` (a name of [`ITEMS`]); the UNet items record their output dtype.
    fn item(&self, item: &str, output_dtype: &mut DType) -> anyhow::Result<Timing> {
        let (args, bundle, size) = (self.args, self.bundle, self.size);
        match item {
            "restore" | "restore_b8" => {
                let options = RestoreOptions {
                    stage1_steps: args.steps,
                    stage2_steps: args.steps,
                    ..RestoreOptions::default()
                };
                let restorer = Restorer::new(bundle, options)?;
                let faces = if item == "restore" { 1 } else { 8 };
                let batch = self.random([faces, 3, size, size]);
                let seeds: Vec<u64> = (0..faces as u64).collect();
                let what = format!(
                    "full DID restore of {faces} {size}² face(s) at once (whole-photo mode's \
                     batches, one noise stream per face): 2 × (VAE encode + {} UNet steps + \
                     decode), F_ID, MIB",
                    args.steps
                );
                let (warmup, repeats) = (args.warmup.min(1), args.restore_repeats);
                time(item, &what, warmup, repeats, || {
                    restorer.restore_seeded(batch.clone(), None, &seeds, &mut Quiet)?;
                    Ok(())
                })
            }
            "train_b2" => {
                let mut step = StageOneStep::new(bundle, self.dtype)?;
                let what = "Stage I training step, batch 2: E(HQ), E(LQ), control + whole UNet \
                            forward and backward, AdamW (lr 1e-4) on control and UNet";
                time(item, what, args.warmup, args.repeats, || step.run(bundle))
            }
            _ => self.inference(item, output_dtype),
        }
    }

    /// Times one of the model-part items.
    fn inference(&self, item: &str, output_dtype: &mut DType) -> anyhow::Result<Timing> {
        let (args, bundle, size, latent) = (self.args, self.bundle, self.size, self.latent);
        let (warmup, repeats) = (args.warmup, args.repeats);
        let stage = &bundle.stage1;
        let context = |n: usize| bundle.context.clone().repeat_dim(0, n);
        let t = |n: usize| Tensor::<B, 1>::full([n], 500.0, (&default_device(), DType::F32));
        match item {
            "unet_b1" | "unet_b8" => {
                let batch = if item == "unet_b1" { 1 } else { 8 };
                let (x, t, c) = (
                    self.random([batch, 4, latent, latent]),
                    t(batch),
                    context(batch),
                );
                let what = format!(
                    "UNet forward, latent {batch}×4×{latent}×{latent}, context {batch}×77×D"
                );
                time(item, &what, warmup, repeats, || {
                    let out = stage.unet.forward(x.clone(), t.clone(), c.clone());
                    *output_dtype = out.dtype();
                    Ok(())
                })
            }
            "vae_encode" => {
                let image = self.random([1, 3, size, size]);
                let what = format!("VAE encoder + quant_conv, 1×3×{size}×{size}");
                time(item, &what, warmup, repeats, || {
                    let _ = bundle.vae.moments(image.clone());
                    Ok(())
                })
            }
            "vae_decode" => {
                let z = self.random([1, 4, latent, latent]);
                let what = format!("post_quant_conv + VAE decoder, 1×4×{latent}×{latent}");
                time(item, &what, warmup, repeats, || {
                    let _ = bundle.vae.decode(z.clone());
                    Ok(())
                })
            }
            "control_mib" => {
                let moments = self.random([1, 8, latent, latent]);
                let faces = self.random([1, 3, size, size]);
                let no = |what: &str| anyhow::anyhow!("the random bundle has no {what}");
                let mib = bundle.mib.as_ref().ok_or_else(|| no("MIB"))?;
                let encoder = bundle.identity.as_ref().ok_or_else(|| no("F_ID"))?;
                let what = "per stage: F_ID + MIB + control γ/β (once; the per-step AdaIN add \
                            is in the UNet)";
                time(item, what, warmup, repeats, || {
                    let id = encoder.embed_ffhq(faces.clone().cast(DType::F32))?;
                    let z = mib
                        .forward(moments.clone(), Injection::Identity(id.cast(self.dtype)))?
                        .z;
                    let _ = stage.control.modulation(z.narrow(1, 0, 4));
                    Ok(())
                })
            }
            "unet_mod_b1" => {
                let (x, t) = (self.random([1, 4, latent, latent]), t(1));
                let modulation = stage
                    .control
                    .modulation(self.random([1, 4, latent, latent]));
                let what = "UNet forward with the AdaIN modulation of every encoder block, batch 1";
                time(item, what, warmup, repeats, || {
                    let _ =
                        stage
                            .unet
                            .forward_modulated(x.clone(), t.clone(), context(1), &modulation);
                    Ok(())
                })
            }
            _ => anyhow::bail!("unknown item {item:?}"),
        }
    }
}
