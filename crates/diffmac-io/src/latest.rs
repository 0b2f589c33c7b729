//! `latest` pointer files: a training run writes `checkpoints/step-…/` folders and a
//! `checkpoints/latest` file naming the newest, so that a user can point at the run rather
//! than at one step.

use std::path::{Path, PathBuf};

use crate::error::{IoError, Result};

/// The name of the pointer file.
pub const LATEST_FILE: &str = "latest";

/// The folder `path` means, for folders recognised by holding `marker` (a checkpoint's
/// `state.json`): `path` itself when it holds `marker`; the folder named by `path` when it is a
/// `latest` file; the one named by `path/latest`; or by `path/checkpoints/latest` (a run folder).
///
/// # Errors
/// [`IoError::Io`] for an unreadable pointer, [`IoError::NotFound`] when `path` is none of
/// these or a pointer names a folder without `marker` (an incomplete or removed one).
pub fn resolve_latest(path: &Path, marker: &str) -> Result<PathBuf> {
    if path.join(marker).is_file() {
        return Ok(path.to_path_buf());
    }
    let pointer = [
        path.to_path_buf(),
        path.join(LATEST_FILE),
        path.join("checkpoints").join(LATEST_FILE),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .ok_or_else(|| IoError::NotFound {
        path: path.to_path_buf(),
        what: format!(
            "neither a folder with {marker} nor a run or checkpoints folder with a `{LATEST_FILE}` file"
        ),
    })?;
    let name = std::fs::read_to_string(&pointer).map_err(|e| IoError::io(&pointer, e))?;
    let folder = pointer.parent().unwrap_or(Path::new(".")).join(name.trim());
    if folder.join(marker).is_file() {
        Ok(folder)
    } else {
        Err(IoError::NotFound {
            path: pointer,
            what: format!("names {}, which has no {marker}", folder.display()),
        })
    }
}
