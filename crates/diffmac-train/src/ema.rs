//! An exponential moving average of the trained parameters (optional, `optimizer.ema_decay`):
//! after each optimiser step `ē ← d · ē + (1 − d) · p` per trainable parameter, in f32, keyed
//! by module path. Checkpoints store it as `ema.safetensors` with the parameters' full paths
//! (`control.gamma.0.weight`, `mib.filter.conv.weight`, `unet.…` in Burn's layout) and shapes.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::{AutodiffModule, Param};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{DType, FloatDType, Tensor, TensorData};
use diffmac_io::module_path::{PathVisitor, visit_with_paths};
use diffmac_io::{SafetensorsFile, save_safetensors};

use crate::error::{Result, TrainError};

/// The averaged parameters.
#[derive(Debug, Clone)]
pub struct Ema<B: Backend> {
    decay: f64,
    shadow: BTreeMap<String, (Tensor<B, 1>, Vec<usize>)>,
}

impl<B: Backend> Ema<B> {
    /// An empty average with decay `decay` (it starts at the first parameters it sees).
    pub fn new(decay: f64) -> Self {
        Self {
            decay,
            shadow: BTreeMap::new(),
        }
    }

    /// Parameters averaged.
    pub fn len(&self) -> usize {
        self.shadow.len()
    }

    /// Whether nothing is averaged yet.
    pub fn is_empty(&self) -> bool {
        self.shadow.is_empty()
    }

    /// The average of the parameter at `path`, flattened.
    pub fn get(&self, path: &str) -> Option<&Tensor<B, 1>> {
        self.shadow.get(path).map(|(t, _)| t)
    }

    /// Folds the current trainable parameters of `module` into the average.
    pub fn update<AB, M>(&mut self, module: &M)
    where
        AB: AutodiffBackend<InnerBackend = B>,
        M: AutodiffModule<AB>,
    {
        struct Visit<'a, AB: AutodiffBackend> {
            decay: f64,
            shadow: &'a mut BTreeMap<String, (Tensor<AB::InnerBackend, 1>, Vec<usize>)>,
        }
        impl<AB: AutodiffBackend> PathVisitor<AB> for Visit<'_, AB> {
            fn visit_float<const D: usize>(&mut self, key: &str, param: &Param<Tensor<AB, D>>) {
                if !param.is_require_grad() {
                    return;
                }
                let p = param.val().inner();
                let shape = p.dims().to_vec();
                let n: usize = shape.iter().product();
                let p = p.reshape([n]);
                let p = if p.dtype() == DType::F32 {
                    p
                } else {
                    p.cast(FloatDType::F32)
                };
                let next = match self.shadow.remove(key) {
                    Some((e, _)) => e.mul_scalar(self.decay) + p.mul_scalar(1.0 - self.decay),
                    None => p,
                };
                self.shadow.insert(key.to_string(), (next, shape));
            }
        }
        visit_with_paths(
            module,
            &mut Visit::<AB> {
                decay: self.decay,
                shadow: &mut self.shadow,
            },
        );
    }

    /// Writes the average (f32, original shapes) to `path` atomically.
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let tensors = self
            .shadow
            .iter()
            .map(|(k, (t, shape))| {
                let values = t.clone().into_data().into_vec::<f32>().map_err(|e| {
                    TrainError::checkpoint(path, format!("moving average `{k}`: {e:?}"))
                })?;
                Ok((k.clone(), TensorData::new(values, shape.clone())))
            })
            .collect::<Result<_>>()?;
        save_safetensors(path, &tensors)?;
        Ok(())
    }

    /// Reads an average written by [`Ema::save`].
    ///
    /// # Errors
    /// An unreadable file, naming it.
    pub fn load(decay: f64, path: &Path, device: &B::Device) -> Result<Self> {
        let file = SafetensorsFile::open(path)?;
        let mut shadow = BTreeMap::new();
        let keys: Vec<String> = file.keys().map(str::to_string).collect();
        for key in keys {
            let data = file.float_data(&key, FloatDType::F32)?;
            let shape = data.shape.to_vec();
            let values = data.into_vec::<f32>().map_err(|e| {
                TrainError::checkpoint(path, format!("moving average `{key}`: {e:?}"))
            })?;
            let t = Tensor::<B, 1>::from_data(
                TensorData::new(values, [shape.iter().product::<usize>()]),
                (device, DType::F32),
            );
            shadow.insert(key, (t, shape));
        }
        Ok(Self { decay, shadow })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::module::Module;

    type AB = Autodiff<Flex>;

    #[derive(Module, Debug)]
    struct One<B: Backend> {
        w: Param<Tensor<B, 2>>,
        frozen: Param<Tensor<B, 1>>,
    }

    fn one(v: f32) -> One<AB> {
        let device = Default::default();
        One {
            w: Param::from_tensor(Tensor::from_floats([[v, 2.0 * v]], &device)),
            frozen: Param::from_tensor(Tensor::from_floats([v], &device)).set_require_grad(false),
        }
    }

    #[test]
    fn average_follows_the_decay_and_round_trips() {
        let mut ema = Ema::<Flex>::new(0.9);
        ema.update::<AB, _>(&one(1.0));
        ema.update::<AB, _>(&one(3.0));
        assert_eq!(ema.len(), 1, "frozen parameters are not averaged");
        let w: Vec<f32> = ema.get("w").unwrap().clone().into_data().to_vec().unwrap();
        // 0.9 · 1 + 0.1 · 3 = 1.2, and twice that.
        assert!(
            (w[0] - 1.2).abs() < 1e-6 && (w[1] - 2.4).abs() < 1e-6,
            "{w:?}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ema.safetensors");
        ema.save(&path).unwrap();
        assert_eq!(
            SafetensorsFile::open(&path).unwrap().shape("w"),
            Some(&[1, 2][..])
        );
        let back = Ema::<Flex>::load(0.9, &path, &Default::default()).unwrap();
        assert_eq!(
            back.get("w").unwrap().clone().into_data(),
            ema.get("w").unwrap().clone().into_data()
        );
    }

    #[test]
    fn a_file_with_an_integer_tensor_is_an_error_not_an_empty_average() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ema.safetensors");
        let tensors = BTreeMap::from([("w".to_string(), TensorData::new(vec![1i64, 2, 3], [3]))]);
        save_safetensors(&path, &tensors).unwrap();
        let err = Ema::<Flex>::load(0.9, &path, &Default::default()).unwrap_err();
        assert!(
            err.to_string().contains("ema.safetensors") && err.to_string().contains("`w`"),
            "{err}"
        );
    }
}
