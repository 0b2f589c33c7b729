//! Weight files: the workspace's one safetensors reader and writer.
//!
//! [`SafetensorsFile`] parses the header itself (a length-prefixed JSON object) and checks
//! every entry against the file's length, so that a truncated download or a corrupt header is
//! reported with the file and the tensor it breaks at, before any tensor is read. Tensors are
//! looked up by their original state-dict key (`down_blocks.0.resnets.1.conv1.weight`,
//! `prelu1.weight`), so real checkpoints load without a renaming table.
//!
//! Files are written atomically ([`save_safetensors`]), keys sorted, data little-endian; a
//! file, or a [view](SafetensorsFile::view) of one under other names (a single-file SD
//! checkpoint's UNet in diffusers keys), is re-written tensor by tensor
//! ([`SafetensorsFile::save`]).
//!
//! The layers of networks built by hand from PyTorch state dicts (convolutions, linear and
//! PReLU layers) are read by one loader each: [`SafetensorsFile::conv2d`] with a
//! [`Conv2dSpec`], [`SafetensorsFile::linear`] and [`SafetensorsFile::prelu`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Device, FloatDType, Tensor, TensorData};

use crate::error::{IoError, Result};

mod finite;
mod header;
mod layers;
mod serialize;
mod view;

pub use finite::first_non_finite;
use finite::non_finite_in;
use header::{Entry, MAX_HEADER_BYTES, parse_header};
pub use layers::Conv2dSpec;
pub use serialize::{safetensors_bytes, save_safetensors};
pub use view::TensorView;

/// Where a file's tensor bytes are.
enum Source {
    /// All of them in memory: owned, or borrowed for the whole program (weights compiled into
    /// a crate with `include_bytes!`, never copied).
    Memory(Cow<'static, [u8]>),
    /// On disk, read one tensor at a time when asked for: loading a model then holds the model
    /// and one tensor, not the model and a copy of the whole file.
    Disk(std::fs::File),
}

/// A safetensors file with its header checked against its length. Cloning copies the
/// header only: the clones read the same bytes.
#[derive(Clone)]
pub struct SafetensorsFile {
    path: PathBuf,
    /// Shared with the file's [views](SafetensorsFile::view).
    source: Arc<Source>,
    len: u64,
    data_start: usize,
    entries: BTreeMap<String, Entry>,
    metadata: BTreeMap<String, String>,
}

impl std::fmt::Debug for SafetensorsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafetensorsFile")
            .field("path", &self.path)
            .field("tensors", &self.entries.len())
            .field("bytes", &self.len)
            .finish()
    }
}

/// Bytes read at a time by [`SafetensorsFile::check_finite`]: a multiple of every element
/// size.
const CHECK_BLOCK: usize = 4 << 20;

/// Reads exactly `buf.len()` bytes of `file` from `offset`.
#[cfg(unix)]
fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

/// Reads exactly `buf.len()` bytes of `file` from `offset`.
#[cfg(windows)]
fn read_at(file: &std::fs::File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

impl SafetensorsFile {
    /// Reads and validates a safetensors file.
    ///
    /// # Errors
    /// [`IoError::Io`] if it cannot be read, [`IoError::Safetensors`] if the header is
    /// malformed or the data is shorter than the header says (a truncated download).
    ///
    /// Only the header is read here; each tensor is read from the file when it is asked for.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let io = |source| IoError::io(&path, source);
        let file = std::fs::File::open(&path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let bad = |message: String| IoError::Safetensors {
            path: path.clone(),
            message,
        };
        if len < 8 {
            return Err(bad(format!(
                "file has {len} bytes, shorter than the 8-byte header length"
            )));
        }
        let mut len8 = [0u8; 8];
        read_at(&file, &mut len8, 0).map_err(io)?;
        let header_len = u64::from_le_bytes(len8);
        if header_len > len - 8 {
            return Err(bad(format!(
                "header claims {header_len} bytes but the file has {len} (truncated?)"
            )));
        }
        if header_len > MAX_HEADER_BYTES {
            return Err(bad(format!(
                "header claims {header_len} bytes, more than the {MAX_HEADER_BYTES} a \
                 safetensors header may have"
            )));
        }
        let mut header = vec![0u8; header_len as usize];
        read_at(&file, &mut header, 8).map_err(io)?;
        let data_len = usize::try_from(len - 8 - header_len)
            .map_err(|_| bad(format!("file of {len} bytes is too large for this machine")))?;
        let (entries, metadata) = parse_header(&path, &header, data_len)?;
        Ok(Self {
            path,
            source: Arc::new(Source::Disk(file)),
            len,
            data_start: 8 + header_len as usize,
            entries,
            metadata,
        })
    }

    /// Validates safetensors bytes, owned (`Vec<u8>`) or built in (`&'static [u8]`); `path`
    /// only names the source in messages (`<built-in>/pnet.safetensors`, say).
    ///
    /// # Errors
    /// [`IoError::Safetensors`] if the header is malformed or the data is incomplete,
    /// [`IoError::UnsupportedDtype`] for an element type this reader does not know.
    pub fn from_bytes(
        path: impl Into<PathBuf>,
        bytes: impl Into<Cow<'static, [u8]>>,
    ) -> Result<Self> {
        let path = path.into();
        let bytes = bytes.into();
        let bad = |message: String| IoError::Safetensors {
            path: path.clone(),
            message,
        };
        if bytes.len() < 8 {
            return Err(bad(format!(
                "file has {} bytes, shorter than the 8-byte header length",
                bytes.len()
            )));
        }
        let mut len8 = [0u8; 8];
        len8.copy_from_slice(&bytes[..8]);
        let header_len = u64::from_le_bytes(len8);
        let data_start = 8u64
            .checked_add(header_len)
            .filter(|&end| end <= bytes.len() as u64)
            .ok_or_else(|| {
                bad(format!(
                    "header claims {header_len} bytes but the file has {} (truncated?)",
                    bytes.len()
                ))
            })? as usize;
        let data_len = bytes.len() - data_start;
        let (entries, metadata) = parse_header(&path, &bytes[8..data_start], data_len)?;
        Ok(Self {
            path,
            len: bytes.len() as u64,
            source: Arc::new(Source::Memory(bytes)),
            data_start,
            entries,
            metadata,
        })
    }

    /// An in-memory file holding `tensors`; `label` stands for its path in messages.
    ///
    /// # Errors
    /// [`IoError::UnsupportedDtype`] for an element type safetensors cannot hold here.
    pub fn from_tensors(label: PathBuf, tensors: &BTreeMap<String, TensorData>) -> Result<Self> {
        let bytes = serialize::serialize(&label, tensors, &BTreeMap::new())?;
        Self::from_bytes(label, bytes)
    }

    /// The file's path (or the label it was given).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// All tensor keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The shape of a tensor, if the file has it.
    pub fn shape(&self, key: &str) -> Option<&[usize]> {
        self.entries.get(key).map(|e| e.shape.as_slice())
    }

    /// A value of the header's `__metadata__` map (all strings in safetensors).
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    /// The stored bytes of one tensor: borrowed from memory, or read from the file.
    fn raw(&self, e: &Entry) -> Result<Cow<'_, [u8]>> {
        let (start, end) = (self.data_start + e.start, self.data_start + e.end);
        match self.source.as_ref() {
            Source::Memory(bytes) => Ok(Cow::Borrowed(&bytes[start..end])),
            Source::Disk(file) => {
                let mut buf = vec![0u8; end - start];
                read_at(file, &mut buf, start as u64)
                    .map_err(|source| IoError::io(&self.path, source))?;
                Ok(Cow::Owned(buf))
            }
        }
    }

    fn entry(&self, key: &str) -> Result<&Entry> {
        self.entries.get(key).ok_or_else(|| IoError::MissingTensor {
            path: self.path.clone(),
            key: key.to_string(),
        })
    }

    /// An error about tensor `key` of this file (naming both), for readers that check more
    /// than shapes (a variance that must not be negative, say).
    pub fn tensor_error(&self, key: &str, problem: impl Into<String>) -> IoError {
        IoError::TensorMismatch {
            path: self.path.clone(),
            key: key.to_string(),
            problem: problem.into(),
        }
    }

    /// Checks every float tensor for NaN and infinities, on the stored bytes (no conversion):
    /// a model with one such weight computes nothing but NaN, which must be caught when it is
    /// loaded rather than pasted over a face. A file on disk is read in blocks of 4 MiB
    /// (`CHECK_BLOCK`) through one buffer, so the check allocates nothing per tensor.
    ///
    /// # Errors
    /// [`IoError::NonFinite`] naming the first such tensor and the index in it.
    pub fn check_finite(&self) -> Result<()> {
        let mut buffer = Vec::new();
        for (key, e) in &self.entries {
            if !e.dtype.is_float() {
                continue;
            }
            let size = e.dtype.size();
            let mut checked = 0;
            while checked < e.len() {
                let block = (e.len() - checked).min(CHECK_BLOCK);
                let offset = (self.data_start + e.start + checked) as u64;
                let bytes: &[u8] = match self.source.as_ref() {
                    Source::Memory(all) => &all[offset as usize..][..block],
                    Source::Disk(file) => {
                        buffer.resize(block, 0);
                        read_at(file, &mut buffer, offset)
                            .map_err(|source| IoError::io(&self.path, source))?;
                        &buffer
                    }
                };
                if let Some(index) = non_finite_in(bytes, e.dtype) {
                    return Err(IoError::NonFinite {
                        path: self.path.clone(),
                        key: key.clone(),
                        index: checked / size + index,
                    });
                }
                checked += block;
            }
        }
        Ok(())
    }

    /// A tensor's data as stored in the file (no conversion; `BOOL` reads as `U8`).
    ///
    /// # Errors
    /// [`IoError::MissingTensor`] if the file has no such tensor.
    pub fn data(&self, key: &str) -> Result<TensorData> {
        let e = self.entry(key)?;
        let raw = self.raw(e)?.into_owned();
        Ok(TensorData::from_bytes_vec(raw, e.shape.clone(), e.dtype))
    }

    /// A float tensor's data converted to `dtype`, on the host.
    ///
    /// # Errors
    /// [`IoError::MissingTensor`], or [`IoError::UnsupportedDtype`] for a non-float tensor.
    pub fn float_data(&self, key: &str, dtype: FloatDType) -> Result<TensorData> {
        let e = self.entry(key)?;
        if !e.dtype.is_float() {
            return Err(IoError::UnsupportedDtype {
                path: self.path.clone(),
                key: key.to_string(),
                dtype: e.dtype_name.clone(),
            });
        }
        Ok(self.data(key)?.convert_dtype(dtype.into()))
    }

    /// Reads a float tensor of any rank-`D` shape as `dtype` on `device`.
    ///
    /// # Errors
    /// [`IoError::MissingTensor`], [`IoError::TensorMismatch`] (another rank) or
    /// [`IoError::UnsupportedDtype`] (a non-float tensor).
    pub fn float_tensor<B: Backend, const D: usize>(
        &self,
        key: &str,
        device: &Device<B>,
        dtype: FloatDType,
    ) -> Result<Tensor<B, D>> {
        let e = self.entry(key)?;
        if e.shape.len() != D {
            return Err(self.tensor_error(
                key,
                format!(
                    "shape {:?} has rank {}, expected rank {D}",
                    e.shape,
                    e.shape.len()
                ),
            ));
        }
        let target: DType = dtype.into();
        Ok(Tensor::from_data(
            self.float_data(key, dtype)?,
            (device, target),
        ))
    }

    /// The values of tensor `key` as f32, which must be stored as F32 with exactly `shape`:
    /// for small networks whose layers are built by hand.
    ///
    /// # Errors
    /// [`IoError::MissingTensor`], or [`IoError::TensorMismatch`] for another dtype or shape.
    pub fn f32_values(&self, key: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let e = self.entry(key)?;
        if e.dtype != DType::F32 {
            return Err(self.tensor_error(key, format!("dtype {}, expected F32", e.dtype_name)));
        }
        if e.shape != shape {
            return Err(self.tensor_error(key, format!("shape {:?}, expected {shape:?}", e.shape)));
        }
        Ok(self
            .raw(e)?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    /// Tensor `key` (F32, exactly `shape`) on `device`, see [`SafetensorsFile::f32_values`].
    ///
    /// # Errors
    /// As [`SafetensorsFile::f32_values`].
    pub fn f32_tensor<B: Backend, const D: usize>(
        &self,
        key: &str,
        shape: [usize; D],
        device: &Device<B>,
    ) -> Result<Tensor<B, D>> {
        let values = self.f32_values(key, &shape)?;
        Ok(Tensor::from_data(TensorData::new(values, shape), device))
    }
}
