//! `diffmac-restore`: restores faces with DiffMAC's two-stage DID pipeline, in whole photos
//! (detect, align, restore, paste back) or on already aligned faces (`--aligned`). Exit code
//! 0 when every input succeeded, 1 when some failed (the rest were processed), 2 on a usage
//! error or an unusable model.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use diffmac::backend::{BACKEND_NAME, DefaultBackend, default_device};
use diffmac::face::paste::PasteOptions;
use diffmac::face::{Detector, DetectorKind, FaceDetector, FaceMesh, FaceOptions, FaceSelection};
use diffmac::id::{IdentityNetwork, load_identity_encoder};
use diffmac::io::{
    DEFAULT_MAX_PIXELS, LoadedImage, Storage, load_image, save_image, write_atomically,
};
use diffmac::mib::InjectionKind;
use diffmac::restore::faces::{FaceRun, RestoredFace, face_seed, restore_best_of, restore_photo};
use diffmac::restore::layout::{
    CMP, CROPPED_FACES, FINAL_RESULTS, InputImage, RESTORED_FACES, STAGE1_FACES, check_output,
    collect_inputs, output_path,
};
use diffmac::restore::{
    ColorFix, FaceJudge, ModelBundle, Observer, PipelineEvent, RestoreOptions, RestorePreset,
    Restorer, SamplerKind, bundle::resolve_model_dir,
};
use diffmac_cli::report::{Entries, FaceEntry, NotRestored, REPORT, Report};
use diffmac_cli::{exit_code, init_logging, note_gpu_first_run, progress_bar};
use image::Rgb32FImage;
use indicatif::{MultiProgress, ProgressBar};

type B = DefaultBackend;

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
    #[arg(long, value_enum, default_value_t = PasteMaskArg::Face)]
    paste_mask: PasteMaskArg,
    /// Which detected faces of a photo to restore.
    #[arg(long, value_enum, default_value_t = FacesArg::All)]
    faces: FacesArg,
    /// Restore only the face nearest the photo's centre (same as --faces center).
    #[arg(long, conflicts_with = "faces")]
    only_center_face: bool,
    /// Leave faces whose box is smaller than this many pixels (its larger side) as they
    /// are; report.json lists them with the reason.
    #[arg(long, value_name = "PX", default_value_t = 0)]
    min_face: u32,
    /// Starting settings: `paper` (50 spaced DDPM steps per stage) or `fast` (20 DDIM
    /// steps per stage, η = 0); --steps, --stage2-steps, --sampler and --eta override it.
    #[arg(long, value_enum, default_value_t = PresetArg::Paper)]
    preset: PresetArg,
    /// Sampling steps of each stage [default: the preset's, paper 50, fast 20].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1000))]
    steps: Option<u64>,
    /// Sampling steps of Stage II, if different from --steps.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1000))]
    stage2_steps: Option<u64>,
    /// Step rule of both stages [default: the preset's, paper ddpm, fast ddim].
    #[arg(long, value_enum)]
    sampler: Option<SamplerArg>,
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
    #[arg(long, value_enum)]
    injection: Option<InjectionArg>,
    /// An aligned face whose identity is injected instead of each face's own (Fig. 10).
    #[arg(long)]
    reference: Option<PathBuf>,
    /// Starting noise level in (0, 1]: 1 samples from pure noise (the paper); lower keeps
    /// more of the input.
    #[arg(long, default_value_t = 1.0)]
    strength: f64,
    /// Colour correction of the output towards the input.
    #[arg(long, value_enum, default_value_t = ColorArg::None)]
    color_fix: ColorArg,
    /// Restore each face with N seeds and keep the one most like the input (highest
    /// identity similarity, ties by NIQE); report.json lists every candidate.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=16))]
    best_of: u64,
    /// Identity network for report.json and --best-of (dlib or ArcFace safetensors)
    /// [default: the model's, else weights/identity/dlib_resnet_v1.safetensors when
    /// scripts/fetch_identity_weights.sh has fetched it].
    #[arg(long, value_name = "FILE")]
    id_weights: Option<PathBuf>,
    /// Restorations per batch: aligned files, or the faces of one photo, times --best-of
    /// (more is faster on a GPU and needs more memory; results do not change, as each face
    /// has its own seed).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    batch_size: u64,
    /// Precision of the model weights and activations.
    #[arg(long, value_enum, default_value_t = PrecisionArg::F32)]
    precision: PrecisionArg,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FacesArg {
    All,
    Largest,
    Center,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PasteMaskArg {
    Face,
    Box,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PresetArg {
    Paper,
    Fast,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SamplerArg {
    Ddpm,
    Ddim,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum InjectionArg {
    Identity,
    Noise,
    None,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ColorArg {
    None,
    Adain,
    Wavelet,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PrecisionArg {
    F32,
    F16,
    Bf16,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.verbose);
    note_gpu_first_run();
    exit_code(run(&args))
}

/// The preset's options with the flags given on top.
fn restore_options(args: &Args) -> RestoreOptions {
    let preset = match args.preset {
        PresetArg::Paper => RestorePreset::Paper,
        PresetArg::Fast => RestorePreset::Fast,
    }
    .options();
    let stage1_steps = args.steps.map_or(preset.stage1_steps, |s| s as usize);
    let eta = args.eta.unwrap_or(0.0);
    RestoreOptions {
        stage1_steps,
        stage2_steps: args
            .stage2_steps
            .or(args.steps)
            .map_or(preset.stage2_steps, |s| s as usize),
        sampler: match (args.sampler, preset.sampler) {
            (Some(SamplerArg::Ddpm), _) => SamplerKind::Ddpm,
            (Some(SamplerArg::Ddim), _) | (None, SamplerKind::Ddim { .. }) => {
                SamplerKind::Ddim { eta }
            }
            (None, SamplerKind::Ddpm) => SamplerKind::Ddpm,
        },
        seed: args.seed,
        stage1_only: args.stage1_only,
        injection: args.injection.map(|i| match i {
            InjectionArg::Identity => InjectionKind::Identity,
            InjectionArg::Noise => InjectionKind::Noise,
            InjectionArg::None => InjectionKind::None,
        }),
        strength: args.strength,
        color_fix: match args.color_fix {
            ColorArg::None => ColorFix::None,
            ColorArg::Adain => ColorFix::Adain,
            ColorArg::Wavelet => ColorFix::Wavelet,
        },
    }
}

/// Warns loudly about models that cannot restore anything.
fn warn_about_model(bundle: &ModelBundle<B>) {
    let c = &bundle.config;
    if c.random_weights {
        eprintln!(
            "WARNING: {} has RANDOM weights (a tiny test model): the outputs exercise the \
             pipeline but are NOT restorations.",
            bundle.dir.display()
        );
    } else if !c.stage1.trained || c.stage2.as_ref().is_some_and(|s| !s.trained) {
        eprintln!(
            "WARNING: {} has untrained stage controls (a converted base without merged \
             diffmac-train checkpoints): the outputs are not restorations.",
            bundle.dir.display()
        );
    }
}

/// Progress of the diffusion steps of the batch of faces being restored.
struct StepBar(ProgressBar);

impl Observer<B> for StepBar {
    fn event(&mut self, event: &PipelineEvent<'_, B>) {
        if let PipelineEvent::Step { stage, done, total } = event {
            if *done == 1 {
                self.0.reset();
                self.0.set_length(*total as u64);
                self.0.set_message(format!("stage {stage}"));
            }
            self.0.set_position(*done as u64);
        }
    }
}

/// Per-run counters for the summary.
#[derive(Default)]
struct Summary {
    done: usize,
    failed: usize,
    skipped_existing: usize,
    faces: usize,
    no_face: usize,
    restoring: Duration,
    /// report.json's entries, in input order.
    report: Entries,
}

/// Where the identity network of report.json and --best-of comes from: --id-weights, the
/// model's, or dlib's where scripts/fetch_identity_weights.sh puts it.
const DEFAULT_ID_WEIGHTS: &str = "weights/identity/dlib_resnet_v1.safetensors";

/// Loads the identity network named by --id-weights or found at [`DEFAULT_ID_WEIGHTS`]
/// (`None` if the model's is to be used or none is there), with a description for the
/// report.
fn own_identity_network(
    args: &Args,
    bundle: &ModelBundle<B>,
) -> anyhow::Result<Option<(IdentityNetwork<B>, String)>> {
    let path = match &args.id_weights {
        Some(path) => path.clone(),
        None if bundle.identity.is_some() => return Ok(None),
        None => PathBuf::from(DEFAULT_ID_WEIGHTS),
    };
    if args.id_weights.is_none() && !path.exists() {
        return Ok(None);
    }
    let network = load_identity_encoder::<B>("auto", &path, &default_device())?;
    let about = format!("{} ({})", network.kind().as_str(), path.display());
    Ok(Some((network, about)))
}

fn run(args: &Args) -> anyhow::Result<bool> {
    let options = restore_options(args);
    options.check()?;
    if args.eta.is_some() && options.sampler == SamplerKind::Ddpm {
        bail!("--eta is DDIM's: add --sampler ddim (or --preset fast)");
    }
    let inputs = collect_inputs(&args.input, args.recursive)?;
    for skipped in &inputs.skipped {
        eprintln!("skipped {}: not an image file extension", skipped.display());
    }
    if inputs.images.is_empty() {
        bail!("{}: no image files found", args.input.display());
    }
    check_output(&args.input, &args.output)?;

    let model_dir = resolve_model_dir(args.model.as_deref())?;
    let device = default_device();
    let dtype = match args.precision {
        PrecisionArg::F32 => burn::tensor::FloatDType::F32,
        PrecisionArg::F16 => burn::tensor::FloatDType::F16,
        PrecisionArg::Bf16 => burn::tensor::FloatDType::BF16,
    };
    let load_start = Instant::now();
    let bundle = ModelBundle::<B>::load(&model_dir, &device, dtype)?;
    warn_about_model(&bundle);
    eprintln!(
        "model {} loaded in {:.1} s ({BACKEND_NAME}, {:?})",
        model_dir.display(),
        load_start.elapsed().as_secs_f64(),
        args.precision
    );
    let restorer = Restorer::new(&bundle, options)?;
    if args.reference.is_some()
        && !args.stage1_only
        && bundle.stage2.is_some()
        && bundle.mib.is_none()
    {
        bail!(
            "--reference: this model's Stage II has no bottleneck (2AdaIN), so there is no \
             identity to replace"
        );
    }
    let reference = match &args.reference {
        Some(path) => {
            let face = load_image(path, args.max_pixels)?.rgb;
            let size = restorer.image_size() as u32;
            let face =
                image::imageops::resize(&face, size, size, image::imageops::FilterType::CatmullRom);
            let t = diffmac::io::images_to_tensor::<B>(&[face], &device)?;
            Some(
                restorer.identity_of(t).with_context(|| {
                    format!("{}: cannot embed the reference face", path.display())
                })?,
            )
        }
        None => None,
    };
    let own_identity = own_identity_network(args, &bundle)?;
    let (identity, identity_about) = match (&own_identity, &bundle.identity) {
        (Some((network, about)), _) => (Some(network), Some(about.clone())),
        (None, Some(network)) => (
            Some(network),
            Some(format!("{} (the model's)", network.kind().as_str())),
        ),
        (None, None) => {
            eprintln!(
                "no identity network: identity similarity is null in {REPORT}{} (give \
                 --id-weights FILE, or run scripts/fetch_identity_weights.sh)",
                if args.best_of > 1 {
                    " and --best-of keeps the lowest NIQE"
                } else {
                    ""
                }
            );
            (None, None)
        }
    };
    let judge = FaceJudge::new(identity);
    let face_run = FaceRun {
        reference: reference.as_ref(),
        batch_size: args.batch_size as usize,
        best_of: args.best_of as usize,
        judge: Some(&judge),
    };
    let finder = if args.aligned {
        None
    } else {
        Some(FaceFinder {
            detector: Detector::<B>::pretrained(args.detector, &device)?,
            mesh: match args.paste_mask {
                PasteMaskArg::Face => Some(FaceMesh::<B>::pretrained(&device)?),
                PasteMaskArg::Box => None,
            },
        })
    };

    let bars = MultiProgress::new();
    if args.quiet {
        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let images_bar = bars.add(progress_bar(inputs.images.len() as u64, args.quiet));
    let mut steps = StepBar(bars.add(progress_bar(0, args.quiet)));
    let mut summary = Summary::default();
    let run_start = Instant::now();

    let final_of = |image: &InputImage| {
        if args.aligned {
            output_path(&args.output, RESTORED_FACES, &image.name, "")
        } else {
            output_path(&args.output, FINAL_RESULTS, &image.name, "")
        }
    };
    let mut pending: Vec<&InputImage> = Vec::new();
    for image in &inputs.images {
        if args.skip_existing && final_of(image).exists() {
            summary.skipped_existing += 1;
            images_bar.inc(1);
            continue;
        }
        if args.aligned {
            pending.push(image);
            if pending.len() < args.batch_size as usize {
                continue;
            }
            let batch = std::mem::take(&mut pending);
            aligned_batch(
                args,
                &restorer,
                &face_run,
                &batch,
                &mut steps,
                &mut summary,
                &images_bar,
            );
        } else {
            let start = Instant::now();
            let dropped_before = summary.report.not_restored.len();
            let result = whole_photo(
                args,
                &restorer,
                finder.as_ref().expect("whole-photo mode"),
                &face_run,
                image,
                &mut steps,
                &mut summary.report,
            );
            summary.restoring += start.elapsed();
            match result {
                Ok((faces, failed)) if !failed.is_empty() => {
                    // The other faces are pasted; the failed ones keep the photo's pixels.
                    summary.failed += 1;
                    summary.faces += faces - failed.len();
                    images_bar.suspend(|| {
                        for err in &failed {
                            report_failure(&image.path, &anyhow::anyhow!("{err}"));
                        }
                    });
                }
                Ok((faces, _)) => {
                    summary.done += 1;
                    summary.faces += faces;
                    if faces == 0 {
                        summary.no_face += 1;
                        let dropped = summary.report.not_restored.len() - dropped_before;
                        let why = if dropped > 0 {
                            format!("{dropped} face(s) found, none kept (see {REPORT})")
                        } else {
                            "no face found".to_string()
                        };
                        images_bar.suspend(|| {
                            eprintln!(
                                "{}: {why}; the photo is copied to {FINAL_RESULTS}/ unchanged",
                                image.path.display()
                            )
                        });
                    }
                }
                Err(err) => {
                    summary.failed += 1;
                    images_bar.suspend(|| report_failure(&image.path, &err));
                }
            }
            images_bar.inc(1);
        }
    }
    if !pending.is_empty() {
        aligned_batch(
            args,
            &restorer,
            &face_run,
            &pending,
            &mut steps,
            &mut summary,
            &images_bar,
        );
    }
    steps.0.finish_and_clear();
    images_bar.finish_and_clear();

    let per_face = if summary.faces > 0 {
        format!(
            ", {:.2} s per face",
            summary.restoring.as_secs_f64() / summary.faces as f64
        )
    } else {
        String::new()
    };
    eprintln!(
        "restored {} face(s) from {} of {} input(s) into {} in {:.1} s{per_face} \
         (seed {}, {} failed, {} without a face, {} already done)",
        summary.faces,
        summary.done,
        inputs.images.len(),
        args.output.display(),
        run_start.elapsed().as_secs_f64(),
        args.seed,
        summary.failed,
        summary.no_face,
        summary.skipped_existing
    );
    let entries = std::mem::take(&mut summary.report);
    let report = Report::new(
        identity_about,
        args.best_of as usize,
        entries.faces,
        entries.not_restored,
    );
    if !report.faces.is_empty() {
        eprintln!("{}", report.summary_line());
    }
    if !report.not_restored.is_empty() {
        eprintln!(
            "{} face(s) found but not restored (--faces, --min-face or a low score): see {REPORT}",
            report.not_restored.len()
        );
    }
    report.write(&args.output)?;
    Ok(summary.failed == 0)
}

/// An aligned face read for restoring, with how its outputs are stored.
struct AlignedInput<'a> {
    image: &'a InputImage,
    face: Rgb32FImage,
    storage: Storage,
}

/// Restores a batch of aligned faces; failures are reported per file.
fn aligned_batch(
    args: &Args,
    restorer: &Restorer<'_, B>,
    run: &FaceRun<'_, B>,
    batch: &[&InputImage],
    steps: &mut StepBar,
    summary: &mut Summary,
    bar: &ProgressBar,
) {
    let mut inputs = Vec::new();
    for image in batch {
        match load_aligned(args, image) {
            Ok(input) => inputs.push(input),
            Err(err) => {
                summary.failed += 1;
                bar.suspend(|| report_failure(&image.path, &err));
                bar.inc(1);
            }
        }
    }
    let Some(first) = inputs.first() else {
        return;
    };
    // Faces of one batch must share a size: restore mismatching ones alone.
    let size = first.face.dimensions();
    if inputs.iter().any(|i| i.face.dimensions() != size) {
        for input in inputs {
            aligned_run(args, restorer, run, vec![input], steps, summary, bar);
        }
        return;
    }
    aligned_run(args, restorer, run, inputs, steps, summary, bar);
}

fn aligned_run(
    args: &Args,
    restorer: &Restorer<'_, B>,
    run: &FaceRun<'_, B>,
    inputs: Vec<AlignedInput<'_>>,
    steps: &mut StepBar,
    summary: &mut Summary,
    bar: &ProgressBar,
) {
    let start = Instant::now();
    let seeds: Vec<u64> = inputs
        .iter()
        .map(|i| face_seed(args.seed, &i.image.name))
        .collect();
    let faces: Vec<Rgb32FImage> = inputs.iter().map(|i| i.face.clone()).collect();
    let result = restore_best_of(restorer, &faces, &seeds, run, steps)
        .map_err(anyhow::Error::from)
        .and_then(|restored| {
            let mut failed = 0;
            for (input, r) in inputs.iter().zip(&restored) {
                match r {
                    Ok(r) => {
                        write_face_outputs(
                            args,
                            &input.image.name,
                            "",
                            &input.face,
                            &r.face,
                            input.storage,
                        )?;
                        (summary.report.faces).push(FaceEntry::new(&input.image.path, 0, r));
                    }
                    Err(err) => {
                        failed += 1;
                        bar.suspend(|| eprintln!("failed: {}: {err}", input.image.path.display()));
                    }
                }
            }
            Ok(failed)
        });
    summary.restoring += start.elapsed();
    match result {
        Ok(failed) => {
            summary.failed += failed;
            summary.done += inputs.len() - failed;
            summary.faces += inputs.len() - failed;
        }
        Err(err) => {
            summary.failed += inputs.len();
            let names: Vec<String> = inputs
                .iter()
                .map(|i| i.image.path.display().to_string())
                .collect();
            bar.suspend(|| eprintln!("failed: {}: {err:#}", names.join(", ")));
        }
    }
    bar.inc(inputs.len() as u64);
}

fn load_aligned<'a>(args: &Args, image: &'a InputImage) -> anyhow::Result<AlignedInput<'a>> {
    let loaded = load_image(&image.path, args.max_pixels)?;
    let (w, h) = loaded.rgb.dimensions();
    if w != h {
        bail!("--aligned expects square faces, this image is {w}×{h}");
    }
    if w < 16 {
        bail!("image is {w}×{h}, too small to be a face");
    }
    Ok(AlignedInput {
        image,
        storage: face_storage(args, &loaded),
        face: loaded.rgb,
    })
}

/// How the face images of `input` are written: 8-bit, and grey when the input is grey
/// (unless --colorize).
fn face_storage(args: &Args, input: &LoadedImage) -> Storage {
    Storage {
        high_bit_depth: false,
        grey: input.is_grey() && !args.colorize,
    }
}

/// Finds the faces of whole photos, and their outlines for pasting back.
struct FaceFinder {
    detector: Detector<B>,
    /// The face mesh, with `--paste-mask face`.
    mesh: Option<FaceMesh<B>>,
}

impl FaceFinder {
    /// The paste-back mask, as report.json names it.
    fn mask_name(&self) -> &'static str {
        match self.mesh {
            Some(_) => "face outline",
            None => "feathered square",
        }
    }
}

/// Restores the faces of one photo; returns how many were found, and why each face that
/// failed did (its output is then not pasted).
fn whole_photo(
    args: &Args,
    restorer: &Restorer<'_, B>,
    finder: &FaceFinder,
    run: &FaceRun<'_, B>,
    image: &InputImage,
    steps: &mut StepBar,
    report: &mut Entries,
) -> anyhow::Result<(usize, Vec<String>)> {
    let photo = load_image(&image.path, args.max_pixels)?;
    let face_options = FaceOptions {
        selection: match (args.only_center_face, args.faces) {
            (true, _) | (false, FacesArg::Center) => FaceSelection::Centre,
            (false, FacesArg::Largest) => FaceSelection::Largest,
            (false, FacesArg::All) => FaceSelection::All,
        },
        min_face: args.min_face,
        ..FaceOptions::default()
    };
    let paste = PasteOptions {
        upscale: args.upscale,
        ..PasteOptions::default()
    };
    let restored = restore_photo(
        restorer,
        &finder.detector,
        finder.mesh.as_ref(),
        &photo,
        &face_options,
        &paste,
        run,
        args.seed,
        &image.name,
        steps,
    )?;
    let faces_as = face_storage(args, &photo);
    let detector = finder.detector.kind().name();
    let mut failed = Vec::new();
    for (i, (face, r)) in restored.faces.iter().zip(&restored.restored).enumerate() {
        let suffix = format!("_{i:02}");
        save(
            &output_path(&args.output, CROPPED_FACES, &image.name, &suffix),
            &face.crop,
            faces_as,
            args,
        )?;
        match r {
            Ok(r) => {
                write_face_outputs(args, &image.name, &suffix, &face.crop, &r.face, faces_as)?;
                let entry = FaceEntry::new(&image.path, i, r);
                (report.faces).push(entry.in_photo(detector, finder.mask_name()));
            }
            Err(err) => failed.push(err.to_string()),
        }
    }
    (report.not_restored).extend(
        restored
            .dropped
            .iter()
            .map(|d| NotRestored::new(&image.path, d, detector)),
    );
    let final_path = output_path(&args.output, FINAL_RESULTS, &image.name, "");
    create_parent(&final_path)?;
    if restored.faces.is_empty() && args.upscale == 1 && is_png(&image.path) {
        // Nothing to change: the photo itself, byte for byte.
        let bytes = std::fs::read(&image.path)
            .with_context(|| format!("{}: cannot read", image.path.display()))?;
        write_atomically(&final_path, &bytes, args.overwrite)?;
    } else {
        // As the photo was stored: bit depth, alpha, and grey unless --colorize.
        let storage = Storage {
            grey: photo.is_grey() && !args.colorize,
            ..photo.storage()
        };
        save_image(
            &final_path,
            &restored.photo.rgb,
            restored.photo.alpha.as_ref(),
            storage,
            args.overwrite,
        )?;
    }
    Ok((restored.faces.len(), failed))
}

/// restored_faces/, and on request stage1_faces/ and cmp/, stored as `storage` says.
fn write_face_outputs(
    args: &Args,
    name: &str,
    suffix: &str,
    input: &Rgb32FImage,
    restored: &RestoredFace,
    storage: Storage,
) -> anyhow::Result<()> {
    save(
        &output_path(&args.output, RESTORED_FACES, name, suffix),
        &restored.output,
        storage,
        args,
    )?;
    if args.save_stage1 {
        save(
            &output_path(&args.output, STAGE1_FACES, name, suffix),
            &restored.stage1,
            storage,
            args,
        )?;
    }
    if args.save_cmp {
        let (w, h) = input.dimensions();
        let mut sheet = Rgb32FImage::new(2 * w, h);
        image::imageops::replace(&mut sheet, input, 0, 0);
        image::imageops::replace(&mut sheet, &restored.output, i64::from(w), 0);
        save(
            &output_path(&args.output, CMP, name, suffix),
            &sheet,
            storage,
            args,
        )?;
    }
    Ok(())
}

/// Prints a failure, naming the input unless the message already starts with it.
fn report_failure(input: &Path, err: &anyhow::Error) {
    let message = format!("{err:#}");
    if message.starts_with(&input.display().to_string()) {
        eprintln!("failed: {message}");
    } else {
        eprintln!("failed: {}: {message}", input.display());
    }
}

fn create_parent(path: &Path) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("{}: cannot create the folder", parent.display()))?;
    }
    Ok(())
}

fn save(path: &Path, image: &Rgb32FImage, storage: Storage, args: &Args) -> anyhow::Result<()> {
    create_parent(path)?;
    save_image(path, image, None, storage, args.overwrite)?;
    Ok(())
}

/// Whether the file at `path` is a PNG (by its content, not its name).
fn is_png(path: &Path) -> bool {
    let mut head = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok_and(|()| head == *b"\x89PNG\r\n\x1a\n")
}
