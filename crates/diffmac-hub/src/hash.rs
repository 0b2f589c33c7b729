//! Hashing a local file the way the hub identifies its content ([`ContentHash`]).

use std::io::Read;
use std::path::Path;

use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::error::{HubError, Result};
use crate::listing::ContentHash;

/// The hash of the file at `path` in the algorithm of `like` (SHA-256, or git's blob SHA-1),
/// lower-case hex.
///
/// # Errors
/// [`HubError::Io`] if the file cannot be read.
pub fn hash_file(path: &Path, like: &ContentHash) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| HubError::io(path, e))?;
    let len = file.metadata().map_err(|e| HubError::io(path, e))?.len();
    match like {
        ContentHash::Sha256(_) => digest_rest(&mut file, path, Sha256::new()),
        ContentHash::GitSha1(_) => {
            let mut hasher = Sha1::new();
            hasher.update(format!("blob {len}\0").as_bytes());
            digest_rest(&mut file, path, hasher)
        }
    }
}

fn digest_rest(file: &mut std::fs::File, path: &Path, mut hasher: impl Digest) -> Result<String> {
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(|e| HubError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello\n").unwrap();
        // `printf 'hello\n' | sha256sum` and `git hash-object`.
        assert_eq!(
            hash_file(&path, &ContentHash::Sha256(String::new())).unwrap(),
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
        assert_eq!(
            hash_file(&path, &ContentHash::GitSha1(String::new())).unwrap(),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
    }
}
