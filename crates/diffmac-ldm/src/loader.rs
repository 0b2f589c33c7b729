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
//! The file itself is read by `diffmac_io::SafetensorsFile`, which checks the header against
//! the file's length, so that a truncated or inconsistent file is reported with the file and
//! the tensor it breaks at.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::rc::Rc;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Device, Distribution, FloatDType, Tensor, TensorData};
use diffmac_io::SafetensorsFile;

use crate::error::{LdmError, Result};

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
/// `diffmac_io::save_safetensors` this writes a module back so that the loader reads it again.
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
    /// [`LdmError::MissingKey`], [`LdmError::ShapeMismatch`] or an unsupported dtype
    /// ([`LdmError::File`]), each naming the key and the file.
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
