//! The batch job behind the `diffmac-eval` tool: a folder (or file) of restored faces and,
//! optionally, a folder of ground truth in; per-image scores, their summary, FID between the
//! sets and a JSON report out.
//!
//! Rules of a run, in order: the metrics asked for, or the defaults ([`choose_metrics`]); an
//! existing report file is never replaced unless asked; each network is loaded only when one
//! of the metrics needs it; images are paired by file stem; a bad image or a metric that fails
//! on one image fails alone and the rest of the batch goes on; Inception features of a set are
//! cached beside the report ([`EvalOptions::fid_cache_dir`]).
//!
//! - `event`: what a run tells its caller as it goes ([`EvalEvent`]);
//! - `networks`: the networks the chosen metrics need;
//! - `record`: the report ([`EvalReport`]) as the JSON file holds it;
//! - `score`: the per-image metrics (LMD and identity included);
//! - `fid`: features of both sets, their cache, and the distance.

mod event;
mod fid;
mod networks;
mod record;
mod score;

pub use event::{EvalEvent, LeftOut};
pub use record::{EvalReport, Failure, FidRecord, ReportOptions};

use event::OnEvent;
use networks::Networks;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use burn::tensor::backend::Backend;
use diffmac_io::{DEFAULT_MAX_PIXELS, write_atomically};
use rayon::prelude::*;

use crate::error::{EvalError, Result};
use crate::lpips::LpipsNet;
use crate::metric::Metric;
use crate::options::FullReferenceOptions;
use crate::pairing::{Pairing, pair_folders};
use crate::report::{MetricSummary, summarize};
use crate::ssim::SsimConvention;

/// [`diffmac_id::DEFAULT_DLIB_WEIGHTS`] (where `scripts/fetch_identity_weights.sh` puts the
/// identity network, the restorer's default too) when that file exists, so identity metrics
/// run by default once the network has been fetched.
pub fn default_id_weights() -> Option<PathBuf> {
    let path = Path::new(diffmac_id::DEFAULT_DLIB_WEIGHTS);
    path.is_file().then(|| path.to_path_buf())
}

/// Everything a run needs.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Folder (or one file) of restored images.
    pub restored: PathBuf,
    /// Folder of ground-truth images, paired with the restored ones by file stem.
    pub gt: Option<PathBuf>,
    /// Metrics to compute; empty for the defaults of [`choose_metrics`].
    pub metrics: Vec<Metric>,
    /// PSNR/SSIM/NIQE border crop and Y channel (basicsr's parameters).
    pub full_reference: FullReferenceOptions,
    /// Which SSIM definition.
    pub ssim_convention: SsimConvention,
    /// LPIPS backbone.
    pub lpips_net: LpipsNet,
    /// torchvision backbone weights for LPIPS (safetensors).
    pub lpips_weights: Option<PathBuf>,
    /// Identity encoder for idcos/iddeg (safetensors or `.pth`).
    pub id_weights: Option<PathBuf>,
    /// Kind of `id_weights`: `auto`, `arcface_iresnet` or `dlib_resnet_v1`.
    pub id_kind: String,
    /// pytorch-fid's Inception-v3 (safetensors), for FID.
    pub fid_weights: Option<PathBuf>,
    /// Folder of the Inception feature caches (default: the report's folder).
    pub fid_cache: Option<PathBuf>,
    /// Where the JSON report goes; none is written without it.
    pub json: Option<PathBuf>,
    /// Replace an existing report.
    pub overwrite: bool,
    /// Refuse images with more pixels than this.
    pub max_pixels: u64,
}

impl EvalOptions {
    /// The tool's defaults for `restored`: no ground truth, default metrics, basicsr
    /// conventions, AlexNet LPIPS, no weights, no report.
    pub fn new(restored: impl Into<PathBuf>) -> Self {
        Self {
            restored: restored.into(),
            gt: None,
            metrics: Vec::new(),
            full_reference: FullReferenceOptions::default(),
            ssim_convention: SsimConvention::Basicsr,
            lpips_net: LpipsNet::Alex,
            lpips_weights: None,
            id_weights: None,
            id_kind: "auto".to_owned(),
            fid_weights: None,
            fid_cache: None,
            json: None,
            overwrite: false,
            max_pixels: DEFAULT_MAX_PIXELS,
        }
    }

    /// The folder of the Inception feature caches: `fid_cache`, else the report's folder;
    /// `None` (no cache) without either.
    pub fn fid_cache_dir(&self) -> Option<PathBuf> {
        self.fid_cache.clone().or_else(|| {
            self.json
                .as_ref()
                .and_then(|j| j.parent().map(Path::to_path_buf))
        })
    }
}

/// The metrics a run computes, sorted and without repeats: `options.metrics`, or by default
/// PSNR, SSIM and NIQE with ground truth, plus LPIPS, identity and FID when their weights are
/// given, and NIQE alone without ground truth. 5-point LMD only on request: it is not
/// comparable with papers' 98-point values. Full-reference metrics need ground truth.
pub fn choose_metrics(options: &EvalOptions) -> Result<Vec<Metric>> {
    let has_gt = options.gt.is_some();
    let mut metrics = if options.metrics.is_empty() {
        Metric::ALL
            .into_iter()
            .filter(|m| has_gt || !m.needs_reference())
            .filter(|m| *m != Metric::Lpips || options.lpips_weights.is_some())
            .filter(|m| !matches!(m, Metric::IdCos | Metric::IdDeg) || options.id_weights.is_some())
            .filter(|m| *m != Metric::Fid || options.fid_weights.is_some())
            .filter(|m| *m != Metric::Lmd)
            .collect()
    } else {
        options.metrics.clone()
    };
    metrics.sort();
    metrics.dedup();
    if !has_gt && let Some(&metric) = metrics.iter().find(|m| m.needs_reference()) {
        return Err(EvalError::NeedsGroundTruth { metric });
    }
    Ok(metrics)
}

/// The outcome of [`run_eval`].
#[derive(Clone, Debug)]
pub struct EvalRun {
    /// What the JSON report holds (written already when `json` was given).
    pub report: EvalReport,
    /// Restored images found (scored or failed).
    pub images_found: usize,
    /// From the start of the per-image pass until the report was written.
    pub elapsed: Duration,
}

impl EvalRun {
    /// Images on which at least one metric failed.
    pub fn metric_errors(&self) -> usize {
        self.report
            .images
            .iter()
            .filter(|i| !i.errors.is_empty())
            .count()
    }

    /// Whether every image was read, paired and scored by every metric.
    pub fn complete(&self) -> bool {
        self.report.failed.is_empty()
            && self.metric_errors() == 0
            && self.report.unpaired.is_empty()
            && self.report.ambiguous.is_empty()
    }
}

/// Scores the restored images of `options` on `device`: every chosen metric per image (in
/// parallel), FID between the sets, the summary, and the JSON report when `options.json` is
/// set. `on_event` hears of progress and problems as they happen ([`EvalEvent`]).
///
/// Fails as a whole on a usage problem (a full-reference metric without ground truth, a
/// network without its weights, an existing report, no images) or an unreadable weights
/// file; a bad image fails alone and is listed in the report.
pub fn run_eval<B: Backend>(
    options: &EvalOptions,
    device: &B::Device,
    on_event: impl Fn(EvalEvent<'_>) + Sync,
) -> Result<EvalRun> {
    let on_event: &OnEvent<'_> = &on_event;
    let metrics = choose_metrics(options)?;
    if let Some(json) = &options.json
        && !options.overwrite
        && json.exists()
    {
        return Err(EvalError::ReportExists { path: json.clone() });
    }
    let nets = Networks::<B>::load(options, &metrics, device, on_event)?;
    let pairing = pair_folders(&options.restored, options.gt.as_deref())?;
    if pairing.pairs.is_empty() {
        return Err(EvalError::NoImages {
            path: options.restored.clone(),
        });
    }
    let unpaired = left_out(&pairing, options.gt.is_some(), on_event);

    let start = Instant::now();
    let context = score::Context {
        metrics: &metrics,
        nets: &nets,
        options,
        device,
    };
    on_event(EvalEvent::ScoringStarted {
        images: pairing.pairs.len(),
    });
    let results: Vec<_> = pairing
        .pairs
        .par_iter()
        .map(|pair| {
            let result = context.score(pair);
            if let Ok(scores) = &result {
                tracing::info!(image = %pair.name, scores = ?scores.scores, "scored");
            }
            on_event(EvalEvent::Scored {
                pair,
                result: &result,
            });
            result
        })
        .collect();
    on_event(EvalEvent::ScoringFinished);
    let mut images = Vec::new();
    let mut failed = Vec::new();
    for result in results {
        match result {
            Ok(scores) => images.push(scores),
            Err(failure) => failed.push(failure),
        }
    }

    let mut summary = summarize(&images);
    let fid = match (&nets.inception, &options.fid_weights) {
        (Some(model), Some(weights)) => {
            let sets = fid::Sets::of(&pairing);
            let fid_context = fid::Context {
                model,
                weights,
                cache_dir: options.fid_cache_dir(),
                max_pixels: options.max_pixels,
                device,
                on_event,
            };
            let record = fid_context.distance(&sets, &mut failed)?;
            if let Some(value) = record.value {
                summary.insert(
                    Metric::Fid,
                    MetricSummary {
                        mean: value,
                        count: sets.restored.len(),
                        higher_is_better: false,
                    },
                );
            }
            Some(record)
        }
        _ => None,
    };
    on_event(EvalEvent::Summary(&summary));

    let report = EvalReport {
        restored: options.restored.display().to_string(),
        gt: options.gt.as_ref().map(|p| p.display().to_string()),
        options: ReportOptions::of(options, &metrics, nets.identity.as_ref()),
        metrics,
        summary,
        fid,
        images,
        failed,
        unpaired,
        ambiguous: pairing.ambiguous,
        skipped: pairing.skipped,
    };
    if let Some(json) = &options.json {
        write_atomically(json, &report.to_json()?, options.overwrite)?;
    }
    Ok(EvalRun {
        report,
        images_found: pairing.pairs.len(),
        elapsed: start.elapsed(),
    })
}

/// Reports the files left out of the pairs; returns the unpaired ones (with ground truth
/// given: restored images without it, then ground truth without a restored image).
fn left_out(pairing: &Pairing, has_gt: bool, on_event: &OnEvent<'_>) -> Vec<String> {
    for path in &pairing.skipped {
        on_event(EvalEvent::LeftOut {
            path,
            reason: LeftOut::NotAnImage,
        });
    }
    for path in &pairing.ambiguous {
        on_event(EvalEvent::LeftOut {
            path,
            reason: LeftOut::SameName,
        });
    }
    let mut unpaired = Vec::new();
    if has_gt {
        for pair in pairing.restored_without_gt() {
            on_event(EvalEvent::LeftOut {
                path: &pair.restored,
                reason: LeftOut::NoGroundTruth,
            });
            unpaired.push(pair.restored.display().to_string());
        }
        for path in &pairing.gt_without_restored {
            on_event(EvalEvent::LeftOut {
                path,
                reason: LeftOut::NoRestored,
            });
            unpaired.push(path.display().to_string());
        }
    }
    unpaired
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_gt() -> EvalOptions {
        EvalOptions {
            gt: Some("gt".into()),
            ..EvalOptions::new("restored")
        }
    }

    #[test]
    fn default_metrics_follow_ground_truth_and_weights() {
        let only_niqe = choose_metrics(&EvalOptions::new("restored")).unwrap();
        assert_eq!(only_niqe, [Metric::Niqe]);
        assert_eq!(
            choose_metrics(&with_gt()).unwrap(),
            [Metric::Psnr, Metric::Ssim, Metric::Niqe]
        );
        let all = EvalOptions {
            lpips_weights: Some("alex.safetensors".into()),
            id_weights: Some("id.safetensors".into()),
            fid_weights: Some("inception.safetensors".into()),
            ..with_gt()
        };
        // Every metric whose weights are given; never 5-point LMD by default.
        assert_eq!(
            choose_metrics(&all).unwrap(),
            [
                Metric::Psnr,
                Metric::Ssim,
                Metric::Lpips,
                Metric::Niqe,
                Metric::IdCos,
                Metric::IdDeg,
                Metric::Fid
            ]
        );
        // Weights without ground truth add nothing full-reference.
        let no_gt = EvalOptions { gt: None, ..all };
        assert_eq!(choose_metrics(&no_gt).unwrap(), [Metric::Niqe]);
    }

    #[test]
    fn requested_metrics_are_sorted_deduplicated_and_need_ground_truth() {
        let options = EvalOptions {
            metrics: vec![Metric::Lmd, Metric::Psnr, Metric::Lmd],
            ..with_gt()
        };
        assert_eq!(
            choose_metrics(&options).unwrap(),
            [Metric::Psnr, Metric::Lmd]
        );
        let options = EvalOptions {
            metrics: vec![Metric::Niqe, Metric::Ssim, Metric::Psnr],
            ..EvalOptions::new("restored")
        };
        match choose_metrics(&options) {
            Err(EvalError::NeedsGroundTruth { metric }) => assert_eq!(metric, Metric::Psnr),
            other => panic!("expected NeedsGroundTruth, got {other:?}"),
        }
    }

    #[test]
    fn feature_cache_goes_beside_the_report_unless_given() {
        let mut options = EvalOptions::new("restored");
        assert_eq!(options.fid_cache_dir(), None);
        options.json = Some("out/scores.json".into());
        assert_eq!(options.fid_cache_dir(), Some(PathBuf::from("out")));
        options.fid_cache = Some("cache".into());
        assert_eq!(options.fid_cache_dir(), Some(PathBuf::from("cache")));
    }

    #[test]
    fn a_missing_weights_file_is_named_before_any_image_is_read() {
        let options = EvalOptions {
            metrics: vec![Metric::Fid],
            ..EvalOptions::new("/nonexistent/diffmac-eval-restored")
        };
        let options = EvalOptions {
            gt: Some("/nonexistent/gt".into()),
            ..options
        };
        let device = Default::default();
        match run_eval::<burn::backend::Flex>(&options, &device, |_| {}) {
            Err(EvalError::MissingWeights { metric, what }) => {
                assert_eq!(metric, Metric::Fid);
                assert_eq!(what, "the Inception network");
            }
            other => panic!("expected MissingWeights, got {other:?}"),
        }
    }
}
