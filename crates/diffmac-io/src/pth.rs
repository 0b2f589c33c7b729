//! PyTorch state-dict files (`.pth`, zip or legacy format), as insightface's ArcFace weights
//! ship, read with burn-store's pickle reader, which parses the file without executing any of
//! its code.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{IoError, Result};
use crate::weights::SafetensorsFile;

/// The float tensors of a PyTorch state-dict file, as f32, in a [`SafetensorsFile`] named by
/// `path`. A `module.` prefix (saved from `DataParallel`) is removed; integer buffers such as
/// `num_batches_tracked` are dropped.
///
/// # Errors
/// [`IoError::Pth`] naming the file if it is not a readable state dict.
pub fn read_pth(path: &Path) -> Result<SafetensorsFile> {
    let fail = |problem: String| IoError::Pth {
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
        let key = name.strip_prefix("module.").unwrap_or(name).to_string();
        tensors.insert(key, data.convert::<f32>());
    }
    if tensors.is_empty() {
        return Err(fail("no float tensors: not a state dict".into()));
    }
    SafetensorsFile::from_tensors(path.to_owned(), &tensors)
}
