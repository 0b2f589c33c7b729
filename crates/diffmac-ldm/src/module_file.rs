//! The project's own modules (the Stage I control, the MIB, trained weights) as safetensors
//! files keyed by Burn's module paths (`gamma.0.weight`, `filter.conv.bias`).
//!
//! External checkpoints keep their own key layout and go through [`VarBuilder`]; modules
//! that only this project writes use the field paths of their `#[derive(Module)]` structs,
//! so any module can be saved and loaded without a key table. Loading is strict: a missing
//! tensor, a shape mismatch or a tensor the module does not use is an error that names the
//! file and the key, and the loaded weights end up in the precision asked for.
//!
//! [`VarBuilder`]: crate::loader::VarBuilder

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, FloatDType, Tensor, TensorData};
use diffmac_io::module_path::{PathMapper, PathVisitor, map_with_paths, visit_with_paths};
use diffmac_io::{SafetensorsFile, save_safetensors};

use crate::error::{LdmError, Result};

/// Every float parameter of `module` under its module path, in the module's current dtype.
pub fn module_tensors<B: Backend, M: Module<B>>(module: &M) -> BTreeMap<String, TensorData> {
    struct Collect(BTreeMap<String, TensorData>);
    impl<B: Backend> PathVisitor<B> for Collect {
        fn visit_float<const D: usize>(&mut self, path: &str, param: &Param<Tensor<B, D>>) {
            self.0.insert(path.to_string(), param.val().to_data());
        }
    }
    let mut collect = Collect(BTreeMap::new());
    visit_with_paths(module, &mut collect);
    collect.0
}

/// Writes `module` to `path` as safetensors, atomically (temporary file, then rename).
///
/// # Errors
/// [`LdmError::File`] if the file cannot be written.
pub fn save_module<B: Backend, M: Module<B>>(module: &M, path: impl AsRef<Path>) -> Result<()> {
    Ok(save_safetensors(path, &module_tensors(module))?)
}

/// Replaces every float parameter of `module` by the tensor of the same path in `file`,
/// converted to `dtype` on the parameter's device. Parameter ids (and so optimiser state
/// keyed by them) are kept.
///
/// # Errors
/// [`LdmError::MissingKey`], [`LdmError::ShapeMismatch`], [`LdmError::UnexpectedKeys`] or
/// an unsupported dtype ([`LdmError::File`]), each naming the file and the key.
pub fn load_module<B: Backend, M: Module<B>>(
    module: M,
    file: &SafetensorsFile,
    dtype: FloatDType,
) -> Result<M> {
    let mut loader = Loader {
        file,
        dtype,
        used: BTreeSet::new(),
        error: None,
    };
    let module = map_with_paths(module, &mut loader);
    if let Some(error) = loader.error {
        return Err(error);
    }
    let unexpected: Vec<String> = file
        .keys()
        .filter(|k| !loader.used.contains(*k))
        .map(str::to_string)
        .collect();
    if !unexpected.is_empty() {
        return Err(LdmError::UnexpectedKeys {
            path: file.path().to_path_buf(),
            count: unexpected.len(),
            keys: unexpected.into_iter().take(5).collect(),
        });
    }
    Ok(module)
}

/// [`load_module`] from the file at `path`.
///
/// # Errors
/// As [`SafetensorsFile::open`] and [`load_module`].
pub fn load_module_file<B: Backend, M: Module<B>>(
    module: M,
    path: impl AsRef<Path>,
    dtype: FloatDType,
) -> Result<M> {
    load_module(module, &SafetensorsFile::open(path)?, dtype)
}

/// Converts every float parameter of `module` to `dtype` (keeping ids and `require_grad`).
pub fn cast_module<B: Backend, M: Module<B>>(module: M, dtype: FloatDType) -> M {
    struct Cast(DType);
    impl<B: Backend> ModuleMapper<B> for Cast {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            let require_grad = param.is_require_grad();
            let (id, tensor, mapper) = param.consume();
            let tensor = if tensor.dtype() == self.0 {
                tensor
            } else {
                // Detached: under autodiff a cast is an operation, and only a leaf can be made
                // a trainable parameter again.
                tensor.cast(self.0).detach()
            };
            let tensor = if require_grad {
                tensor.require_grad()
            } else {
                tensor
            };
            Param::from_mapped_value(id, tensor, mapper)
        }
    }
    module.map(&mut Cast(dtype.into()))
}

struct Loader<'a> {
    file: &'a SafetensorsFile,
    dtype: FloatDType,
    used: BTreeSet<String>,
    error: Option<LdmError>,
}

impl<B: Backend> PathMapper<B> for Loader<'_> {
    fn map_float<const D: usize>(
        &mut self,
        key: &str,
        param: Param<Tensor<B, D>>,
    ) -> Param<Tensor<B, D>> {
        if self.error.is_some() {
            return param;
        }
        let require_grad = param.is_require_grad();
        let (id, tensor, mapper) = param.consume();
        let expected = tensor.dims().to_vec();
        let loaded = match self.file.shape(key) {
            None => Err(LdmError::MissingKey {
                path: self.file.path().to_path_buf(),
                key: key.to_string(),
                expected: expected.clone(),
            }),
            Some(found) if found != expected.as_slice() => Err(LdmError::ShapeMismatch {
                path: self.file.path().to_path_buf(),
                key: key.to_string(),
                expected: expected.clone(),
                found: found.to_vec(),
            }),
            Some(_) => self
                .file
                .float_tensor::<B, D>(key, &tensor.device(), self.dtype)
                .map_err(LdmError::from),
        };
        match loaded {
            Ok(t) => {
                self.used.insert(key.to_string());
                let t = if require_grad { t.require_grad() } else { t };
                Param::from_mapped_value(id, t, mapper)
            }
            Err(e) => {
                self.error = Some(e);
                Param::from_mapped_value(id, tensor, mapper)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::ControlConfig;
    use burn::backend::Flex;

    type B = Flex;

    fn small_control() -> ControlConfig {
        ControlConfig {
            encoder_channels: vec![8, 16],
            ..ControlConfig::default()
        }
    }

    #[test]
    fn control_round_trips_through_a_file_with_its_module_paths() {
        let device = Default::default();
        let control = small_control().init::<B>(&device);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.safetensors");
        save_module(&control, &path).unwrap();

        let file = SafetensorsFile::open(&path).unwrap();
        let keys: Vec<&str> = file.keys().collect();
        assert!(keys.contains(&"gamma.1.weight"), "{keys:?}");
        assert!(keys.contains(&"feature_in.bias"), "{keys:?}");

        let fresh = small_control().init::<B>(&device);
        let loaded = load_module(fresh, &file, FloatDType::F32).unwrap();
        let a = module_tensors(&control);
        let b = module_tensors(&loaded);
        assert_eq!(a.len(), b.len());
        for (k, v) in &a {
            assert_eq!(v, &b[k], "{k}");
        }
    }

    #[test]
    fn loading_converts_to_the_requested_precision() {
        let device = Default::default();
        let control = small_control().init::<B>(&device);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.safetensors");
        save_module(&control, &path).unwrap();
        let loaded =
            load_module_file(small_control().init::<B>(&device), &path, FloatDType::F16).unwrap();
        assert_eq!(loaded.feature_in.weight.val().dtype(), DType::F16);
        let cast = cast_module(loaded, FloatDType::F32);
        assert_eq!(cast.gamma[0].weight.val().dtype(), DType::F32);
    }

    #[test]
    fn cast_parameters_stay_trainable_under_autodiff() {
        type AB = burn::backend::Autodiff<B>;
        let device = Default::default();
        let control = cast_module(small_control().init::<AB>(&device), FloatDType::BF16);
        let weight = control.feature_in.weight.val();
        assert_eq!(weight.dtype(), DType::BF16);
        assert!(weight.is_require_grad());
        let grads = weight.clone().cast(DType::F32).sum().backward();
        let grad = weight
            .grad(&grads)
            .expect("the cast weight gets a gradient");
        assert_eq!(grad.dims(), weight.dims());
    }

    #[test]
    fn wrong_files_name_the_file_and_the_key() {
        let device = Default::default();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.safetensors");
        save_module(&small_control().init::<B>(&device), &path).unwrap();

        let wider = ControlConfig {
            encoder_channels: vec![8, 32],
            ..ControlConfig::default()
        };
        let err = load_module_file(wider.init::<B>(&device), &path, FloatDType::F32)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("c.safetensors") && err.contains("has shape"),
            "{err}"
        );

        let deeper = ControlConfig {
            encoder_channels: vec![8, 16, 16],
            ..ControlConfig::default()
        };
        let err = load_module_file(deeper.init::<B>(&device), &path, FloatDType::F32)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("missing tensor `feature_levels.2.weight`"),
            "{err}"
        );

        let shallower = ControlConfig {
            encoder_channels: vec![8],
            ..ControlConfig::default()
        };
        let err = load_module_file(shallower.init::<B>(&device), &path, FloatDType::F32)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unexpected tensor"), "{err}");
    }
}
