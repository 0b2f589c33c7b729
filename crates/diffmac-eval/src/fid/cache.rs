//! Caching a folder's Inception features, so FID against a fixed ground-truth set does not
//! recompute them: a safetensors file holding `features` `[N, 2048]` (f32), named by a key
//! of the folder's content (file names, sizes, modification times) and of the weights file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};

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
    let data: Vec<u8> = features
        .iter()
        .flat_map(|f| f.iter().flat_map(|v| v.to_le_bytes()))
        .collect();
    let bad = |reason: String| EvalError::BadFile {
        path: PathBuf::from("<feature cache>"),
        reason,
    };
    let view = TensorView::new(Dtype::F32, vec![features.len(), dim], &data)
        .map_err(|e| bad(e.to_string()))?;
    let map: HashMap<String, TensorView<'_>> = HashMap::from([("features".to_owned(), view)]);
    safetensors::serialize(&map, None).map_err(|e| bad(e.to_string()))
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
    let bad = |reason: String| EvalError::BadFile {
        path: path.to_owned(),
        reason,
    };
    let file = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
    let view = file.tensor("features").map_err(|e| bad(e.to_string()))?;
    if view.dtype() != Dtype::F32 || view.shape().len() != 2 || view.shape()[1] != dim {
        return Err(bad(format!(
            "features tensor is {:?} {:?}, expected F32 [N, {dim}]",
            view.dtype(),
            view.shape()
        )));
    }
    let values: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(Some(
        values.chunks_exact(dim).map(<[f32]>::to_vec).collect(),
    ))
}
