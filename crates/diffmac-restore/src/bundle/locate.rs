//! Where the restorer finds its model: `--model DIR`, else `$DIFFMAC_MODEL`, else the default
//! folder of the user's data directory.

use std::path::{Path, PathBuf};

use crate::bundle::config::CONFIG_FILE;
use crate::error::{RestoreError, Result};

/// Environment variable naming the model folder.
pub const MODEL_ENV: &str = "DIFFMAC_MODEL";

/// The default model folder: `$XDG_DATA_HOME/diffmac/model`, or
/// `~/.local/share/diffmac/model` (`%APPDATA%\diffmac\model` on Windows).
pub fn default_model_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let base = env("XDG_DATA_HOME")
        .or_else(|| env("HOME").map(|h| h.join(".local").join("share")))
        .or_else(|| env("APPDATA"))?;
    Some(base.join("diffmac").join("model"))
}

/// The model folder to use: `explicit` if given, else [`MODEL_ENV`], else
/// [`default_model_dir`]. The folder must hold a `config.json`.
///
/// # Errors
/// [`RestoreError::NoModel`] saying where it looked and how to get a model.
pub fn resolve_model_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    let (dir, how) = if let Some(d) = explicit {
        (Some(d.to_path_buf()), "--model")
    } else if let Some(d) = std::env::var_os(MODEL_ENV).filter(|v| !v.is_empty()) {
        (Some(PathBuf::from(d)), MODEL_ENV)
    } else {
        (default_model_dir(), "the default location")
    };
    match dir {
        Some(d) if d.join(CONFIG_FILE).is_file() => Ok(d),
        found => {
            let place = found
                .map(|d| format!("{} (from {how})", d.display()))
                .unwrap_or_else(|| "nowhere (no home folder is set)".into());
            Err(RestoreError::NoModel(format!(
                "no DiffMAC model found: looked in {place}, which has no {CONFIG_FILE}.\n\
                 Get one of these:\n  \
                 - a tiny random-weight model to try the tools (restores nothing): \
                 `diffmac-convert tiny --output DIR`\n  \
                 - a real one from Stable Diffusion 2.1-base and trained stages: \
                 `diffmac-convert sd --sd SD_DIR_OR_FILE --output DIR`, then \
                 `diffmac-convert merge --model DIR --checkpoint RUN/checkpoints/...` \
                 (stages come from `diffmac-train`, see docs/training.md)\n\
                 and pass it with --model DIR or {MODEL_ENV}=DIR"
            )))
        }
    }
}
