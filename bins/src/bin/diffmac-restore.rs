//! `diffmac-restore`: restores faces with DiffMAC's two-stage DID pipeline, in whole photos
//! (detect, align, restore, paste back) or on already aligned faces (`--aligned`). Exit code
//! 0 when every input succeeded, 1 when some failed (the rest were processed), 2 on a usage
//! error or an unusable model. The run itself is `diffmac::restore::run::run`; this file
//! parses the flags, shows progress and prints what the run tells it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use diffmac::backend::{BACKEND_NAME, DefaultBackend, default_device};
use diffmac::face::{DetectorKind, FaceSelection};
use diffmac::io::DEFAULT_MAX_PIXELS;
use diffmac::mib::InjectionKind;
use diffmac::restore::run::{Existing, PasteMask, RunEvent, RunOptions, run};
use diffmac::restore::{ColorFix, PresetOverrides, RestoreOptions, RestorePreset, SamplerKind};
use diffmac_cli::{
    Precision, count, exit_code, init_logging, note_gpu_first_run, one_of, progress_bar,
};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};

/// Restore faces with DiffMAC (two-stage diffusion with a manifold information bottleneck).
#[derive(Debug, Parser)]
#[command(
    version,
    override_usage = "diffmac-restore --input FILE|DIR --output DIR [--model DIR] [--aligned] [OPTIONS]",
    after_help = "The model is --model DIR, else $DIFFMAC_MODEL, else ~/.local/share/diffmac/model.\n\
                  Try the tools without trained weights: diffmac-convert tiny --output models/tiny\n\
                  Example: diffmac-restore --model models/tiny --input examples/faces --output out/restored"
)]
struct Args {
    /// An image file or a folder of images.
    #[arg(long, short)]
    input: PathBuf,
    /// Output folder (cropped_faces/, restored_faces/, final_results/, cmp/); never the
    /// input folder or inside it.
    #[arg(long, short)]
    output: PathBuf,
    /// Model bundle folder.
    #[arg(long, short)]
    model: Option<PathBuf>,
    /// Descend into sub-folders of --input (their structure is kept in the outputs).
    #[arg(long, short)]
    recursive: bool,
    /// Inputs are aligned square faces (FFHQ alignment, e.g. 512×512): no detection.
    #[arg(long)]
    aligned: bool,
    /// Scale factor of the whole photo in final_results (faces are pasted at that scale).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    upscale: u32,
    /// The face detector: retinaface (finds profile, tilted and small faces) or mtcnn.
    #[arg(long, default_value = "retinaface", value_parser = str::parse::<DetectorKind>)]
    detector: DetectorKind,
    /// Where a restored face replaces the photo: `face`, inside the face's outline (from a
    /// 468-point face mesh), or `box`, the whole feathered crop as facexlib pastes it.
    #[arg(long, default_value = "face", value_parser = one_of::<PasteMask>(&["face", "box"]))]
    paste_mask: PasteMask,
    /// Which detected faces of a photo to restore.
    #[arg(long, default_value = "all", value_parser = one_of::<FaceSelection>(&["all", "largest", "center"]))]
    faces: FaceSelection,
    /// Restore only the face nearest the photo's centre (same as --faces center).
    #[arg(long, conflicts_with = "faces")]
    only_center_face: bool,
    /// Leave faces whose box is smaller than this many pixels (its larger side) as they
    /// are; report.json lists them with the reason.
    #[arg(long, value_name = "PX", default_value_t = 0)]
    min_face: u32,
    /// Starting settings: `paper` (50 spaced DDPM steps per stage) or `fast` (20 DDIM
    /// steps per stage, η = 0); --steps, --stage2-steps, --sampler and --eta override it.
    #[arg(long, default_value = "paper", value_parser = one_of::<RestorePreset>(&["paper", "fast"]))]
    preset: RestorePreset,
    /// Sampling steps of each stage [default: the preset's, paper 50, fast 20].
    #[arg(long, value_parser = count(1000))]
    steps: Option<usize>,
    /// Sampling steps of Stage II, if different from --steps.
    #[arg(long, value_parser = count(1000))]
    stage2_steps: Option<usize>,
    /// Step rule of both stages [default: the preset's, paper ddpm, fast ddim].
    #[arg(long, value_parser = one_of::<SamplerKind>(&["ddpm", "ddim"]))]
    sampler: Option<SamplerKind>,
    /// DDIM's η (0: deterministic), with DDIM [default: 0].
    #[arg(long)]
    eta: Option<f64>,
    /// Run seed: the same seed, model, backend and inputs give the same outputs. Each face
    /// gets its own seed from it and the file name (and face index in a photo).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop after Stage I (no bottleneck, no second diffusion).
    #[arg(long)]
    stage1_only: bool,
    /// What the bottleneck injects (default: the model's, identity for DiffMAC).
    #[arg(long, value_parser = one_of::<InjectionKind>(&["identity", "noise", "none"]))]
    injection: Option<InjectionKind>,
    /// An aligned face whose identity is injected instead of each face's own (Fig. 10).
    #[arg(long)]
    reference: Option<PathBuf>,
    /// Starting noise level in (0, 1]: 1 samples from pure noise (the paper); lower keeps
    /// more of the input.
    #[arg(long, default_value_t = 1.0)]
    strength: f64,
    /// Colour correction of the output towards the input.
    #[arg(long, default_value = "none", value_parser = one_of::<ColorFix>(&["none", "adain", "wavelet"]))]
    color_fix: ColorFix,
    /// Restore each face with N seeds and keep the one most like the input (highest
    /// identity similarity, ties by NIQE); report.json lists every candidate.
    #[arg(long, default_value_t = 1, value_parser = count(16))]
    best_of: usize,
    /// Identity network for report.json and --best-of (dlib or ArcFace safetensors)
    /// [default: the model's, else weights/identity/dlib_resnet_v1.safetensors when
    /// scripts/fetch_identity_weights.sh has fetched it].
    #[arg(long, value_name = "FILE")]
    id_weights: Option<PathBuf>,
    /// Restorations per batch: aligned files, or the faces of one photo, times --best-of
    /// (more is faster on a GPU and needs more memory; results do not change, as each face
    /// has its own seed).
    #[arg(long, default_value_t = 1, value_parser = count(64))]
    batch_size: usize,
    /// Precision of the model weights and activations.
    #[arg(long, default_value = "f32", value_parser = one_of::<Precision>(&["f32", "f16", "bf16"]))]
    precision: Precision,
    /// Restore grayscale photos in colour (by default a grayscale input comes back grayscale:
    /// the restored luma).
    #[arg(long)]
    colorize: bool,
    /// Also write input | output comparison sheets into cmp/.
    #[arg(long)]
    save_cmp: bool,
    /// Also write Stage I's outputs into stage1_faces/.
    #[arg(long)]
    save_stage1: bool,
    /// Replace existing outputs instead of refusing.
    #[arg(long, conflicts_with = "skip_existing")]
    overwrite: bool,
    /// Skip inputs whose final output already exists.
    #[arg(long)]
    skip_existing: bool,
    /// Refuse images with more pixels than this.
    #[arg(long, default_value_t = DEFAULT_MAX_PIXELS)]
    max_pixels: u64,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
    /// Log more.
    #[arg(long, short)]
    verbose: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.verbose);
    note_gpu_first_run();
    exit_code(restore(&args))
}

/// Runs the restoration, printing what it tells and showing progress bars of the inputs and
/// of the diffusion steps of the faces being restored; `Ok(false)` when some inputs failed.
fn restore(args: &Args) -> anyhow::Result<bool> {
    let options = run_options(args)?;
    let bars = MultiProgress::new();
    if args.quiet {
        // Bars added to it are hidden too.
        bars.set_draw_target(ProgressDrawTarget::hidden());
    }
    // Added once restoring begins.
    let (mut images, mut steps) = (ProgressBar::hidden(), ProgressBar::hidden());
    let mut show = |event: &RunEvent<'_>| match event {
        RunEvent::ModelLoaded { dir, took } => eprintln!(
            "model {} loaded in {:.1} s ({BACKEND_NAME}, {:?})",
            dir.display(),
            took.as_secs_f64(),
            args.precision
        ),
        RunEvent::Restoring { inputs } => {
            images = bars.add(progress_bar(*inputs as u64, false));
            steps = bars.add(progress_bar(0, false));
        }
        RunEvent::InputsDone(n) => images.inc(*n as u64),
        RunEvent::Step { stage, done, total } => {
            if *done == 1 {
                steps.reset();
                steps.set_length(*total as u64);
                steps.set_message(format!("stage {stage}"));
            }
            steps.set_position(*done as u64);
        }
        _ => {
            if let RunEvent::Finished(_) = event {
                steps.finish_and_clear();
                images.finish_and_clear();
            }
            if let Some(line) = event.message() {
                bars.suspend(|| eprintln!("{line}"));
            }
        }
    };
    let summary = run::<DefaultBackend>(&options, &default_device(), &mut show)?;
    Ok(summary.all_done())
}

/// The run the flags ask for: the preset with --steps, --stage2-steps, --sampler and --eta on
/// top.
fn run_options(args: &Args) -> anyhow::Result<RunOptions> {
    let restore = args.preset.merge(
        &PresetOverrides {
            steps: args.steps,
            stage2_steps: args.stage2_steps,
            sampler: args.sampler,
            eta: args.eta,
        },
        RestoreOptions {
            seed: args.seed,
            stage1_only: args.stage1_only,
            injection: args.injection,
            strength: args.strength,
            color_fix: args.color_fix,
            ..RestoreOptions::default()
        },
    )?;
    let existing = match (args.overwrite, args.skip_existing) {
        (true, _) => Existing::Overwrite,
        (false, true) => Existing::Skip,
        (false, false) => Existing::Refuse,
    };
    Ok(RunOptions {
        input: args.input.clone(),
        output: args.output.clone(),
        model: args.model.clone(),
        dtype: args.precision.dtype(),
        recursive: args.recursive,
        aligned: args.aligned,
        upscale: args.upscale,
        detector: args.detector,
        paste_mask: args.paste_mask,
        faces: if args.only_center_face {
            FaceSelection::Centre
        } else {
            args.faces
        },
        min_face: args.min_face,
        restore,
        reference: args.reference.clone(),
        best_of: args.best_of,
        id_weights: args.id_weights.clone(),
        batch_size: args.batch_size,
        colorize: args.colorize,
        save_cmp: args.save_cmp,
        save_stage1: args.save_stage1,
        existing,
        max_pixels: args.max_pixels,
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(flags: &str) -> Result<Args, clap::Error> {
        Args::try_parse_from(format!("diffmac-restore -i in -o out {flags}").split_whitespace())
    }

    /// Every value --help offers parses into its library type.
    #[test]
    fn every_offered_value_parses() {
        let mut offered = 0;
        let command = Args::command();
        for arg in command
            .get_arguments()
            .filter(|a| a.get_action().takes_values())
        {
            for value in arg.get_possible_values() {
                let flag = format!("--{} {}", arg.get_long().unwrap(), value.get_name());
                assert!(parse(&flag).is_ok(), "{flag}: {:?}", parse(&flag).err());
                offered += 1;
            }
        }
        assert_eq!(offered, 18, "the values of all 7 enum flags are checked");
    }

    #[test]
    fn flags_become_the_run_options() {
        let flags = "--preset fast --steps 7 --eta 0.5 --only-center-face --paste-mask box \
                     --skip-existing --precision bf16";
        let options = run_options(&parse(flags).unwrap()).unwrap();
        assert_eq!(options.restore.stage1_steps, 7);
        assert_eq!(options.restore.sampler, SamplerKind::Ddim { eta: 0.5 });
        assert_eq!(options.faces, FaceSelection::Centre);
        assert_eq!(options.paste_mask, PasteMask::Box);
        assert_eq!(options.existing, Existing::Skip);
        assert_eq!(options.dtype, burn::tensor::FloatDType::BF16);
        let err = run_options(&parse("--eta 0.5").unwrap()).unwrap_err();
        assert!(err.to_string().starts_with("--eta is DDIM's"), "{err}");
    }
}
