//! Identity similarity between a restored face and its ground truth from two identity
//! embeddings (any `diffmac_id::IdentityEncoder`): the cosine similarity, and its arc-cosine
//! in degrees, the "Deg."/"IDS" column of VQFR-style tables (lower angle is better).

use crate::error::{EvalError, Result};

/// Identity scores of one pair.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct IdentityScore {
    /// Cosine similarity of the two embeddings, in [-1, 1] (higher is better).
    pub cosine: f64,
    /// `acos(cosine)` in degrees, in [0, 180] (lower is better).
    pub degrees: f64,
}

/// Cosine similarity and angle of two embeddings of equal length.
pub fn identity_score(restored: &[f32], reference: &[f32]) -> Result<IdentityScore> {
    let undefined = |reason: &str| EvalError::Undefined {
        metric: "identity similarity",
        reason: reason.to_owned(),
    };
    if restored.len() != reference.len() || restored.is_empty() {
        return Err(undefined("embeddings of different or zero length"));
    }
    let dot: f64 = restored
        .iter()
        .zip(reference)
        .map(|(a, b)| f64::from(*a) * f64::from(*b))
        .sum();
    let na: f64 = restored
        .iter()
        .map(|a| f64::from(*a).powi(2))
        .sum::<f64>()
        .sqrt();
    let nb: f64 = reference
        .iter()
        .map(|b| f64::from(*b).powi(2))
        .sum::<f64>()
        .sqrt();
    if na == 0.0 || nb == 0.0 || !(na * nb).is_finite() {
        return Err(undefined("an embedding is zero or not finite"));
    }
    let cosine = (dot / (na * nb)).clamp(-1.0, 1.0);
    Ok(IdentityScore {
        cosine,
        degrees: cosine.acos().to_degrees(),
    })
}
