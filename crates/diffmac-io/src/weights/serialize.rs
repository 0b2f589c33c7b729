//! Writing safetensors files: from tensors in memory ([`save_safetensors`],
//! [`safetensors_bytes`]), or from another file one tensor at a time
//! ([`SafetensorsFile::save`]), so that re-writing a model's weights never holds the model.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use burn::tensor::TensorData;

use super::SafetensorsFile;
use super::header::{dtype_name, header_bytes};
use crate::error::{IoError, Result};
use crate::write::{write_atomically, write_atomically_with};

/// Serialises tensors in the safetensors format (keys sorted, little-endian data);
/// `path` is only used in error messages.
pub(super) fn serialize(
    path: &Path,
    tensors: &BTreeMap<String, TensorData>,
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let mut described = Vec::with_capacity(tensors.len());
    for (key, data) in tensors {
        let name = dtype_name(data.dtype).ok_or_else(|| IoError::UnsupportedDtype {
            path: path.to_path_buf(),
            key: key.clone(),
            dtype: format!("{:?}", data.dtype),
        })?;
        described.push((
            key.as_str(),
            name,
            data.shape.as_slice(),
            data.as_bytes().len(),
        ));
    }
    let mut bytes = header_bytes(described, metadata);
    for data in tensors.values() {
        bytes.extend_from_slice(data.as_bytes());
    }
    Ok(bytes)
}

/// `tensors` as the bytes of a safetensors file (keys sorted, little-endian data), with an
/// optional `__metadata__` map.
///
/// # Errors
/// [`IoError::UnsupportedDtype`] for an element type safetensors cannot hold here.
pub fn safetensors_bytes(
    tensors: &BTreeMap<String, TensorData>,
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    serialize(Path::new("<memory>"), tensors, metadata)
}

/// Writes tensors as a safetensors file, atomically (replacing an existing file).
///
/// # Errors
/// [`IoError::Io`] if the file cannot be written, [`IoError::UnsupportedDtype`] for an
/// element type safetensors cannot hold here.
pub fn save_safetensors(
    path: impl AsRef<Path>,
    tensors: &BTreeMap<String, TensorData>,
) -> Result<()> {
    let path = path.as_ref();
    let bytes = serialize(path, tensors, &BTreeMap::new())?;
    write_atomically(path, &bytes, true)
}

impl SafetensorsFile {
    /// Writes every tensor of this file (or [view](SafetensorsFile::view)) to `path` as
    /// stored, keys sorted, atomically (replacing an existing file): one tensor is read and
    /// written at a time, so memory holds the largest tensor, never the whole file. The
    /// metadata map is written too.
    ///
    /// # Errors
    /// [`IoError::Io`] naming this file if a tensor cannot be read, or `path` if it cannot
    /// be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let described = self.entries.iter().map(|(key, e)| {
            (
                key.as_str(),
                e.dtype_name.as_str(),
                e.shape.as_slice(),
                e.len(),
            )
        });
        let header = header_bytes(described, &self.metadata);
        let io = |source| IoError::io(path, source);
        write_atomically_with(path, true, |out: &mut dyn Write| {
            out.write_all(&header).map_err(io)?;
            for e in self.entries.values() {
                out.write_all(&self.raw(e)?).map_err(io)?;
            }
            Ok(())
        })
    }
}
