//! The JSON report of a run, field for field as `diffmac-eval --json` writes it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::tensor::backend::Backend;
use diffmac_id::IdentityNetwork;
use serde::Serialize;

use super::EvalOptions;
use crate::error::Result;
use crate::lpips::LpipsNet;
use crate::metric::Metric;
use crate::report::{ImageScores, MetricSummary};
use crate::ssim::SsimConvention;

/// Everything a run found: what was compared, how, the scores and what went wrong.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    /// The restored folder (or file).
    pub restored: String,
    /// The ground-truth folder, if any.
    pub gt: Option<String>,
    /// The metrics computed.
    pub metrics: Vec<Metric>,
    /// The conventions and networks used.
    pub options: ReportOptions,
    /// Mean and count per metric (FID: the set-level value and the restored set's size).
    pub summary: BTreeMap<Metric, MetricSummary>,
    /// How FID was made, when it was asked for.
    pub fid: Option<FidRecord>,
    /// Per-image scores, in name order.
    pub images: Vec<ImageScores>,
    /// Files that could not be scored (and FID, when undefined).
    pub failed: Vec<Failure>,
    /// Restored images without ground truth and ground truth without restored image (only
    /// with a ground-truth folder).
    pub unpaired: Vec<String>,
    /// Files left out because another image in their folder has the same stem.
    pub ambiguous: Vec<PathBuf>,
    /// Folder entries without an image extension.
    pub skipped: Vec<PathBuf>,
}

impl EvalReport {
    /// The report as pretty-printed JSON. It goes through `serde_json::Value`, so every
    /// object's keys (the per-metric maps included) come in `serde_json::Map` order, as the
    /// tool has always written them.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        Ok(serde_json::to_vec_pretty(&serde_json::to_value(self)?)?)
    }
}

/// The run's conventions and networks, as the report records them.
#[derive(Clone, Debug, Serialize)]
pub struct ReportOptions {
    /// The identity encoder's file (recorded even when no identity metric ran).
    pub id_weights: Option<String>,
    /// The identity encoder's kind, when one was loaded.
    pub id_kind: Option<String>,
    /// The LPIPS backbone, when LPIPS ran.
    pub lpips_net: Option<LpipsNet>,
    /// The LPIPS backbone's file.
    pub lpips_weights: Option<String>,
    /// Pixels dropped from each edge before PSNR/SSIM/NIQE.
    pub crop_border: usize,
    /// PSNR/SSIM on the Y channel.
    pub test_y_channel: bool,
    /// The SSIM definition.
    pub ssim_convention: SsimConvention,
}

impl ReportOptions {
    /// The record of `options` for a run of `metrics` with `identity` loaded.
    pub(super) fn of<B: Backend>(
        options: &EvalOptions,
        metrics: &[Metric],
        identity: Option<&IdentityNetwork<B>>,
    ) -> Self {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        Self {
            id_weights: path(&options.id_weights),
            id_kind: identity.map(|e| e.kind().to_string()),
            lpips_net: metrics
                .contains(&Metric::Lpips)
                .then_some(options.lpips_net),
            lpips_weights: path(&options.lpips_weights),
            crop_border: options.full_reference.crop_border,
            test_y_channel: options.full_reference.test_y_channel,
            ssim_convention: options.ssim_convention,
        }
    }
}

/// How FID was made.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FidRecord {
    /// The distance (`null` when undefined, e.g. too few images).
    pub value: Option<f64>,
    /// Restored images whose features entered it.
    pub restored_images: usize,
    /// Ground-truth images whose features entered it.
    pub gt_images: usize,
    /// The restored set's feature cache, if one was used.
    pub restored_cache: Option<String>,
    /// The ground-truth set's feature cache, if one was used.
    pub gt_cache: Option<String>,
}

/// A file that could not be scored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The file (`(FID)` for the distance itself).
    pub file: String,
    /// Why, naming the file.
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report with a value of every kind: two metrics, an infinite PSNR, a failed metric,
    /// FID, every list non-empty.
    fn sample() -> EvalReport {
        let scores = BTreeMap::from([(Metric::Psnr, f64::INFINITY), (Metric::Niqe, 4.5)]);
        let summary = BTreeMap::from([
            (
                Metric::Psnr,
                MetricSummary {
                    mean: f64::INFINITY,
                    count: 1,
                    higher_is_better: true,
                },
            ),
            (
                Metric::Fid,
                MetricSummary {
                    mean: 12.5,
                    count: 2,
                    higher_is_better: false,
                },
            ),
        ]);
        EvalReport {
            restored: "out/restored".into(),
            gt: Some("data/gt".into()),
            metrics: vec![Metric::Psnr, Metric::Niqe, Metric::Lpips, Metric::Fid],
            options: ReportOptions {
                id_weights: Some("id.safetensors".into()),
                id_kind: None,
                lpips_net: Some(LpipsNet::Alex),
                lpips_weights: Some("alex.safetensors".into()),
                crop_border: 4,
                test_y_channel: true,
                ssim_convention: SsimConvention::Skimage,
            },
            summary,
            fid: Some(FidRecord {
                value: Some(12.5),
                restored_images: 2,
                gt_images: 3,
                restored_cache: None,
                gt_cache: Some("fid-features-gt-0123.safetensors".into()),
            }),
            images: vec![ImageScores {
                name: "a".into(),
                restored: "out/restored/a.png".into(),
                gt: Some("data/gt/a.png".into()),
                scores,
                errors: BTreeMap::from([(Metric::Lpips, "size mismatch".into())]),
            }],
            failed: vec![Failure {
                file: "out/restored/b.png".into(),
                error: "b.png: not an image".into(),
            }],
            unpaired: vec!["data/gt/c.png".into()],
            ambiguous: vec![PathBuf::from("out/restored/d.jpg")],
            skipped: vec![PathBuf::from("out/restored/notes.txt")],
        }
    }

    #[test]
    fn report_json_is_what_the_untyped_record_was() {
        let r = sample();
        // The record as the tool built it before the report was typed.
        let untyped = serde_json::json!({
            "restored": r.restored,
            "gt": r.gt,
            "metrics": r.metrics,
            "options": {
                "id_weights": r.options.id_weights,
                "id_kind": r.options.id_kind,
                "lpips_net": r.options.lpips_net,
                "lpips_weights": r.options.lpips_weights,
                "crop_border": r.options.crop_border,
                "test_y_channel": r.options.test_y_channel,
                "ssim_convention": r.options.ssim_convention,
            },
            "summary": r.summary,
            "fid": {
                "value": 12.5,
                "restored_images": 2,
                "gt_images": 3,
                "restored_cache": null,
                "gt_cache": "fid-features-gt-0123.safetensors",
            },
            "images": r.images,
            "failed": r.failed,
            "unpaired": r.unpaired,
            "ambiguous": r.ambiguous,
            "skipped": r.skipped,
        });
        let typed = r.to_json().unwrap();
        assert_eq!(
            String::from_utf8(typed).unwrap(),
            serde_json::to_string_pretty(&untyped).unwrap()
        );
    }

    #[test]
    fn report_json_fields() {
        let mut r = sample();
        let v: serde_json::Value = serde_json::from_slice(&r.to_json().unwrap()).unwrap();
        assert_eq!(
            v["metrics"],
            serde_json::json!(["psnr", "niqe", "lpips", "fid"])
        );
        assert_eq!(v["options"]["lpips_net"], "alex");
        assert_eq!(v["options"]["ssim_convention"], "skimage");
        // +∞ PSNR (identical images) is `null`, as JSON has no infinity.
        assert!(v["images"][0]["scores"]["psnr"].is_null());
        assert!(v["summary"]["psnr"]["mean"].is_null());
        assert_eq!(v["summary"]["fid"]["count"], 2);
        assert_eq!(v["images"][0]["errors"]["lpips"], "size mismatch");
        assert_eq!(v["failed"][0]["file"], "out/restored/b.png");
        assert_eq!(v["fid"]["gt_cache"], "fid-features-gt-0123.safetensors");
        // No FID asked for: `"fid": null`, not a missing key.
        r.fid = None;
        let v: serde_json::Value = serde_json::from_slice(&r.to_json().unwrap()).unwrap();
        assert!(v.as_object().unwrap().contains_key("fid") && v["fid"].is_null());
    }
}
