//! `diffmac-convert`: builds DiffMAC model bundles. `tiny` writes a random-weight bundle for
//! tests and first tries; `sd` builds a bundle's base from a Stable Diffusion 2.1-base
//! download; `merge` adds trained stages from `diffmac-train` checkpoints; `check` loads a
//! bundle and reports every problem. Exit code 0 on success, 2 on any error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use burn::tensor::FloatDType;
use clap::{Parser, Subcommand};
use diffmac::backend::{DefaultBackend, default_device};
use diffmac::restore::ModelBundle;
use diffmac::restore::bundle::convert::{
    ConvertOptions, convert_sd, load_sd_vae, merge_checkpoint,
};
use diffmac::restore::bundle::load::IDENTITY_KINDS;
use diffmac::restore::bundle::{BundleConfig, Stage2Variant, write_tiny_bundle};
use diffmac::train::qc_stats_from_folder;
use diffmac_cli::download::fetch_model;
use diffmac_cli::{exit_code, init_logging, note_gpu_first_run};
use diffmac_hub::SD21_BASE;

type B = DefaultBackend;

/// Build and check DiffMAC model bundles (one folder per model).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    command: Command,
    /// Log more.
    #[arg(long, short, global = true)]
    verbose: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a tiny bundle with random weights: runs the whole pipeline on a CPU in seconds,
    /// restores nothing.
    Tiny {
        /// Bundle folder to create.
        #[arg(long, short)]
        output: PathBuf,
        /// Seed of the random weights.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Replace a bundle already in the folder.
        #[arg(long)]
        overwrite: bool,
    },
    /// Build a bundle's base from Stable Diffusion 2.1-base: a diffusers folder (unet/,
    /// vae/, text_encoder/) or the single-file `v2-1_512-ema-pruned.safetensors`; with
    /// --download, fetched from the Hugging Face hub first.
    #[command(
        after_help = "Hub: HF_ENDPOINT sets a mirror (default https://huggingface.co), \
                  HF_TOKEN a token. Downloads resume when run again; each file is checked \
                  against the hub's hash before it is used.\n\
                  Example: diffmac-convert sd --download --output models/diffmac"
    )]
    Sd {
        /// The SD 2.1-base folder or file; with --download, the folder to download into
        /// (default: ~/.cache/diffmac/hub/OWNER--NAME/COMMIT).
        #[arg(long, required_unless_present = "download")]
        sd: Option<PathBuf>,
        /// Download SD 2.1-base in diffusers layout from the Hugging Face hub, then convert.
        #[arg(long)]
        download: bool,
        /// Hub repository to download.
        #[arg(long, requires = "download", default_value = SD21_BASE.repo)]
        repo: String,
        /// Branch, tag or commit to download.
        #[arg(long, requires = "download", default_value = "main")]
        revision: String,
        /// No download progress bars.
        #[arg(long, short)]
        quiet: bool,
        /// Bundle folder to create.
        #[arg(long, short)]
        output: PathBuf,
        /// Identity encoder weights (safetensors) for Stage II's identity injection.
        #[arg(long)]
        identity: Option<PathBuf>,
        /// Kind of the identity weights: arcface_iresnet, dlib_resnet_v1, or auto (told from
        /// the file).
        #[arg(long, default_value = "auto")]
        identity_kind: String,
        /// Folder of HQ faces to compute the bottleneck's μ_QC, σ_QC from (Algorithm 1,
        /// line 17); otherwise a merged Stage II checkpoint brings its own.
        #[arg(long)]
        qc_images: Option<PathBuf>,
        /// Replace a bundle already in the folder.
        #[arg(long)]
        overwrite: bool,
    },
    /// Merge a trained stage (a diffmac-train checkpoint folder) into a bundle.
    Merge {
        /// The bundle folder.
        #[arg(long, short)]
        model: PathBuf,
        /// Checkpoint folder (holding control.safetensors and state.json), or a run's
        /// checkpoints/ folder or latest file (the newest checkpoint).
        #[arg(long, short)]
        checkpoint: PathBuf,
        /// Stage of the checkpoint (default: read from its state.json).
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=2))]
        stage: Option<u8>,
    },
    /// Load a bundle and report every problem found.
    Check {
        /// The bundle folder.
        #[arg(long, short)]
        model: PathBuf,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.verbose);
    note_gpu_first_run();
    exit_code(run(args.command).map(|()| true))
}

fn run(command: Command) -> anyhow::Result<()> {
    let device = default_device();
    let start = Instant::now();
    match command {
        Command::Tiny {
            output,
            seed,
            overwrite,
        } => {
            write_tiny_bundle::<B>(&output, seed, overwrite, &device)?;
            eprintln!(
                "wrote the tiny bundle (RANDOM weights: for tests, restores nothing) to {}",
                output.display()
            );
        }
        Command::Sd {
            sd,
            download,
            repo,
            revision,
            quiet,
            output,
            identity,
            identity_kind,
            qc_images,
            overwrite,
        } => {
            if identity_kind != "auto" && !IDENTITY_KINDS.contains(&identity_kind.as_str()) {
                anyhow::bail!(
                    "unknown --identity-kind {identity_kind:?} (known: {})",
                    IDENTITY_KINDS.join(", ")
                );
            }
            if !overwrite && output.join("config.json").exists() {
                // Before a download of gigabytes, not after.
                anyhow::bail!(
                    "{}: a bundle is already there (--overwrite replaces it)",
                    output.display()
                );
            }
            let sd = match (download, sd) {
                (true, dest) => fetch_model(&SD21_BASE, &repo, &revision, dest.as_deref(), quiet)?,
                (false, Some(sd)) => sd,
                (false, None) => anyhow::bail!("give --sd PATH, or --download"),
            };
            let qc_stats = match qc_images {
                Some(dir) => Some(qc_stats_from_folder(
                    &load_sd_vae::<B>(&sd, &device)?,
                    &dir,
                    &device,
                )?),
                None => None,
            };
            let options = ConvertOptions {
                identity: identity.map(|p| (identity_kind, p)),
                qc_stats,
                overwrite,
            };
            let config = convert_sd::<B>(&sd, &output, &options, &device)?;
            eprintln!(
                "wrote the base bundle ({} px, identity: {}) to {} in {:.1} s; its stage \
                 controls are untrained until `diffmac-convert merge` adds diffmac-train \
                 checkpoints",
                config.image_size,
                config.identity.as_ref().map_or("none", |i| i.kind.as_str()),
                output.display(),
                start.elapsed().as_secs_f64()
            );
        }
        Command::Merge {
            model,
            checkpoint,
            stage,
        } => {
            let config = merge_checkpoint::<B>(&model, &checkpoint, stage, &device)?;
            eprintln!(
                "merged {} into {} (stage I trained: {}, stage II trained: {}){}",
                checkpoint.display(),
                model.display(),
                config.stage1.trained,
                config.stage2.as_ref().is_some_and(|s| s.trained),
                variant_note(&config)
            );
        }
        Command::Check { model } => {
            let bundle = ModelBundle::<B>::load(&model, &device, FloatDType::F32)?;
            let c = &bundle.config;
            println!(
                "{}: OK ({} px, stage II: {}{}, identity: {}, random weights: {}, stages trained: {}/{})",
                model.display(),
                c.image_size,
                c.stage2.is_some(),
                variant_note(c),
                c.identity.as_ref().map_or("none", |i| i.kind.as_str()),
                c.random_weights,
                c.stage1.trained,
                c.stage2.as_ref().is_some_and(|s| s.trained)
            );
        }
    }
    Ok(())
}

/// Says when the bundle's Stage II is one of Table 3's ablations that restore differently.
fn variant_note(config: &BundleConfig) -> &'static str {
    match (&config.stage2, config.stage2_variant) {
        (Some(_), Stage2Variant::TwoAdain) => " (2AdaIN: no bottleneck)",
        (Some(_), Stage2Variant::NoStage1) => " (no1: Stage II restores the input, no Stage I)",
        _ => "",
    }
}
