//! Landmark distance (LMD): the mean Euclidean distance, in pixels, between corresponding
//! landmarks of the restored face and of its ground truth. Papers (e.g. VQFR, CodeFormer
//! evaluations) use 98-point (WFLW, AWing/HRNet) landmarks on 512×512 aligned faces; this
//! crate has MTCNN's 5 points (`diffmac_face`), so its LMD is a 5-point LMD and is not
//! numerically comparable with published 98-point values.

use crate::error::{EvalError, Result};

/// Mean distance between corresponding points (same count, at least one).
pub fn landmark_distance(restored: &[[f32; 2]], reference: &[[f32; 2]]) -> Result<f64> {
    if restored.len() != reference.len() || restored.is_empty() {
        return Err(EvalError::Undefined {
            metric: "LMD",
            reason: format!(
                "{} and {} landmarks; the same non-zero count is needed",
                restored.len(),
                reference.len()
            ),
        });
    }
    let total: f64 = restored
        .iter()
        .zip(reference)
        .map(|(a, b)| {
            let dx = f64::from(a[0]) - f64::from(b[0]);
            let dy = f64::from(a[1]) - f64::from(b[1]);
            dx.hypot(dy)
        })
        .sum();
    Ok(total / restored.len() as f64)
}
