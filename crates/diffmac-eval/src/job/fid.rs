//! FID between the restored and the ground-truth sets: Inception features of each set, read
//! from the set's cache when its key matches or computed (in parallel) and cached, then the
//! Fréchet distance. An image whose features fail is left out of its set and listed; a cache
//! that cannot be written costs time next run, not this run's result.

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use diffmac_io::write_atomically;
use rayon::prelude::*;

use super::score::load;
use super::{EvalEvent, Failure, FidRecord, OnEvent};
use crate::error::Result;
use crate::fid::{
    InceptionV3, POOL3_DIM, cache_file, features_to_bytes, frechet_distance_features, load_features,
};
use crate::pairing::Pairing;

/// The two image sets FID compares.
pub(super) struct Sets {
    /// Every restored image found.
    pub restored: Vec<PathBuf>,
    /// Every ground-truth image: the paired ones, then those without a restored image.
    pub gt: Vec<PathBuf>,
}

impl Sets {
    /// The sets of a pairing.
    pub(super) fn of(pairing: &Pairing) -> Self {
        Self {
            restored: pairing.pairs.iter().map(|p| p.restored.clone()).collect(),
            gt: pairing
                .pairs
                .iter()
                .filter_map(|p| p.gt.clone())
                .chain(pairing.gt_without_restored.iter().cloned())
                .collect(),
        }
    }
}

/// What computing FID needs besides the sets.
pub(super) struct Context<'a, B: Backend> {
    /// The Inception network.
    pub model: &'a InceptionV3<B>,
    /// Its weights file (part of the cache key).
    pub weights: &'a Path,
    /// Folder of the feature caches; none without it.
    pub cache_dir: Option<PathBuf>,
    /// Refuse images with more pixels than this.
    pub max_pixels: u64,
    /// Where the network runs.
    pub device: &'a B::Device,
    /// Where progress and problems go.
    pub on_event: &'a OnEvent<'a>,
}

impl<B: Backend> Context<'_, B> {
    /// FID between the sets and how it was made; images and a distance that failed are
    /// added to `failed`.
    pub(super) fn distance(&self, sets: &Sets, failed: &mut Vec<Failure>) -> Result<FidRecord> {
        let (a, restored_cache) = self.features(&sets.restored, failed)?;
        let (b, gt_cache) = self.features(&sets.gt, failed)?;
        let to64 = |v: &[Vec<f32>]| -> Vec<Vec<f64>> {
            v.iter()
                .map(|f| f.iter().map(|x| f64::from(*x)).collect())
                .collect()
        };
        let value = match frechet_distance_features(&to64(&a), &to64(&b)) {
            Ok(v) => Some(v),
            Err(e) => {
                (self.on_event)(EvalEvent::FidUndefined(&e));
                failed.push(Failure {
                    file: "(FID)".to_owned(),
                    error: e.to_string(),
                });
                None
            }
        };
        Ok(FidRecord {
            value,
            restored_images: a.len(),
            gt_images: b.len(),
            restored_cache: restored_cache.map(|p| p.display().to_string()),
            gt_cache: gt_cache.map(|p| p.display().to_string()),
        })
    }

    /// Inception features of `files`, from the cache when its key matches, else computed
    /// (and cached when every file succeeded). Returns the features and the cache file used.
    fn features(
        &self,
        files: &[PathBuf],
        failed: &mut Vec<Failure>,
    ) -> Result<(Vec<Vec<f32>>, Option<PathBuf>)> {
        let cache = match &self.cache_dir {
            Some(dir) => cache_file(dir, files, self.weights)?,
            None => None,
        };
        if let Some(path) = &cache
            && let Some(features) = load_features(path, POOL3_DIM)?
            && features.len() == files.len()
        {
            tracing::info!(cache = %path.display(), "FID features from cache");
            return Ok((features, cache));
        }
        let on_event = self.on_event;
        on_event(EvalEvent::FidFeaturesStarted {
            images: files.len(),
        });
        let results: Vec<std::result::Result<Vec<f32>, Failure>> = files
            .par_iter()
            .map(|path| {
                let out = load(path, self.max_pixels).and_then(|image| {
                    self.model
                        .features(&image, self.device)
                        .map_err(|e| Failure {
                            file: path.display().to_string(),
                            error: format!("{}: {e}", path.display()),
                        })
                });
                on_event(EvalEvent::FidFeatureDone);
                out
            })
            .collect();
        on_event(EvalEvent::FidFeaturesFinished);
        let mut features = Vec::new();
        let mut complete = true;
        for result in results {
            match result {
                Ok(f) => features.push(f),
                Err(failure) => {
                    on_event(EvalEvent::FidFailed(&failure));
                    failed.push(failure);
                    complete = false;
                }
            }
        }
        if let (Some(path), true) = (&cache, complete) {
            let written = features_to_bytes(&features)
                .and_then(|bytes| Ok(write_atomically(path, &bytes, true)?));
            if let Err(e) = written {
                on_event(EvalEvent::FidCacheNotWritten(&e));
            }
        }
        Ok((features, cache))
    }
}
