//! Views of a safetensors file under other names: a single-file Stable Diffusion checkpoint
//! read as three diffusers-layout files without copying a tensor into memory.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::SafetensorsFile;
use super::header::Entry;
use crate::error::{IoError, Result};

/// One tensor of a [`SafetensorsFile::view`]: a stored tensor under a new key, whole or one
/// of equal parts along its first dimension, optionally with a new shape of as many elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorView {
    key: String,
    from: String,
    part: Option<(usize, usize)>,
    shape: Option<Vec<usize>>,
}

impl TensorView {
    /// Stored tensor `from`, seen as `key`.
    pub fn new(key: impl Into<String>, from: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            from: from.into(),
            part: None,
            shape: None,
        }
    }

    /// Only part `index` of `parts` equal parts along the first dimension (a fused
    /// query/key/value projection seen as three).
    #[must_use]
    pub fn part(mut self, index: usize, parts: usize) -> Self {
        self.part = Some((index, parts));
        self
    }

    /// Seen with `shape`, which must hold as many elements (a 1×1 convolution's weight seen
    /// as a linear layer's).
    #[must_use]
    pub fn reshaped(mut self, shape: Vec<usize>) -> Self {
        self.shape = Some(shape);
        self
    }
}

impl SafetensorsFile {
    /// A file holding the tensors `tensors` describes, each read from this file's bytes when
    /// asked for (nothing is copied now); `label` names it in messages, e.g.
    /// `model.safetensors (unet)`.
    ///
    /// # Errors
    /// [`IoError::MissingTensor`] for a `from` this file lacks, [`IoError::TensorMismatch`]
    /// for a part or shape that does not fit the stored tensor, [`IoError::Safetensors`] for
    /// a key named twice.
    pub fn view(
        &self,
        label: impl Into<PathBuf>,
        tensors: impl IntoIterator<Item = TensorView>,
    ) -> Result<SafetensorsFile> {
        let label = label.into();
        let mut entries = BTreeMap::new();
        for view in tensors {
            let entry = self.view_entry(&view)?;
            if entries.insert(view.key.clone(), entry).is_some() {
                return Err(IoError::Safetensors {
                    path: label,
                    message: format!("the view names tensor `{}` twice", view.key),
                });
            }
        }
        Ok(SafetensorsFile {
            path: label,
            source: self.source.clone(),
            len: self.len,
            data_start: self.data_start,
            entries,
            metadata: BTreeMap::new(),
        })
    }

    /// The header entry of one view of a stored tensor, checked against it.
    fn view_entry(&self, view: &TensorView) -> Result<Entry> {
        let stored = self.entry(&view.from)?;
        let mismatch = |problem: String| self.tensor_error(&view.from, problem);
        let mut entry = stored.clone();
        if let Some((index, parts)) = view.part {
            let rows = stored.shape.first().copied().unwrap_or(0);
            if parts == 0 || index >= parts || rows % parts != 0 {
                return Err(mismatch(format!(
                    "shape {:?} has no part {index} of {parts} along its first dimension",
                    stored.shape
                )));
            }
            let bytes = stored.len() / parts;
            entry.start = stored.start + index * bytes;
            entry.end = entry.start + bytes;
            entry.shape[0] = rows / parts;
        }
        if let Some(shape) = &view.shape {
            let count = |s: &[usize]| s.iter().product::<usize>();
            if count(shape) != count(&entry.shape) {
                return Err(mismatch(format!(
                    "shape {:?} cannot be seen as {shape:?}",
                    entry.shape
                )));
            }
            entry.shape = shape.clone();
        }
        Ok(entry)
    }
}
