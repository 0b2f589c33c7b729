//! `diffmac-eval`: scores restored faces with the paper's metrics. Pairs `--restored` and
//! `--gt` images by file stem, computes the full-reference metrics (PSNR, SSIM, LPIPS, identity
//! cosine/angle, 5-point LMD) on pairs, the no-reference one (NIQE) on every restored image and
//! FID between the two folders, prints a table of means and counts, and writes per-image
//! values with `--json`. Exit code 0 when every image was scored, 1 when
//! some files were unreadable, unpaired or failed a metric (the rest were scored), 2 on a usage
//! error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::bail;
use clap::Parser;
use diffmac::backend::{DefaultBackend, default_device};
use diffmac::eval::fid::{
    InceptionV3, POOL3_DIM, content_key, features_to_bytes, frechet_distance_features,
    load_features,
};
use diffmac::eval::landmark_distance;
use diffmac::eval::lpips::image_tensor;
use diffmac::eval::{
    FullReferenceOptions, Image255, ImageScores, Lpips, LpipsNet, Metric, MetricSummary, Pair,
    SsimConvention, format_table, identity_score, load_image255, niqe, pair_folders, psnr, ssim,
    summarize,
};
use diffmac::face::{DetectorConfig, Mtcnn};
use diffmac::id::{IdentityNetwork, load_identity_encoder};
use diffmac::io::{DEFAULT_MAX_PIXELS, write_atomically};
use diffmac_cli::{exit_code, init_logging, note_gpu_first_run, progress_bar};
use rayon::prelude::*;

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
    #[arg(long, default_value = "basicsr", value_parser = parse_convention)]
    ssim_convention: SsimConvention,
    /// LPIPS backbone: alex (the usual choice) or vgg.
    #[arg(long, default_value = "alex", value_parser = parse_net)]
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

fn parse_convention(s: &str) -> Result<SsimConvention, String> {
    match s.to_ascii_lowercase().as_str() {
        "basicsr" => Ok(SsimConvention::Basicsr),
        "skimage" => Ok(SsimConvention::Skimage),
        _ => Err(format!(
            "unknown SSIM convention `{s}` (basicsr or skimage)"
        )),
    }
}

fn parse_net(s: &str) -> Result<LpipsNet, String> {
    match s.to_ascii_lowercase().as_str() {
        "alex" => Ok(LpipsNet::Alex),
        "vgg" => Ok(LpipsNet::Vgg),
        _ => Err(format!("unknown LPIPS network `{s}` (alex or vgg)")),
    }
}

/// The registry-shipped identity network, where `scripts/fetch_identity_weights.sh` puts it.
const DEFAULT_ID_WEIGHTS: &str = "weights/identity/dlib_resnet_v1.safetensors";

fn main() -> ExitCode {
    let mut args = Args::parse();
    init_logging(args.verbose);
    note_gpu_first_run();
    if args.id_weights.is_none() && Path::new(DEFAULT_ID_WEIGHTS).is_file() {
        args.id_weights = Some(PathBuf::from(DEFAULT_ID_WEIGHTS));
    }
    exit_code(run(&args))
}

/// A file that could not be scored.
#[derive(Debug, serde::Serialize)]
struct Failure {
    file: String,
    error: String,
}

/// Runs the batch; `Ok(false)` when some files failed or were unpaired.
fn run(args: &Args) -> anyhow::Result<bool> {
    let metrics = chosen_metrics(args)?;
    if let Some(json) = &args.json
        && !args.overwrite
        && json.exists()
    {
        bail!(
            "{}: already exists (use --overwrite to replace it)",
            json.display()
        );
    }
    if let Some(threads) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .build_global()
            .map_err(|e| anyhow::anyhow!("cannot start the worker threads: {e}"))?;
    }
    let lpips = if metrics.contains(&Metric::Lpips) {
        let Some(weights) = &args.lpips_weights else {
            bail!(
                "--metrics lpips needs the backbone: give --lpips-weights FILE (docs/evaluation.md)"
            );
        };
        Some(Lpips::<DefaultBackend>::load(
            args.lpips_net,
            weights,
            &default_device(),
        )?)
    } else {
        None
    };
    let identity = if metrics.contains(&Metric::IdCos) || metrics.contains(&Metric::IdDeg) {
        let Some(weights) = &args.id_weights else {
            bail!(
                "--metrics idcos/iddeg need an identity encoder: give --id-weights FILE (docs/evaluation.md)"
            );
        };
        let encoder =
            load_identity_encoder::<DefaultBackend>(&args.id_kind, weights, &default_device())?;
        eprintln!(
            "identity encoder: {} from {}",
            encoder.kind(),
            weights.display()
        );
        Some(encoder)
    } else {
        None
    };
    let inception = if metrics.contains(&Metric::Fid) {
        let Some(weights) = &args.fid_weights else {
            bail!(
                "--metrics fid needs the Inception network: give --fid-weights FILE (docs/evaluation.md)"
            );
        };
        Some(InceptionV3::<DefaultBackend>::load(
            weights,
            &default_device(),
        )?)
    } else {
        None
    };
    let mtcnn = if metrics.contains(&Metric::Lmd) {
        Some(Mtcnn::<DefaultBackend>::pretrained(&default_device())?)
    } else {
        None
    };
    let pairing = pair_folders(&args.restored, args.gt.as_deref())?;
    if pairing.pairs.is_empty() {
        bail!("{}: no image files found", args.restored.display());
    }
    for path in &pairing.skipped {
        eprintln!("skipped {}: not an image file extension", path.display());
    }
    for path in &pairing.ambiguous {
        eprintln!(
            "ambiguous {}: another image in its folder has the same name",
            path.display()
        );
    }
    let mut unpaired = Vec::new();
    if args.gt.is_some() {
        for pair in pairing.restored_without_gt() {
            eprintln!(
                "unpaired {}: no ground truth with this name",
                pair.restored.display()
            );
            unpaired.push(pair.restored.display().to_string());
        }
        for path in &pairing.gt_without_restored {
            eprintln!(
                "unpaired {}: no restored image with this name",
                path.display()
            );
            unpaired.push(path.display().to_string());
        }
    }

    let options = FullReferenceOptions {
        crop_border: args.crop_border,
        test_y_channel: args.y_channel,
    };
    let start = Instant::now();
    let bar = progress_bar(pairing.pairs.len() as u64, args.quiet);
    let results: Vec<Result<ImageScores, Failure>> = pairing
        .pairs
        .par_iter()
        .map(|pair| {
            let nets = Networks {
                lpips: lpips.as_ref(),
                identity: identity.as_ref(),
                mtcnn: mtcnn.as_ref(),
            };
            let result = score(pair, &metrics, &options, &nets, args);
            match &result {
                Ok(scores) => {
                    tracing::info!(image = %pair.name, scores = ?scores.scores, "scored");
                    for (metric, err) in &scores.errors {
                        bar.suspend(|| {
                            eprintln!("failed: {}: {metric}: {err}", pair.restored.display())
                        });
                    }
                }
                Err(failure) => bar.suspend(|| eprintln!("failed: {}", failure.error)),
            }
            bar.inc(1);
            result
        })
        .collect();
    bar.finish_and_clear();

    let mut images = Vec::new();
    let mut failed = Vec::new();
    for result in results {
        match result {
            Ok(scores) => images.push(scores),
            Err(failure) => failed.push(failure),
        }
    }
    let metric_errors = images.iter().filter(|i| !i.errors.is_empty()).count();
    let mut summary = summarize(&images);
    let mut fid_record = serde_json::Value::Null;
    if let (Some(model), Some(weights)) = (&inception, &args.fid_weights) {
        let restored: Vec<PathBuf> = pairing.pairs.iter().map(|p| p.restored.clone()).collect();
        let gt: Vec<PathBuf> = pairing
            .pairs
            .iter()
            .filter_map(|p| p.gt.clone())
            .chain(pairing.gt_without_restored.iter().cloned())
            .collect();
        let cache_dir = args.fid_cache.clone().or_else(|| {
            args.json
                .as_ref()
                .and_then(|j| j.parent().map(Path::to_path_buf))
        });
        let (fid, record) = fid_between(
            model,
            weights,
            &restored,
            &gt,
            cache_dir.as_deref(),
            args,
            &mut failed,
        )?;
        fid_record = record;
        if let Some(fid) = fid {
            summary.insert(
                Metric::Fid,
                MetricSummary {
                    mean: fid,
                    count: restored.len(),
                    higher_is_better: false,
                },
            );
        }
    }
    print!("{}", format_table(&summary));

    if let Some(json) = &args.json {
        let record = serde_json::json!({
            "restored": args.restored.display().to_string(),
            "gt": args.gt.as_ref().map(|p| p.display().to_string()),
            "metrics": metrics,
            "options": {
                "id_weights": args.id_weights.as_ref().map(|p| p.display().to_string()),
                "id_kind": identity.as_ref().map(|e| e.kind().to_string()),
                "lpips_net": metrics.contains(&Metric::Lpips).then_some(args.lpips_net),
                "lpips_weights": args.lpips_weights.as_ref().map(|p| p.display().to_string()),
                "crop_border": args.crop_border,
                "test_y_channel": args.y_channel,
                "ssim_convention": args.ssim_convention,
            },
            "summary": summary,
            "fid": fid_record,
            "images": images,
            "failed": failed,
            "unpaired": unpaired,
            "ambiguous": pairing.ambiguous,
            "skipped": pairing.skipped,
        });
        let bytes = serde_json::to_vec_pretty(&record)?;
        write_atomically(json, &bytes, args.overwrite)?;
    }
    eprintln!(
        "scored {} of {} images in {:.1} s ({} failed, {} with metric errors, {} unpaired, {} ambiguous, {} skipped)",
        images.len(),
        pairing.pairs.len(),
        start.elapsed().as_secs_f64(),
        failed.len(),
        metric_errors,
        unpaired.len(),
        pairing.ambiguous.len(),
        pairing.skipped.len()
    );
    Ok(failed.is_empty()
        && metric_errors == 0
        && unpaired.is_empty()
        && pairing.ambiguous.is_empty())
}

/// The metrics to run: `--metrics`, or the defaults; full-reference ones need `--gt`.
fn chosen_metrics(args: &Args) -> anyhow::Result<Vec<Metric>> {
    let mut metrics = if args.metrics.is_empty() {
        Metric::ALL
            .into_iter()
            .filter(|m| args.gt.is_some() || !m.needs_reference())
            .filter(|m| *m != Metric::Lpips || args.lpips_weights.is_some())
            .filter(|m| !matches!(m, Metric::IdCos | Metric::IdDeg) || args.id_weights.is_some())
            .filter(|m| *m != Metric::Fid || args.fid_weights.is_some())
            // 5-point LMD is not comparable with papers' 98-point values: only on request.
            .filter(|m| *m != Metric::Lmd)
            .collect()
    } else {
        args.metrics.clone()
    };
    metrics.sort();
    metrics.dedup();
    if args.gt.is_none()
        && let Some(m) = metrics.iter().find(|m| m.needs_reference())
    {
        bail!("--metrics {m} compares with ground truth: give --gt DIR");
    }
    Ok(metrics)
}

/// Inception features of `files`, from the cache in `cache_dir` when its key matches, else
/// computed (and cached). Unreadable files are added to `failed`. Returns the features and the
/// cache file used.
fn folder_features(
    model: &InceptionV3<DefaultBackend>,
    weights: &Path,
    files: &[PathBuf],
    cache_dir: Option<&Path>,
    args: &Args,
    failed: &mut Vec<Failure>,
) -> anyhow::Result<(Vec<Vec<f32>>, Option<PathBuf>)> {
    let cache = match (cache_dir, files.first().and_then(|f| f.parent())) {
        (Some(dir), Some(folder)) => {
            let name = folder
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "folder".to_owned());
            let key = content_key(files, weights)?;
            Some(dir.join(format!("fid-features-{name}-{key}.safetensors")))
        }
        _ => None,
    };
    if let Some(path) = &cache
        && let Some(features) = load_features(path, POOL3_DIM)?
        && features.len() == files.len()
    {
        tracing::info!(cache = %path.display(), "FID features from cache");
        return Ok((features, cache));
    }
    let bar = progress_bar(files.len() as u64, args.quiet);
    bar.set_message("FID features");
    let device = default_device();
    let results: Vec<Result<Vec<f32>, Failure>> = files
        .par_iter()
        .map(|path| {
            let out = load(path, args.max_pixels).and_then(|image| {
                model.features(&image, &device).map_err(|e| Failure {
                    file: path.display().to_string(),
                    error: format!("{}: {e}", path.display()),
                })
            });
            bar.inc(1);
            out
        })
        .collect();
    bar.finish_and_clear();
    let mut features = Vec::new();
    let mut complete = true;
    for result in results {
        match result {
            Ok(f) => features.push(f),
            Err(failure) => {
                eprintln!("failed (FID): {}", failure.error);
                failed.push(failure);
                complete = false;
            }
        }
    }
    if let (Some(path), true) = (&cache, complete) {
        // A cache that cannot be written costs time next run, not this run's result.
        let written = features_to_bytes(&features)
            .map_err(anyhow::Error::from)
            .and_then(|bytes| Ok(write_atomically(path, &bytes, true)?));
        if let Err(e) = written {
            eprintln!("warning: FID feature cache not written: {e}");
        }
    }
    Ok((features, cache))
}

/// FID between the restored and the ground-truth sets, and a JSON record of how it was made.
fn fid_between(
    model: &InceptionV3<DefaultBackend>,
    weights: &Path,
    restored: &[PathBuf],
    gt: &[PathBuf],
    cache_dir: Option<&Path>,
    args: &Args,
    failed: &mut Vec<Failure>,
) -> anyhow::Result<(Option<f64>, serde_json::Value)> {
    let (a, cache_a) = folder_features(model, weights, restored, cache_dir, args, failed)?;
    let (b, cache_b) = folder_features(model, weights, gt, cache_dir, args, failed)?;
    let to64 = |v: &[Vec<f32>]| -> Vec<Vec<f64>> {
        v.iter()
            .map(|f| f.iter().map(|x| f64::from(*x)).collect())
            .collect()
    };
    let fid = frechet_distance_features(&to64(&a), &to64(&b));
    let fid = match fid {
        Ok(v) => Some(v),
        Err(e) => {
            eprintln!("failed: FID: {e}");
            failed.push(Failure {
                file: "(FID)".to_owned(),
                error: e.to_string(),
            });
            None
        }
    };
    let record = serde_json::json!({
        "value": fid,
        "restored_images": a.len(),
        "gt_images": b.len(),
        "restored_cache": cache_a.map(|p| p.display().to_string()),
        "gt_cache": cache_b.map(|p| p.display().to_string()),
    });
    Ok((fid, record))
}

/// The networks a batch loaded (only those its metrics need).
struct Networks<'a> {
    lpips: Option<&'a Lpips<DefaultBackend>>,
    identity: Option<&'a IdentityNetwork<DefaultBackend>>,
    mtcnn: Option<&'a Mtcnn<DefaultBackend>>,
}

/// LMD between the most confident MTCNN faces of the two images (5 landmarks).
fn lmd(mtcnn: &Mtcnn<DefaultBackend>, restored: &Image255, gt: &Image255) -> Result<f64, String> {
    let config = DetectorConfig::default();
    let best = |image: &Image255, which: &str| -> Result<[[f32; 2]; 5], String> {
        let faces = mtcnn
            .detect(&image.to_rgb32f(), &config)
            .map_err(|e| e.to_string())?;
        faces
            .into_iter()
            .max_by(|a, b| a.score.total_cmp(&b.score))
            .map(|d| d.landmarks)
            .ok_or_else(|| format!("no face found in the {which} image"))
    };
    let a = best(restored, "restored")?;
    let b = best(gt, "ground-truth")?;
    landmark_distance(&a, &b).map_err(|e| e.to_string())
}

/// Identity cosine and angle between two FFHQ-aligned faces.
fn identity(
    encoder: &IdentityNetwork<DefaultBackend>,
    restored: &Image255,
    gt: &Image255,
) -> Result<diffmac::eval::IdentityScore, String> {
    let device = default_device();
    let embed = |image: &Image255| -> Result<Vec<f32>, String> {
        let t = image_tensor::<DefaultBackend>(image, &device).map_err(|e| e.to_string())?;
        let e = encoder.embed_ffhq(t).map_err(|e| e.to_string())?;
        e.into_data()
            .convert::<f32>()
            .to_vec()
            .map_err(|e| format!("{e:?}"))
    };
    identity_score(&embed(restored)?, &embed(gt)?).map_err(|e| e.to_string())
}

/// Loads `path`, describing the failure for the report.
fn load(path: &Path, max_pixels: u64) -> Result<Image255, Failure> {
    load_image255(path, max_pixels).map_err(|e| Failure {
        file: path.display().to_string(),
        error: e.to_string(),
    })
}

/// Scores one restored image (and its ground truth when paired).
fn score(
    pair: &Pair,
    metrics: &[Metric],
    options: &FullReferenceOptions,
    nets: &Networks<'_>,
    args: &Args,
) -> Result<ImageScores, Failure> {
    let restored = load(&pair.restored, args.max_pixels)?;
    let needs_gt = metrics.iter().any(|m| m.needs_reference());
    let gt = match (&pair.gt, needs_gt) {
        (Some(path), true) => Some(load(path, args.max_pixels)?),
        _ => None,
    };
    let mut scores = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for &metric in metrics {
        let value = match (metric, &gt) {
            (Metric::Psnr, Some(gt)) => psnr(&restored, gt, options),
            (Metric::Ssim, Some(gt)) => ssim(&restored, gt, options, args.ssim_convention),
            (Metric::Lpips, Some(gt)) => match nets.lpips {
                Some(model) => model.distance_images(&restored, gt),
                None => continue,
            },
            (Metric::IdCos | Metric::IdDeg, Some(gt)) => match nets.identity {
                Some(encoder) => match identity(encoder, &restored, gt) {
                    Ok(s) => Ok(if metric == Metric::IdCos {
                        s.cosine
                    } else {
                        s.degrees
                    }),
                    Err(e) => {
                        errors.insert(metric, e);
                        continue;
                    }
                },
                None => continue,
            },
            (Metric::Niqe, _) => niqe(&restored, options.crop_border),
            (Metric::Lmd, Some(gt)) => match nets.mtcnn {
                Some(model) => match lmd(model, &restored, gt) {
                    Ok(v) => Ok(v),
                    Err(e) => {
                        errors.insert(metric, e);
                        continue;
                    }
                },
                None => continue,
            },
            // Set-level: computed after the per-image pass.
            (Metric::Fid, _) => continue,
            // Full-reference metric without ground truth: reported as unpaired.
            (_, None) => continue,
        };
        match value {
            Ok(v) => {
                scores.insert(metric, v);
            }
            Err(e) => {
                errors.insert(metric, e.to_string());
            }
        }
    }
    Ok(ImageScores {
        name: pair.name.clone(),
        restored: pair.restored.display().to_string(),
        gt: pair.gt.as_ref().map(|p| p.display().to_string()),
        scores,
        errors,
    })
}
