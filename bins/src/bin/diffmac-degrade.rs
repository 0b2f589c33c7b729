//! `diffmac-degrade`: synthesises low-quality faces from high-quality ones with DiffMAC's
//! degradation model (paper eq. 14), writing `<stem>.png` and `<stem>.json` (the drawn
//! parameters) per input. Exit code 0 when every image succeeded, 1 when some failed, 2 on a
//! usage error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::bail;
use clap::Parser;
use diffmac::degrade::DegradationConfig;
use diffmac::degrade::job::{JobOptions, run_job};
use diffmac::io::DEFAULT_MAX_PIXELS;
use diffmac::io::collect_inputs;
use diffmac_cli::{exit_code, init_logging, progress_bar, set_worker_threads};

/// Degrade high-quality face images with DiffMAC's synthetic pipeline (eq. 14): Gaussian blur,
/// down-sampling, Gaussian noise, JPEG compression, up-sampling back.
#[derive(Debug, Parser)]
#[command(
    version,
    override_usage = "diffmac-degrade --input FILE|DIR --output DIR [--seed N] [--config FILE] [--size 512] [OPTIONS]",
    after_help = "Example: diffmac-degrade --input examples/faces --output out/degraded --seed 7"
)]
struct Args {
    /// An image file or a folder of images (not recursive).
    #[arg(long, short, required_unless_present = "print_config")]
    input: Option<PathBuf>,
    /// Output folder for <stem>.png and <stem>.json; created if missing, never the input folder.
    #[arg(long, short, required_unless_present = "print_config")]
    output: Option<PathBuf>,
    /// Run seed; the same seed and input give byte-identical output.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// JSON file with ranges and probabilities (missing fields keep the paper's defaults).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Side of the square high-quality image (inputs are centre-cropped and shrunk to it).
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=16384))]
    size: u32,
    /// Replace existing outputs instead of refusing.
    #[arg(long)]
    overwrite: bool,
    /// Refuse images with more pixels than this.
    #[arg(long, default_value_t = DEFAULT_MAX_PIXELS)]
    max_pixels: u64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print the config in force (the defaults, or --config's) as JSON and exit.
    #[arg(long)]
    print_config: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// Log each image's parameters.
    #[arg(long, short)]
    verbose: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.verbose);
    exit_code(run(&args))
}

/// Runs the batch; `Ok(false)` when some images failed.
fn run(args: &Args) -> anyhow::Result<bool> {
    let config = match &args.config {
        Some(path) => DegradationConfig::from_json_file(path)?,
        None => DegradationConfig::default(),
    };
    let (Some(input), Some(output), false) = (&args.input, &args.output, args.print_config) else {
        println!("{}", serde_json::to_string_pretty(&config)?);
        return Ok(true);
    };
    set_worker_threads(args.threads)?;
    let inputs = collect_inputs(input)?;
    for skipped in &inputs.skipped {
        eprintln!("skipped {}: not an image file extension", skipped.display());
    }
    if inputs.images.is_empty() {
        bail!("{}: no image files found", input.display());
    }
    let options = JobOptions {
        output_dir: output.clone(),
        seed: args.seed,
        config,
        size: args.size,
        overwrite: args.overwrite,
        max_pixels: args.max_pixels,
    };

    let start = Instant::now();
    let bar = progress_bar(inputs.images.len() as u64, args.quiet);
    let results = run_job(&inputs.images, &options, |input, result| {
        match result {
            Ok(done) => tracing::info!(input = %input.display(), params = ?done.params, "degraded"),
            // Name the input unless the message already starts with it.
            Err(err) if err.path() == Some(input) => bar.suspend(|| eprintln!("failed: {err}")),
            Err(err) => bar.suspend(|| eprintln!("failed: {}: {err}", input.display())),
        }
        bar.inc(1);
    })?;
    bar.finish_and_clear();

    let failed = results.iter().filter(|r| r.is_err()).count();
    let done = results.len() - failed;
    eprintln!(
        "degraded {done} of {} images into {} in {:.1} s (seed {}, {} failed, {} skipped)",
        results.len(),
        output.display(),
        start.elapsed().as_secs_f64(),
        args.seed,
        failed,
        inputs.skipped.len()
    );
    Ok(failed == 0)
}
