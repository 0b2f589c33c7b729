//! insightface's ArcFace weights as they ship: PyTorch state-dict files (`.pth`, zip or legacy
//! format), read with burn-store's pickle reader, which parses the file without executing any
//! of its code.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};

use crate::error::{IdError, Result};

/// The float tensors of a PyTorch state-dict file as safetensors bytes (f32), ready for
/// [`crate::IResNet::from_bytes`]. A `module.` prefix (saved from `DataParallel`) is removed;
/// integer buffers such as `num_batches_tracked` are dropped.
///
/// # Errors
/// [`IdError::Pth`] naming the file if it is not a readable state dict.
pub fn pth_to_safetensors(path: &Path) -> Result<Vec<u8>> {
    let fail = |problem: String| IdError::Pth {
        path: path.to_owned(),
        problem,
    };
    let reader = burn_store::pytorch::PytorchReader::new(path).map_err(|e| fail(e.to_string()))?;
    let mut tensors = BTreeMap::new();
    for (name, snapshot) in reader.tensors() {
        let data = snapshot
            .to_data()
            .map_err(|e| fail(format!("tensor `{name}`: {e:?}")))?;
        if !data.dtype.is_float() {
            continue;
        }
        let values: Vec<f32> = data
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| fail(format!("tensor `{name}`: {e:?}")))?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let key = name.strip_prefix("module.").unwrap_or(name).to_string();
        tensors.insert(key, (snapshot.shape.to_vec(), bytes));
    }
    if tensors.is_empty() {
        return Err(fail("no float tensors: not a state dict".into()));
    }
    let views = tensors
        .iter()
        .map(|(k, (shape, bytes))| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (k.clone(), v))
                .map_err(|e| fail(format!("tensor `{k}`: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::tensor::serialize(views, None).map_err(|e| fail(e.to_string()))
}
