//! One image's metrics: the full-reference ones against its ground truth (PSNR, SSIM, LPIPS,
//! identity, 5-point LMD) and NIQE. A metric that fails is recorded with the image and the
//! others go on; an image that cannot be read fails as a whole.

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::backend::Backend;
use diffmac_face::{DetectorConfig, Mtcnn};
use diffmac_id::IdentityNetwork;

use super::{EvalOptions, Failure, Networks};
use crate::identity::{IdentityScore, identity_score};
use crate::image::Image255;
use crate::landmarks::landmark_distance;
use crate::load::load_image255;
use crate::lpips::image_tensor;
use crate::metric::Metric;
use crate::niqe::niqe;
use crate::pairing::Pair;
use crate::psnr::psnr;
use crate::report::ImageScores;
use crate::ssim::ssim;

/// What scoring an image needs besides the image.
pub(super) struct Context<'a, B: Backend> {
    /// The chosen metrics.
    pub metrics: &'a [Metric],
    /// The networks they need.
    pub nets: &'a Networks<B>,
    /// Conventions and limits.
    pub options: &'a EvalOptions,
    /// Where the networks run.
    pub device: &'a B::Device,
}

impl<B: Backend> Context<'_, B> {
    /// Scores one restored image (and its ground truth when paired).
    pub(super) fn score(&self, pair: &Pair) -> Result<ImageScores, Failure> {
        let max_pixels = self.options.max_pixels;
        let restored = load(&pair.restored, max_pixels)?;
        let needs_gt = self.metrics.iter().any(|m| m.needs_reference());
        let gt = match (&pair.gt, needs_gt) {
            (Some(path), true) => Some(load(path, max_pixels)?),
            _ => None,
        };
        let mut scores = BTreeMap::new();
        let mut errors = BTreeMap::new();
        for &metric in self.metrics {
            match self.metric(metric, &restored, gt.as_ref()) {
                Some(Ok(v)) => {
                    scores.insert(metric, v);
                }
                Some(Err(e)) => {
                    errors.insert(metric, e);
                }
                None => {}
            }
        }
        Ok(ImageScores {
            name: pair.name.clone(),
            restored: pair.restored.display().to_string(),
            gt: pair.gt.as_ref().map(|p| p.display().to_string()),
            scores,
            errors,
        })
    }

    /// One metric of one image; `None` when it does not apply (set-level FID, a full-reference
    /// metric without ground truth, or a network that was not loaded).
    fn metric(
        &self,
        metric: Metric,
        restored: &Image255,
        gt: Option<&Image255>,
    ) -> Option<Result<f64, String>> {
        let options = &self.options.full_reference;
        let nets = self.nets;
        let value = match (metric, gt) {
            (Metric::Psnr, Some(gt)) => psnr(restored, gt, options),
            (Metric::Ssim, Some(gt)) => ssim(restored, gt, options, self.options.ssim_convention),
            (Metric::Lpips, Some(gt)) => nets.lpips.as_ref()?.distance_images(restored, gt),
            (Metric::IdCos | Metric::IdDeg, Some(gt)) => {
                let encoder = nets.identity.as_ref()?;
                return Some(identity(encoder, restored, gt, self.device).map(|s| {
                    if metric == Metric::IdCos {
                        s.cosine
                    } else {
                        s.degrees
                    }
                }));
            }
            (Metric::Niqe, _) => niqe(restored, options.crop_border),
            (Metric::Lmd, Some(gt)) => return Some(lmd(nets.mtcnn.as_ref()?, restored, gt)),
            // Set-level: computed after the per-image pass.
            (Metric::Fid, _) => return None,
            // Full-reference metric without ground truth: reported as unpaired.
            (_, None) => return None,
        };
        Some(value.map_err(|e| e.to_string()))
    }
}

/// LMD between the most confident MTCNN faces of the two images (5 landmarks).
fn lmd<B: Backend>(mtcnn: &Mtcnn<B>, restored: &Image255, gt: &Image255) -> Result<f64, String> {
    let config = DetectorConfig::default();
    let best = |image: &Image255, which: &str| -> Result<[[f32; 2]; 5], String> {
        let faces = mtcnn
            .detect(&image.to_rgb32f(), &config)
            .map_err(|e| e.to_string())?;
        faces
            .into_iter()
            .max_by(|a, b| a.score.total_cmp(&b.score))
            .map(|d| d.landmarks)
            .ok_or_else(|| format!("no face found in the {which} image"))
    };
    let a = best(restored, "restored")?;
    let b = best(gt, "ground-truth")?;
    landmark_distance(&a, &b).map_err(|e| e.to_string())
}

/// Identity cosine and angle between two FFHQ-aligned faces.
fn identity<B: Backend>(
    encoder: &IdentityNetwork<B>,
    restored: &Image255,
    gt: &Image255,
    device: &B::Device,
) -> Result<IdentityScore, String> {
    let embed = |image: &Image255| -> Result<Vec<f32>, String> {
        let t = image_tensor::<B>(image, device).map_err(|e| e.to_string())?;
        let e = encoder.embed_ffhq(t).map_err(|e| e.to_string())?;
        e.into_data()
            .convert::<f32>()
            .to_vec()
            .map_err(|e| format!("{e:?}"))
    };
    identity_score(&embed(restored)?, &embed(gt)?).map_err(|e| e.to_string())
}

/// Loads `path`, describing the failure for the report.
pub(super) fn load(path: &Path, max_pixels: u64) -> Result<Image255, Failure> {
    load_image255(path, max_pixels).map_err(|e| Failure {
        file: path.display().to_string(),
        error: e.to_string(),
    })
}
