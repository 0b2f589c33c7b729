//! Pairing restored images with their ground truth by file stem (`a.png` ↔ `a.jpg`), the way
//! evaluation scripts of face restoration pair `results/` with `gt/` folders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use diffmac_io::collect_inputs;

use crate::error::Result;

/// One restored image and, when found, its ground truth.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Pair {
    /// The shared file stem.
    pub name: String,
    /// The restored image.
    pub restored: PathBuf,
    /// The ground-truth image with the same stem, if any.
    pub gt: Option<PathBuf>,
}

/// The outcome of pairing two folders.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Pairing {
    /// Restored images in stem order, with their ground truth where it exists.
    pub pairs: Vec<Pair>,
    /// Ground-truth images without a restored image of the same stem.
    pub gt_without_restored: Vec<PathBuf>,
    /// Files left out because another image file in the same folder has the same stem.
    pub ambiguous: Vec<PathBuf>,
    /// Folder entries without an image extension.
    pub skipped: Vec<PathBuf>,
}

impl Pairing {
    /// Restored images that have no ground truth (empty when no ground-truth folder was given).
    pub fn restored_without_gt(&self) -> impl Iterator<Item = &Pair> {
        self.pairs.iter().filter(|p| p.gt.is_none())
    }
}

/// Images of `dir` by stem; stems used by more than one file go to `ambiguous`.
fn by_stem(dir: &Path, pairing: &mut Pairing) -> Result<BTreeMap<String, PathBuf>> {
    let inputs = collect_inputs(dir)?;
    pairing.skipped.extend(inputs.skipped);
    let mut map: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for path in inputs.images {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        map.entry(stem).or_default().push(path);
    }
    let mut unique = BTreeMap::new();
    for (stem, mut paths) in map {
        if paths.len() == 1 {
            unique.insert(stem, paths.remove(0));
        } else {
            pairing.ambiguous.extend(paths);
        }
    }
    Ok(unique)
}

/// Lists `restored` (a folder or one file) and, when given, `gt`, and pairs them by stem.
pub fn pair_folders(restored: &Path, gt: Option<&Path>) -> Result<Pairing> {
    let mut pairing = Pairing::default();
    let restored = by_stem(restored, &mut pairing)?;
    let mut gt = match gt {
        Some(dir) => by_stem(dir, &mut pairing)?,
        None => BTreeMap::new(),
    };
    for (name, path) in restored {
        let gt_path = gt.remove(&name);
        pairing.pairs.push(Pair {
            name,
            restored: path,
            gt: gt_path,
        });
    }
    pairing.gt_without_restored = gt.into_values().collect();
    Ok(pairing)
}
