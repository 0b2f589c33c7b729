//! Atomic writes: a temporary file in the target folder, synced, then renamed into place, so a
//! crash never leaves a half-written file under the final name and an existing file is never
//! replaced unless the caller says so.

use std::io::Write;
use std::path::Path;

use crate::error::{IoError, Result};

/// Writes `bytes` to `path` atomically. Refuses to replace an existing file unless `overwrite`.
pub fn write_atomically(path: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    write_atomically_with(path, overwrite, |out| {
        out.write_all(bytes).map_err(|source| IoError::Io {
            path: path.to_owned(),
            source,
        })
    })
}

/// Writes a file atomically from what `fill` writes into it, for files too large to hold in
/// memory (a model's weights, written one tensor at a time). `fill` gets a buffered writer
/// into the temporary file; if it fails, the temporary file is removed and `path` is left as
/// it was. Refuses to replace an existing file unless `overwrite`.
pub fn write_atomically_with(
    path: &Path,
    overwrite: bool,
    fill: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
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
    let tmp = builder.tempfile_in(dir).map_err(io_err)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, tmp);
    fill(&mut out)?;
    let tmp = out.into_inner().map_err(|e| io_err(e.into_error()))?;
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
