//! Shared plumbing of the diffmac command-line tools: logging set-up, progress bars, exit
//! codes and the model downloads of `diffmac-convert` ([`download`]), so each binary stays a
//! thin layer of argument parsing over the library crates. What a tool does lives in its
//! library crate (e.g. `diffmac::restore::run` and `diffmac::restore::report` for
//! `diffmac-restore`, `diffmac::degrade::job` for `diffmac-degrade`).

pub mod bench;
pub mod download;

use std::process::ExitCode;
use std::str::FromStr;

use clap::builder::{PossibleValuesParser, RangedU64ValueParser, TypedValueParser};
use indicatif::{ProgressBar, ProgressStyle};

/// Logs to stderr; `RUST_LOG` overrides the level (default: `warn`, or `info` when `verbose`).
pub fn init_logging(verbose: bool) {
    let default = if verbose { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// On a `cuda` build whose kernel cache is still empty, says on stderr why the first run is
/// slow: burn-cuda compiles and autotunes every kernel the first time it needs it (many
/// minutes for full-size models) and keeps them in `diffmac::backend::kernel_cache_dir` for
/// later runs. Silent on CPU builds and once the cache holds anything.
pub fn note_gpu_first_run() {
    if !cfg!(feature = "cuda") {
        return;
    }
    let Some(dir) = diffmac::backend::kernel_cache_dir() else {
        return;
    };
    let empty = std::fs::read_dir(&dir).map_or(true, |mut entries| entries.next().is_none());
    if empty {
        eprintln!(
            "note: first GPU run with this kernel cache: kernels are compiled and autotuned as \
             they are first needed (many minutes for full-size models) and kept in {} for later \
             runs",
            dir.display()
        );
    }
}

/// A progress bar on stderr for `len` items; hidden when `quiet` or when stderr is no terminal.
pub fn progress_bar(len: u64, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {msg} (eta {eta})",
        )
        .expect("valid template"),
    );
    bar
}

/// The tools' exit codes: 0 when every input succeeded (`Ok(true)`), 1 when some failed and
/// the rest were processed (`Ok(false)`), 2 for a usage error, which is printed first.
pub fn exit_code(outcome: anyhow::Result<bool>) -> ExitCode {
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            eprintln!("error: {}", error_message(&err));
            ExitCode::from(2)
        }
    }
}

/// A flag parsed by a library type's `FromStr`, offering `names`: --help and errors list them
/// as they do for clap's value enums, and the libraries need no clap.
pub fn one_of<T>(names: &'static [&'static str]) -> impl TypedValueParser<Value = T>
where
    T: FromStr + Clone + Send + Sync + 'static,
    T::Err: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    PossibleValuesParser::new(names.iter().copied()).try_map(|name| name.parse::<T>())
}

/// A count flag from 1 to `max`.
pub fn count(max: u64) -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(1..=max)
}

/// The tools' `--precision` flag (`f32`, `f16`, `bf16`): the float type of the model's weights
/// and activations, the same type as the trainer's `precision` setting. Its `Debug` form
/// (`F32`, `F16`, `Bf16`) is what the tools print.
pub use diffmac::io::Precision;

/// Sizes the global worker pool that the libraries' parallel loops run on (`--threads`);
/// `None` keeps rayon's default of one thread per core. Call it once, before any parallel
/// work: the pool cannot be resized later.
///
/// # Errors
/// The pool was already started, or its threads cannot be spawned.
pub fn set_worker_threads(threads: Option<usize>) -> anyhow::Result<()> {
    if let Some(threads) = threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .build_global()
            .map_err(|e| anyhow::anyhow!("cannot start the worker threads: {e}"))?;
    }
    Ok(())
}

/// An error and its causes on one line, each cause once: the libraries' errors already name
/// their cause (`model.safetensors: No such file or directory`), so a cause whose text the
/// message holds is not repeated.
pub fn error_message(err: &anyhow::Error) -> String {
    let mut message = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            message = format!("{message}: {cause}");
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::error_message;

    #[test]
    fn a_cause_the_message_already_names_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let named = diffmac::io::IoError::io(std::path::Path::new("w.safetensors"), io);
        let err = anyhow::Error::new(named);
        assert_eq!(error_message(&err), "w.safetensors: no such file");
        // A context whose text does not hold the cause keeps it.
        let err = anyhow::Error::msg("disk full").context("writing the report");
        assert_eq!(error_message(&err), "writing the report: disk full");
    }
}
