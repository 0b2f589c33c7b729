//! Reading safetensors weights in the diffusers / transformers key layout.
//!
//! The modules of this crate are built from a [`VarBuilder`]: each block asks for its
//! tensors by their upstream names (`down_blocks.0.resnets.1.conv1.weight`), so real
//! checkpoints load without a renaming table. The builder records every key it hands out;
//! [`VarBuilder::finish`] then reports the keys of the file that no module asked for. The
//! same construction code can run in *shape mode*, which hands out placeholders and only
//! records the shapes: that is how the parameter count of a full-size config is computed
//! without allocating it.
//!
//! The safetensors header is parsed here (it is a length-prefixed JSON object), so that a
//! truncated or inconsistent file is reported with the file and the tensor it breaks at.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Device, Distribution, FloatDType, Tensor, TensorData};

use crate::error::{LdmError, Result};

/// One tensor's entry in a safetensors header.
#[derive(Debug, Clone)]
struct Entry {
    dtype: DType,
    dtype_name: String,
    shape: Vec<usize>,
    start: usize,
    end: usize,
}

/// A safetensors file read into memory, with its header checked against its length.
pub struct SafetensorsFile {
    path: PathBuf,
    bytes: Vec<u8>,
    data_start: usize,
    entries: BTreeMap<String, Entry>,
}

impl std::fmt::Debug for SafetensorsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafetensorsFile")
            .field("path", &self.path)
            .field("tensors", &self.entries.len())
            .field("bytes", &self.bytes.len())
            .finish()
    }
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

impl SafetensorsFile {
    /// Reads and validates a safetensors file.
    ///
    /// # Errors
    /// [`LdmError::Io`] if it cannot be read, [`LdmError::Safetensors`] if the header is
    /// malformed or the data is shorter than the header says (a truncated download).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let bytes = std::fs::read(&path).map_err(|source| LdmError::Io {
            path: path.clone(),
            source,
        })?;
        Self::from_bytes(path, bytes)
    }

    /// Validates safetensors bytes; `path` is only used in messages.
    ///
    /// # Errors
    /// [`LdmError::Safetensors`] if the header is malformed or the data is incomplete.
    pub fn from_bytes(path: PathBuf, bytes: Vec<u8>) -> Result<Self> {
        let bad = |message: String| LdmError::Safetensors {
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
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..data_start])
            .map_err(|e| bad(format!("header is not valid JSON: {e}")))?;
        let obj = header
            .as_object()
            .ok_or_else(|| bad("header is not a JSON object".into()))?;
        let data_len = bytes.len() - data_start;
        let mut entries = BTreeMap::new();
        for (key, value) in obj {
            if key == "__metadata__" {
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
                dtype_from_name(&dtype_name).ok_or_else(|| LdmError::UnsupportedDtype {
                    path: path.clone(),
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
        Ok(Self {
            path,
            bytes,
            data_start,
            entries,
        })
    }

    /// The file's path.
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

    /// A tensor's data as stored in the file (no conversion).
    ///
    /// # Errors
    /// [`LdmError::MissingKey`] if the file has no such tensor.
    pub fn data(&self, key: &str) -> Result<TensorData> {
        let e = self.entries.get(key).ok_or_else(|| LdmError::MissingKey {
            path: self.path.clone(),
            key: key.to_string(),
            expected: vec![],
        })?;
        let raw = self.bytes[self.data_start + e.start..self.data_start + e.end].to_vec();
        if e.dtype_name == "BOOL" {
            return Ok(TensorData::from_bytes_vec(raw, e.shape.clone(), DType::U8));
        }
        Ok(TensorData::from_bytes_vec(raw, e.shape.clone(), e.dtype))
    }

    /// Reads a tensor as a float tensor of `dtype` on `device`.
    ///
    /// # Errors
    /// [`LdmError::MissingKey`] or [`LdmError::UnsupportedDtype`] (a non-float tensor).
    pub fn float_tensor<B: Backend, const D: usize>(
        &self,
        key: &str,
        device: &Device<B>,
        dtype: FloatDType,
    ) -> Result<Tensor<B, D>> {
        let e = self.entries.get(key);
        if let Some(e) = e
            && e.shape.len() != D
        {
            return Err(LdmError::ShapeMismatch {
                path: self.path.clone(),
                key: key.to_string(),
                expected: vec![0; D],
                found: e.shape.clone(),
            });
        }
        let target: DType = dtype.into();
        Ok(Tensor::from_data(
            self.float_data(key, dtype)?,
            (device, target),
        ))
    }

    /// A float tensor's data converted to `dtype`, on the host.
    fn float_data(&self, key: &str, dtype: FloatDType) -> Result<TensorData> {
        let data = self.data(key)?;
        let e = &self.entries[key];
        if !e.dtype.is_float() {
            return Err(LdmError::UnsupportedDtype {
                path: self.path.clone(),
                key: key.to_string(),
                dtype: e.dtype_name.clone(),
            });
        }
        Ok(data.convert_dtype(dtype.into()))
    }
}

/// The transpose of a matrix's data, laid out row-major like any other: a weight kept as a
/// transposed view would be copied into a contiguous one by every matmul on the CPU backend.
fn transpose_matrix(data: TensorData) -> TensorData {
    fn flip<E: burn::tensor::Element>(data: &TensorData, rows: usize, cols: usize) -> TensorData {
        let v = data.as_slice::<E>().expect("the data's own element type");
        let out: Vec<E> = (0..cols)
            .flat_map(|j| (0..rows).map(move |i| v[i * cols + j]))
            .collect();
        TensorData::new(out, [cols, rows])
    }
    let [rows, cols] = [data.shape[0], data.shape[1]];
    match data.dtype {
        DType::F64 => flip::<f64>(&data, rows, cols),
        DType::F32 => flip::<f32>(&data, rows, cols),
        DType::F16 => flip::<burn::tensor::f16>(&data, rows, cols),
        DType::BF16 => flip::<burn::tensor::bf16>(&data, rows, cols),
        other => unreachable!("float_data converts to a float dtype, not {other:?}"),
    }
}

#[derive(Debug, Clone)]
struct KeyEntry {
    key: String,
    id: ParamId,
    transposed: bool,
}

/// The checkpoint key of each parameter of a module built by a [`VarBuilder`]
/// ([`VarBuilder::key_map`]): what [`export`] needs to write the module back in the
/// checkpoint's layout.
#[derive(Debug, Clone, Default)]
pub struct KeyMap(Vec<KeyEntry>);

impl KeyMap {
    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

struct Collector {
    transposed: HashSet<ParamId>,
    data: std::collections::HashMap<ParamId, TensorData>,
}

impl<B: Backend> ModuleVisitor<B> for Collector {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let t = param.val();
        let t = if self.transposed.contains(&param.id) {
            t.transpose()
        } else {
            t
        };
        self.data.insert(param.id, t.into_data());
    }
}

/// The parameters of `module` under their checkpoint keys and in the checkpoint's layout
/// (PyTorch's `[out, in]` for linear weights), in the module's current dtype: with
/// [`save_safetensors`] this writes a module back so that the loader reads it again.
///
/// # Errors
/// [`LdmError::MissingKey`] if a parameter of `keys` is no longer in the module (it was
/// replaced rather than updated).
pub fn export<B: Backend, M: Module<B>>(
    module: &M,
    keys: &KeyMap,
) -> Result<BTreeMap<String, TensorData>> {
    let mut collector = Collector {
        transposed: keys
            .0
            .iter()
            .filter(|e| e.transposed)
            .map(|e| e.id)
            .collect(),
        data: std::collections::HashMap::new(),
    };
    module.visit(&mut collector);
    keys.0
        .iter()
        .map(|e| {
            let data = collector
                .data
                .remove(&e.id)
                .ok_or_else(|| LdmError::MissingKey {
                    path: PathBuf::from("<module>"),
                    key: e.key.clone(),
                    expected: vec![],
                })?;
            Ok((e.key.clone(), data))
        })
        .collect()
}

enum Backing {
    File {
        file: SafetensorsFile,
        used: RefCell<HashSet<String>>,
    },
    Shapes(RefCell<Vec<(String, Vec<usize>)>>),
    Random,
}

struct Inner<B: Backend> {
    backing: Backing,
    params: RefCell<Vec<KeyEntry>>,
    device: Device<B>,
    dtype: FloatDType,
}

/// Hands out named parameter tensors to module constructors (see the module docs).
///
/// Cloning is cheap; [`VarBuilder::pp`] returns a builder for a sub-module's prefix.
pub struct VarBuilder<B: Backend> {
    inner: Rc<Inner<B>>,
    prefix: String,
}

impl<B: Backend> Clone for VarBuilder<B> {
    fn clone(&self) -> Self {
        Self {
            inner: Rc::clone(&self.inner),
            prefix: self.prefix.clone(),
        }
    }
}

impl<B: Backend> VarBuilder<B> {
    /// A builder reading from `file`, converting every tensor to `dtype` on `device`.
    pub fn from_file(file: SafetensorsFile, device: &Device<B>, dtype: FloatDType) -> Self {
        Self {
            inner: Rc::new(Inner {
                backing: Backing::File {
                    file,
                    used: RefCell::new(HashSet::new()),
                },
                device: device.clone(),
                dtype,
                params: RefCell::new(Vec::new()),
            }),
            prefix: String::new(),
        }
    }

    /// A builder that only records the requested shapes and hands out 1-element
    /// placeholders: the module it builds must not be run, only dropped.
    pub(crate) fn shapes_only(device: &Device<B>) -> Self {
        Self {
            inner: Rc::new(Inner {
                backing: Backing::Shapes(RefCell::new(Vec::new())),
                device: device.clone(),
                dtype: FloatDType::F32,
                params: RefCell::new(Vec::new()),
            }),
            prefix: String::new(),
        }
    }

    /// A builder that hands out random weights (normal, std 0.02) of the requested shapes:
    /// for benchmarks and smoke tests of full-size configs without a checkpoint. The
    /// resulting model computes nothing meaningful.
    pub fn random(device: &Device<B>, dtype: FloatDType) -> Self {
        Self {
            inner: Rc::new(Inner {
                backing: Backing::Random,
                device: device.clone(),
                dtype,
                params: RefCell::new(Vec::new()),
            }),
            prefix: String::new(),
        }
    }

    /// The builder for the sub-module `name` (joined with a dot).
    pub fn pp(&self, name: impl std::fmt::Display) -> Self {
        let prefix = if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        };
        Self {
            inner: Rc::clone(&self.inner),
            prefix,
        }
    }

    /// The device tensors are created on.
    pub fn device(&self) -> &Device<B> {
        &self.inner.device
    }

    /// The float dtype tensors are converted to.
    pub fn dtype(&self) -> FloatDType {
        self.inner.dtype
    }

    fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    /// Whether the file has the tensor `name` under the current prefix (shape mode: no).
    pub fn contains(&self, name: &str) -> bool {
        match &self.inner.backing {
            Backing::File { file, .. } => file.shape(&self.key(name)).is_some(),
            Backing::Shapes(_) | Backing::Random => false,
        }
    }

    /// Marks `name` as used without reading it (buffers that older exporters saved).
    pub fn ignore(&self, name: &str) {
        if let Backing::File { used, .. } = &self.inner.backing {
            used.borrow_mut().insert(self.key(name));
        }
    }

    /// The tensor `name` under the current prefix, checked against `shape`.
    ///
    /// # Errors
    /// [`LdmError::MissingKey`], [`LdmError::ShapeMismatch`] or
    /// [`LdmError::UnsupportedDtype`], each naming the key and the file.
    pub fn get<const D: usize>(&self, name: &str, shape: [usize; D]) -> Result<Tensor<B, D>> {
        self.read(name, shape, false)
    }

    /// [`VarBuilder::get`], transposed (`D` = 2) when `transpose` is set.
    fn read<const D: usize>(
        &self,
        name: &str,
        shape: [usize; D],
        transpose: bool,
    ) -> Result<Tensor<B, D>> {
        let key = self.key(name);
        let dtype: DType = self.inner.dtype.into();
        match &self.inner.backing {
            Backing::Shapes(shapes) => {
                shapes.borrow_mut().push((key, shape.to_vec()));
                Ok(Tensor::zeros([1; D], (&self.inner.device, DType::F32)))
            }
            Backing::Random => {
                let mut shape = shape;
                if transpose {
                    shape.reverse();
                }
                Ok(Tensor::random(
                    shape,
                    Distribution::Normal(0.0, 0.02),
                    (&self.inner.device, dtype),
                ))
            }
            Backing::File { file, used } => {
                let found = file.shape(&key).ok_or_else(|| LdmError::MissingKey {
                    path: file.path().to_path_buf(),
                    key: key.clone(),
                    expected: shape.to_vec(),
                })?;
                if found != shape {
                    return Err(LdmError::ShapeMismatch {
                        path: file.path().to_path_buf(),
                        key,
                        expected: shape.to_vec(),
                        found: found.to_vec(),
                    });
                }
                let mut data = file.float_data(&key, self.inner.dtype)?;
                if transpose {
                    data = transpose_matrix(data);
                }
                used.borrow_mut().insert(key);
                Ok(Tensor::from_data(data, (&self.inner.device, dtype)))
            }
        }
    }

    /// The tensor `name` as a module parameter, remembered for [`export`].
    ///
    /// # Errors
    /// As [`VarBuilder::get`].
    pub fn param<const D: usize>(
        &self,
        name: &str,
        shape: [usize; D],
    ) -> Result<Param<Tensor<B, D>>> {
        let p = Param::from_tensor(self.get(name, shape)?);
        self.inner.params.borrow_mut().push(KeyEntry {
            key: self.key(name),
            id: p.id,
            transposed: false,
        });
        Ok(p)
    }

    /// A PyTorch `nn.Linear` weight `[out, in]` as a parameter in Burn's layout `[in, out]`
    /// (transposed back by [`export`]).
    ///
    /// # Errors
    /// As [`VarBuilder::get`].
    pub fn linear_weight(&self, name: &str, shape: [usize; 2]) -> Result<Param<Tensor<B, 2>>> {
        let p = Param::from_tensor(self.read(name, shape, true)?);
        self.inner.params.borrow_mut().push(KeyEntry {
            key: self.key(name),
            id: p.id,
            transposed: true,
        });
        Ok(p)
    }

    /// Which checkpoint key each parameter created so far came from.
    pub fn key_map(&self) -> KeyMap {
        KeyMap(self.inner.params.borrow().clone())
    }

    /// Checks that every tensor of the file was used by the model.
    ///
    /// # Errors
    /// [`LdmError::UnexpectedKeys`] listing (the first few of) the unused keys.
    pub fn finish(&self) -> Result<()> {
        if let Backing::File { file, used } = &self.inner.backing {
            let used = used.borrow();
            let unused: Vec<String> = file
                .keys()
                .filter(|k| !used.contains(*k))
                .map(str::to_string)
                .collect();
            if !unused.is_empty() {
                return Err(LdmError::UnexpectedKeys {
                    path: file.path().to_path_buf(),
                    count: unused.len(),
                    keys: unused.into_iter().take(8).collect(),
                });
            }
        }
        Ok(())
    }

    /// In shape mode, the total number of values of the recorded parameters.
    pub(crate) fn recorded_numel(&self) -> usize {
        match &self.inner.backing {
            Backing::Shapes(shapes) => shapes
                .borrow()
                .iter()
                .map(|(_, s)| s.iter().product::<usize>())
                .sum(),
            Backing::File { .. } | Backing::Random => 0,
        }
    }
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

/// Serialises tensors in the safetensors format (keys sorted, little-endian data);
/// `path` is only used in error messages.
fn serialize(path: &Path, tensors: &BTreeMap<String, TensorData>) -> Result<Vec<u8>> {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (key, data) in tensors {
        let name = dtype_name(data.dtype).ok_or_else(|| LdmError::UnsupportedDtype {
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

/// `tensors` as the bytes of a safetensors file (keys sorted, little-endian data).
///
/// # Errors
/// [`LdmError::UnsupportedDtype`] for an element type safetensors cannot hold here.
pub fn safetensors_bytes(tensors: &BTreeMap<String, TensorData>) -> Result<Vec<u8>> {
    serialize(Path::new("<memory>"), tensors)
}

impl SafetensorsFile {
    /// An in-memory file holding `tensors`; `label` stands for its path in messages.
    ///
    /// # Errors
    /// [`LdmError::UnsupportedDtype`] for an element type safetensors cannot hold here.
    pub fn from_tensors(label: PathBuf, tensors: &BTreeMap<String, TensorData>) -> Result<Self> {
        let bytes = serialize(&label, tensors)?;
        Self::from_bytes(label, bytes)
    }
}

/// Writes tensors as a safetensors file (keys sorted, little-endian data), atomically:
/// to a temporary file in the same folder, then renamed over `path`.
///
/// # Errors
/// [`LdmError::Io`] if the file cannot be written, [`LdmError::UnsupportedDtype`] for an
/// element type safetensors cannot hold here.
pub fn save_safetensors(
    path: impl AsRef<Path>,
    tensors: &BTreeMap<String, TensorData>,
) -> Result<()> {
    let path = path.as_ref();
    let bytes = serialize(path, tensors)?;
    let io = |source| LdmError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, &bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}
