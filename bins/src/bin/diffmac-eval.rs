//! `diffmac-eval`: scores restored faces with the paper's metrics. Pairs `--restored` and
//! `--gt` images by file stem, computes the full-reference metrics (PSNR, SSIM, LPIPS, identity
//! cosine/angle, 5-point LMD) on pairs, the no-reference one (NIQE) on every restored image and
//! FID between the two folders, prints a table of means and counts, and writes per-image
//! values with `--json`. Exit code 0 when every image was scored, 1 when
//! some files were unreadable, unpaired or failed a metric (the rest were scored), 2 on a usage
//! error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::anyhow;
use clap::Parser;
use diffmac::backend::{DefaultBackend, default_device};
use diffmac::eval::job::{EvalEvent, EvalOptions, LeftOut, default_id_weights, run_eval};
use diffmac::eval::{
    EvalError, FullReferenceOptions, LpipsNet, Metric, SsimConvention, format_table,
};
use diffmac::io::DEFAULT_MAX_PIXELS;
use diffmac_cli::{exit_code, init_logging, note_gpu_first_run, progress_bar, set_worker_threads};
use indicatif::ProgressBar;

/// Score restored faces with the metrics of DiffMAC's tables (basicsr conventions).
#[derive(Debug, Parser)]
#[command(
    version,
    override_usage = "diffmac-eval --restored DIR [--gt DIR] [--metrics psnr,ssim,lpips,niqe,fid,...] [--json FILE] [OPTIONS]",
    after_help = "Example: diffmac-eval --restored out/restored --gt data/gt --json out/scores.json\n\
                  Metrics: psnr, ssim, lpips, idcos, iddeg, lmd, fid (need --gt; lpips also \
                  --lpips-weights, idcos/iddeg --id-weights, fid --fid-weights; lmd uses the \
                  shipped 5-point MTCNN), niqe. MUSIQ is not available (docs/evaluation.md)."
)]
struct Args {
    /// Folder (or one file) of restored images.
    #[arg(long, short)]
    restored: PathBuf,
    /// Folder of ground-truth images, paired with the restored ones by file stem.
    #[arg(long, short)]
    gt: Option<PathBuf>,
    /// Comma-separated metrics (default: psnr,ssim,niqe with --gt, plus lpips, idcos,iddeg and
    /// fid when their --*-weights are given; niqe without --gt).
    #[arg(long, short, value_delimiter = ',')]
    metrics: Vec<Metric>,
    /// Write per-image values and the summary to this JSON file (atomically).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Replace an existing --json file instead of refusing.
    #[arg(long)]
    overwrite: bool,
    /// Pixels dropped from each edge before PSNR/SSIM/NIQE (basicsr `crop_border`).
    #[arg(long, default_value_t = 0)]
    crop_border: usize,
    /// PSNR/SSIM on the BT.601 Y channel instead of RGB (basicsr `test_y_channel`).
    #[arg(long)]
    y_channel: bool,
    /// SSIM definition: basicsr (Gaussian 11×11) or skimage (uniform 7×7).
    #[arg(long, default_value = "basicsr")]
    ssim_convention: SsimConvention,
    /// LPIPS backbone: alex (the usual choice) or vgg.
    #[arg(long, default_value = "alex")]
    lpips_net: LpipsNet,
    /// torchvision ImageNet backbone for LPIPS as safetensors (convert with
    /// scripts/convert_eval_weights.py --torchvision-alexnet/--torchvision-vgg16).
    #[arg(long)]
    lpips_weights: Option<PathBuf>,
    /// Identity encoder for idcos/iddeg, as safetensors (ArcFace IResNet or dlib ResNet v1, see
    /// docs/identity.md); faces must be square FFHQ-aligned crops (e.g. 512×512). Default: the
    /// dlib network in weights/identity/ when scripts/fetch_identity_weights.sh has fetched it.
    #[arg(long)]
    id_weights: Option<PathBuf>,
    /// Kind of --id-weights: auto, arcface_iresnet or dlib_resnet_v1.
    #[arg(long, default_value = "auto")]
    id_kind: String,
    /// pytorch-fid's Inception-v3 as safetensors, for fid (convert with
    /// scripts/convert_eval_weights.py --pytorch-fid-inception).
    #[arg(long)]
    fid_weights: Option<PathBuf>,
    /// Folder for the per-folder Inception feature caches (default: the --json file's folder;
    /// no cache without either).
    #[arg(long)]
    fid_cache: Option<PathBuf>,
    /// Refuse images with more pixels than this.
    #[arg(long, default_value_t = DEFAULT_MAX_PIXELS)]
    max_pixels: u64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// Log each image's scores.
    #[arg(long, short)]
    verbose: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.verbose);
    note_gpu_first_run();
    exit_code(run(&args))
}

/// The library's options for these flags; `--id-weights` defaults to the fetched identity
/// network ([`default_id_weights`]) when that file exists.
fn options(args: &Args) -> EvalOptions {
    EvalOptions {
        restored: args.restored.clone(),
        gt: args.gt.clone(),
        metrics: args.metrics.clone(),
        full_reference: FullReferenceOptions {
            crop_border: args.crop_border,
            test_y_channel: args.y_channel,
        },
        ssim_convention: args.ssim_convention,
        lpips_net: args.lpips_net,
        lpips_weights: args.lpips_weights.clone(),
        id_weights: args.id_weights.clone().or_else(default_id_weights),
        id_kind: args.id_kind.clone(),
        fid_weights: args.fid_weights.clone(),
        fid_cache: args.fid_cache.clone(),
        json: args.json.clone(),
        overwrite: args.overwrite,
        max_pixels: args.max_pixels,
    }
}

/// Runs the batch; `Ok(false)` when some files failed or were unpaired.
fn run(args: &Args) -> anyhow::Result<bool> {
    set_worker_threads(args.threads)?;
    let bar = Mutex::new(ProgressBar::hidden());
    let run = run_eval::<DefaultBackend>(&options(args), &default_device(), |event| {
        report(event, &bar, args.quiet)
    })
    .map_err(in_flag_terms)?;
    let report = &run.report;
    eprintln!(
        "scored {} of {} images in {:.1} s ({} failed, {} with metric errors, {} unpaired, {} ambiguous, {} skipped)",
        report.images.len(),
        run.images_found,
        run.elapsed.as_secs_f64(),
        report.failed.len(),
        run.metric_errors(),
        report.unpaired.len(),
        report.ambiguous.len(),
        report.skipped.len()
    );
    Ok(run.complete())
}

/// Prints a run's progress and problems: bars on stderr, messages on stderr above them, the
/// table of means on stdout.
fn report(event: EvalEvent<'_>, bar: &Mutex<ProgressBar>, quiet: bool) {
    let current = || {
        bar.lock()
            .map(|b| b.clone())
            .unwrap_or_else(|_| ProgressBar::hidden())
    };
    let replace = |new: ProgressBar| {
        if let Ok(mut b) = bar.lock() {
            *b = new;
        }
    };
    match event {
        EvalEvent::IdentityEncoder { kind, path } => {
            eprintln!("identity encoder: {kind} from {}", path.display());
        }
        EvalEvent::LeftOut { path, reason } => {
            let path = path.display();
            match reason {
                LeftOut::NotAnImage => eprintln!("skipped {path}: not an image file extension"),
                LeftOut::SameName => {
                    eprintln!("ambiguous {path}: another image in its folder has the same name")
                }
                LeftOut::NoGroundTruth => {
                    eprintln!("unpaired {path}: no ground truth with this name")
                }
                LeftOut::NoRestored => {
                    eprintln!("unpaired {path}: no restored image with this name")
                }
            }
        }
        EvalEvent::ScoringStarted { images } => replace(progress_bar(images as u64, quiet)),
        EvalEvent::Scored { pair, result } => {
            let bar = current();
            match result {
                Ok(scores) => {
                    for (metric, err) in &scores.errors {
                        bar.suspend(|| {
                            eprintln!("failed: {}: {metric}: {err}", pair.restored.display())
                        });
                    }
                }
                Err(failure) => bar.suspend(|| eprintln!("failed: {}", failure.error)),
            }
            bar.inc(1);
        }
        EvalEvent::FidFeaturesStarted { images } => {
            let new = progress_bar(images as u64, quiet);
            new.set_message("FID features");
            replace(new);
        }
        EvalEvent::FidFeatureDone => current().inc(1),
        EvalEvent::ScoringFinished | EvalEvent::FidFeaturesFinished => current().finish_and_clear(),
        EvalEvent::FidFailed(failure) => eprintln!("failed (FID): {}", failure.error),
        EvalEvent::FidCacheNotWritten(e) => {
            eprintln!("warning: FID feature cache not written: {e}")
        }
        EvalEvent::FidUndefined(e) => eprintln!("failed: FID: {e}"),
        EvalEvent::Summary(summary) => print!("{}", format_table(summary)),
    }
}

/// The library's usage errors in terms of this tool's flags.
fn in_flag_terms(err: EvalError) -> anyhow::Error {
    match err {
        EvalError::NeedsGroundTruth { metric } => {
            anyhow!("--metrics {metric} compares with ground truth: give --gt DIR")
        }
        EvalError::MissingWeights {
            metric: Metric::Lpips,
            ..
        } => anyhow!(
            "--metrics lpips needs the backbone: give --lpips-weights FILE (docs/evaluation.md)"
        ),
        EvalError::MissingWeights {
            metric: Metric::IdCos | Metric::IdDeg,
            ..
        } => anyhow!(
            "--metrics idcos/iddeg need an identity encoder: give --id-weights FILE (docs/evaluation.md)"
        ),
        EvalError::MissingWeights {
            metric: Metric::Fid,
            ..
        } => anyhow!(
            "--metrics fid needs the Inception network: give --fid-weights FILE (docs/evaluation.md)"
        ),
        EvalError::ReportExists { path } => anyhow!(
            "{}: already exists (use --overwrite to replace it)",
            path.display()
        ),
        other => other.into(),
    }
}
