//! Weight files: the workspace's one safetensors reader and writer.
//!
//! [`SafetensorsFile`] parses the header itself (a length-prefixed JSON object) and checks
//! every entry against the file's length, so that a truncated download or a corrupt header is
//! reported with the file and the tensor it breaks at, before any tensor is read. Tensors are
//! looked up by their original state-dict key (`down_blocks.0.resnets.1.conv1.weight`,
//! `prelu1.weight`), so real checkpoints load without a renaming table.
//!
//! Files are written atomically ([`save_safetensors`]), keys sorted, data little-endian.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::{Linear, PRelu, PReluConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Device, FloatDType, Tensor, TensorData};

use crate::error::{IoError, Result};
use crate::write::write_atomically;

/// One tensor's entry in a safetensors header.
#[derive(Debug, Clone)]
struct Entry {
    dtype: DType,
    dtype_name: String,
    shape: Vec<usize>,
    start: usize,
    end: usize,
}

/// Where a file's tensor bytes are.
enum Source {
    /// All of them in memory: owned, or borrowed for the whole program (weights compiled into
    /// a crate with `include_bytes!`, never copied).
    Memory(Cow<'static, [u8]>),
    /// On disk, read one tensor at a time when asked for: loading a model then holds the model
    /// and one tensor, not the model and a copy of the whole file.
    Disk(std::fs::File),
}

/// A safetensors file with its header checked against its length.
pub struct SafetensorsFile {
    path: PathBuf,
    source: Source,
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

/// Headers larger than this are refused before they are read (the reference `safetensors`
/// crate's limit): a corrupt length must not ask for gigabytes.
const MAX_HEADER_BYTES: u64 = 100_000_000;

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

fn dtype_from_name(name: &str) -> Option<(DType, usize)> {
    Some(match name {
        "F64" => (DType::F64, 8),
        "F32" => (DType::F32, 4),
        "F16" => (DType::F16, 2),
        "BF16" => (DType::BF16, 2),
        "I64" => (DType::I64, 8),
        "I32" => (DType::I32, 4),
        "I16" => (DType::I16, 2),
        "I8" => (DType::I8, 1),
        "U8" => (DType::U8, 1),
        "BOOL" => (DType::U8, 1),
        _ => return None,
    })
}

fn dtype_name(dtype: DType) -> Option<&'static str> {
    Some(match dtype {
        DType::F64 => "F64",
        DType::F32 | DType::Flex32 => "F32",
        DType::F16 => "F16",
        DType::BF16 => "BF16",
        DType::I64 => "I64",
        DType::I32 => "I32",
        DType::I16 => "I16",
        DType::I8 => "I8",
        DType::U8 => "U8",
        _ => return None,
    })
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
            source: Source::Disk(file),
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
            source: Source::Memory(bytes),
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
        let bytes = serialize(&label, tensors, &BTreeMap::new())?;
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
        match &self.source {
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
    /// loaded rather than pasted over a face.
    ///
    /// # Errors
    /// [`IoError::NonFinite`] naming the first such tensor and the index in it.
    pub fn check_finite(&self) -> Result<()> {
        for (key, e) in &self.entries {
            if let Some(index) = non_finite_in(&self.raw(e)?, e.dtype) {
                return Err(IoError::NonFinite {
                    path: self.path.clone(),
                    key: key.clone(),
                    index,
                });
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

    /// A PyTorch `nn.Linear` from `{prefix}.weight` `[out, in]` and `{prefix}.bias` (F32),
    /// with the weight stored transposed, as Burn's row layout wants `[in, out]`.
    ///
    /// # Errors
    /// As [`SafetensorsFile::f32_values`].
    pub fn linear<B: Backend>(
        &self,
        prefix: &str,
        d_input: usize,
        d_output: usize,
        device: &Device<B>,
    ) -> Result<Linear<B>> {
        let weight: Tensor<B, 2> =
            self.f32_tensor(&format!("{prefix}.weight"), [d_output, d_input], device)?;
        let bias = self.f32_tensor(&format!("{prefix}.bias"), [d_output], device)?;
        Ok(Linear {
            weight: Param::from_tensor(weight.transpose()),
            bias: Some(Param::from_tensor(bias)),
        })
    }

    /// A per-channel PyTorch `nn.PReLU` from `{prefix}.weight` `[channels]` (F32).
    ///
    /// # Errors
    /// As [`SafetensorsFile::f32_values`].
    pub fn prelu<B: Backend>(
        &self,
        prefix: &str,
        channels: usize,
        device: &Device<B>,
    ) -> Result<PRelu<B>> {
        let alpha = self.f32_tensor(&format!("{prefix}.weight"), [channels], device)?;
        let mut prelu = PReluConfig::new()
            .with_num_parameters(channels)
            .init(device);
        prelu.alpha = Param::from_tensor(alpha);
        Ok(prelu)
    }
}

/// The entries and metadata of a safetensors header, each entry checked against the `data_len`
/// bytes that follow the header.
#[allow(clippy::type_complexity)]
fn parse_header(
    path: &Path,
    header: &[u8],
    data_len: usize,
) -> Result<(BTreeMap<String, Entry>, BTreeMap<String, String>)> {
    let bad = |message: String| IoError::Safetensors {
        path: path.to_path_buf(),
        message,
    };
    let header: serde_json::Value = serde_json::from_slice(header)
        .map_err(|e| bad(format!("header is not valid JSON: {e}")))?;
    let obj = header
        .as_object()
        .ok_or_else(|| bad("header is not a JSON object".into()))?;
    let mut entries = BTreeMap::new();
    let mut metadata = BTreeMap::new();
    for (key, value) in obj {
        if key == "__metadata__" {
            let map = value
                .as_object()
                .ok_or_else(|| bad("`__metadata__` is not a JSON object".into()))?;
            for (k, v) in map {
                let v = v
                    .as_str()
                    .ok_or_else(|| bad(format!("metadata `{k}` is not a string")))?;
                metadata.insert(k.clone(), v.to_owned());
            }
            continue;
        }
        let parse = || -> Option<(String, Vec<usize>, usize, usize)> {
            let dtype = value.get("dtype")?.as_str()?.to_string();
            let shape = value
                .get("shape")?
                .as_array()?
                .iter()
                .map(|d| d.as_u64().map(|d| d as usize))
                .collect::<Option<Vec<_>>>()?;
            let offsets = value.get("data_offsets")?.as_array()?;
            let start = offsets.first()?.as_u64()? as usize;
            let end = offsets.get(1)?.as_u64()? as usize;
            Some((dtype, shape, start, end))
        };
        let (dtype_name, shape, start, end) =
            parse().ok_or_else(|| bad(format!("malformed header entry for `{key}`")))?;
        let (dtype, size) =
            dtype_from_name(&dtype_name).ok_or_else(|| IoError::UnsupportedDtype {
                path: path.to_path_buf(),
                key: key.clone(),
                dtype: dtype_name.clone(),
            })?;
        // Checked: a corrupt header must give an error, not an overflow.
        let bytes = shape
            .iter()
            .try_fold(size, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| bad(format!("tensor `{key}`: shape {shape:?} is too large")))?;
        let numel = bytes / size;
        if end < start || end - start != bytes {
            return Err(bad(format!(
                "tensor `{key}`: offsets {start}..{end} do not hold {numel} {dtype_name} values"
            )));
        }
        if end > data_len {
            return Err(bad(format!(
                "tensor `{key}` ends at data byte {end} but the file holds only {data_len} \
                 data bytes (truncated?)"
            )));
        }
        entries.insert(
            key.clone(),
            Entry {
                dtype,
                dtype_name,
                shape,
                start,
                end,
            },
        );
    }
    Ok((entries, metadata))
}

/// The index of the first NaN or infinity in little-endian `bytes` of `dtype` (none for
/// integer types): on the stored bits, so that no conversion can hide or create one.
fn non_finite_in(bytes: &[u8], dtype: DType) -> Option<usize> {
    match dtype {
        DType::F64 => bytes
            .chunks_exact(8)
            .position(|b| !f64::from_le_bytes(b.try_into().expect("8 bytes")).is_finite()),
        DType::F32 | DType::Flex32 => bytes
            .chunks_exact(4)
            .position(|b| !f32::from_le_bytes(b.try_into().expect("4 bytes")).is_finite()),
        // Exponent bits all set: infinity or NaN.
        DType::F16 => bytes
            .chunks_exact(2)
            .position(|b| u16::from_le_bytes([b[0], b[1]]) & 0x7c00 == 0x7c00),
        DType::BF16 => bytes
            .chunks_exact(2)
            .position(|b| u16::from_le_bytes([b[0], b[1]]) & 0x7f80 == 0x7f80),
        _ => None,
    }
}

/// The index of the first NaN or infinity of a float tensor's data, if any.
pub fn first_non_finite(data: &TensorData) -> Option<usize> {
    non_finite_in(data.as_bytes(), data.dtype)
}

/// Serialises tensors in the safetensors format (keys sorted, little-endian data);
/// `path` is only used in error messages.
fn serialize(
    path: &Path,
    tensors: &BTreeMap<String, TensorData>,
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert("__metadata__".into(), serde_json::json!(metadata));
    }
    let mut offset = 0usize;
    for (key, data) in tensors {
        let name = dtype_name(data.dtype).ok_or_else(|| IoError::UnsupportedDtype {
            path: path.to_path_buf(),
            key: key.clone(),
            dtype: format!("{:?}", data.dtype),
        })?;
        let len = data.as_bytes().len();
        header.insert(
            key.clone(),
            serde_json::json!({
                "dtype": name,
                "shape": data.shape.to_vec(),
                "data_offsets": [offset, offset + len],
            }),
        );
        offset += len;
    }
    let mut json =
        serde_json::to_vec(&serde_json::Value::Object(header)).expect("JSON of plain values");
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    let mut bytes = Vec::with_capacity(8 + json.len() + offset);
    bytes.extend_from_slice(&(json.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&json);
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
