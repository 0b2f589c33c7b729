//! Caching a folder's Inception features, so FID against a fixed ground-truth set does not
//! recompute them: a safetensors file holding `features` `[N, 2048]` (f32), named by a key
//! of the folder's content (file names, sizes, modification times) and of the weights file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::TensorData;
use diffmac_io::{SafetensorsFile, safetensors_bytes};

use crate::error::{EvalError, Result};

/// FNV-1a (64-bit) over bytes.
fn fnv1a64(bytes: &[u8], mut h: u64) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A hex key of `files` (names, sizes, modification times, in the given order) and of the
/// weights file (name and size): any change to the folder or the network gives a new key.
pub fn content_key(files: &[PathBuf], weights: &Path) -> Result<String> {
    let mut h = 0xcbf2_9ce4_8422_2325_u64;
    for path in files
        .iter()
        .map(PathBuf::as_path)
        .chain(std::iter::once(weights))
    {
        let meta = std::fs::metadata(path).map_err(|source| EvalError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        h = fnv1a64(name.as_bytes(), h);
        h = fnv1a64(&meta.len().to_le_bytes(), h);
        h = fnv1a64(&mtime.to_le_bytes(), h);
    }
    Ok(format!("{h:016x}"))
}

/// The features as safetensors bytes (`features`: `[N, D]` f32).
pub fn features_to_bytes(features: &[Vec<f32>]) -> Result<Vec<u8>> {
    let dim = features.first().map_or(0, Vec::len);
    if let Some(f) = features.iter().find(|f| f.len() != dim) {
        return Err(EvalError::BadFile {
            path: PathBuf::from("<feature cache>"),
            reason: format!("a feature vector has {} values, the first {dim}", f.len()),
        });
    }
    let data: Vec<f32> = features.concat();
    let tensors = BTreeMap::from([(
        "features".to_owned(),
        TensorData::new(data, [features.len(), dim]),
    )]);
    Ok(safetensors_bytes(&tensors, &BTreeMap::new())?)
}

/// Reads a cache file written from [`features_to_bytes`]; `None` when it does not exist.
pub fn load_features(path: &Path, dim: usize) -> Result<Option<Vec<Vec<f32>>>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(EvalError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let file = SafetensorsFile::from_bytes(path, bytes)?;
    let rows = match file.shape("features") {
        Some(&[rows, d]) if d == dim => rows,
        shape => {
            return Err(EvalError::BadFile {
                path: path.to_owned(),
                reason: format!("features tensor has shape {shape:?}, expected [N, {dim}]"),
            });
        }
    };
    let values = file.f32_values("features", &[rows, dim])?;
    Ok(Some(
        values.chunks_exact(dim).map(<[f32]>::to_vec).collect(),
    ))
}

/// The cache file of `files` (one folder's images) in `dir`:
/// `fid-features-<folder name>-<content key>.safetensors`, the key from [`content_key`] of the
/// files and the weights. `None` for an empty set.
pub fn cache_file(dir: &Path, files: &[PathBuf], weights: &Path) -> Result<Option<PathBuf>> {
    let Some(folder) = files.first().and_then(|f| f.parent()) else {
        return Ok(None);
    };
    let name = folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "folder".to_owned());
    let key = content_key(files, weights)?;
    Ok(Some(
        dir.join(format!("fid-features-{name}-{key}.safetensors")),
    ))
}
