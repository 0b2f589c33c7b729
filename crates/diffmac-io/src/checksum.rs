//! SHA-256 checksums of files, streamed: how a weight file is recognised whatever its name or
//! folder (a merged UNet, a downloaded checkpoint).

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{IoError, Result};

/// The SHA-256 of the file at `path`, as 64 lower-case hex digits; read in 1 MiB pieces, so
/// a file of any size is hashed in constant memory.
///
/// # Errors
/// [`IoError::Io`] naming the file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| IoError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(|e| IoError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// The SHA-256 of `bytes`, as 64 lower-case hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex digits of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
