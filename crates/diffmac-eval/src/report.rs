//! Per-image scores and their summary (mean and count per metric), as the binary prints and
//! writes them.

use std::collections::BTreeMap;

use crate::metric::Metric;

/// The scores of one image (only the metrics that applied).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ImageScores {
    /// File stem shared by the restored and the ground-truth image.
    pub name: String,
    /// The restored image.
    pub restored: String,
    /// The ground-truth image, if paired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gt: Option<String>,
    /// Metric name → value (`null` in JSON for PSNR of identical images, which is +∞).
    pub scores: BTreeMap<Metric, f64>,
    /// Metrics that failed on this image, with the reason.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<Metric, String>,
}

/// Mean and count of one metric over a batch.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct MetricSummary {
    /// Mean over the images that have the metric (+∞ if one PSNR is infinite).
    pub mean: f64,
    /// Number of images averaged.
    pub count: usize,
    /// Whether larger is better.
    pub higher_is_better: bool,
}

/// Means and counts of every metric that has at least one value.
pub fn summarize(images: &[ImageScores]) -> BTreeMap<Metric, MetricSummary> {
    let mut out = BTreeMap::new();
    for metric in Metric::ALL {
        let values: Vec<f64> = images
            .iter()
            .filter_map(|i| i.scores.get(&metric).copied())
            .collect();
        if values.is_empty() {
            continue;
        }
        out.insert(
            metric,
            MetricSummary {
                mean: values.iter().sum::<f64>() / values.len() as f64,
                count: values.len(),
                higher_is_better: metric.higher_is_better(),
            },
        );
    }
    out
}

/// A plain-text table, one row per metric: name with ↑/↓, mean, count.
pub fn format_table(summary: &BTreeMap<Metric, MetricSummary>) -> String {
    let mut out = format!("{:<8} {:>12} {:>7}\n", "metric", "mean", "count");
    for (metric, s) in summary {
        let arrow = if s.higher_is_better { "↑" } else { "↓" };
        let mean = if s.mean.is_finite() {
            format!("{:.4}", s.mean)
        } else {
            format!("{}", s.mean)
        };
        out.push_str(&format!(
            "{:<8} {:>12} {:>7}\n",
            format!("{} {arrow}", metric.label()),
            mean,
            s.count
        ));
    }
    out
}
