//! Atomic writes: a temporary file in the target folder, synced, then renamed into place, so a
//! crash never leaves a half-written file under the final name and an existing file is never
//! replaced unless the caller says so.

use std::io::Write;
use std::path::Path;

use crate::error::{IoError, Result};

/// Writes `bytes` to `path` atomically. Refuses to replace an existing file unless `overwrite`.
pub fn write_atomically(path: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    let io_err = |source| IoError::Io {
        path: path.to_owned(),
        source,
    };
    if !overwrite && path.exists() {
        return Err(IoError::OutputExists {
            path: path.to_owned(),
        });
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(".diffmac-").suffix(".tmp");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut tmp = builder.tempfile_in(dir).map_err(io_err)?;
    tmp.write_all(bytes).map_err(io_err)?;
    tmp.as_file().sync_all().map_err(io_err)?;
    if overwrite {
        tmp.persist(path).map_err(|e| io_err(e.error))?;
    } else {
        // persist_noclobber fails instead of replacing a file that appeared meanwhile.
        tmp.persist_noclobber(path)
            .map_err(|e| match e.error.kind() {
                std::io::ErrorKind::AlreadyExists => IoError::OutputExists {
                    path: path.to_owned(),
                },
                _ => io_err(e.error),
            })?;
    }
    Ok(())
}
