//! Scores of a restored face that a user can act on: how much it still looks like the input
//! (identity similarity, the cosine of two identity embeddings) and how natural it looks
//! (NIQE, lower is better). [`best_candidate`] picks among several restorations of one face
//! (`--best-of N`).
//!
//! Identity drift is the first complaint about face restorers; the identity network here is
//! the bundle's F_ID or any network of `diffmac-id`, so the score is the one the model was
//! trained to keep.

use std::cmp::Ordering;

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor};
use diffmac_eval::{Image255, niqe};
use diffmac_id::{IdentityNetwork, cosine_similarity};
use diffmac_io::{IoError, images_to_tensor};
use image::Rgb32FImage;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Identity similarities closer than this count as equal, and NIQE decides.
pub const IDENTITY_TIE: f64 = 1e-6;

/// The scores of one restored face; `None` where a score could not be computed (no identity
/// network, or a face too small for NIQE's 96-pixel patches).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct FaceScore {
    /// Cosine similarity of the identity embeddings of the input and the restored face.
    pub identity_similarity: Option<f64>,
    /// NIQE of the restored face (basicsr's convention, no border cropped).
    pub niqe: Option<f64>,
}

/// Computes [`FaceScore`]s with an optional identity network.
#[derive(Debug)]
pub struct FaceJudge<'a, B: Backend> {
    identity: Option<&'a IdentityNetwork<B>>,
}

impl<'a, B: Backend> FaceJudge<'a, B> {
    /// A judge that embeds faces with `identity` (any FFHQ-aligned size, see
    /// [`IdentityNetwork::embed_ffhq`]), or scores NIQE only.
    pub fn new(identity: Option<&'a IdentityNetwork<B>>) -> Self {
        Self { identity }
    }

    /// Whether identity similarities are computed.
    pub fn has_identity(&self) -> bool {
        self.identity.is_some()
    }

    /// Scores each of `restored` against the aligned `input` face it was restored from.
    ///
    /// # Errors
    /// The identity network failing on the faces (wrong sizes).
    pub fn score(
        &self,
        input: &Rgb32FImage,
        restored: &[&Rgb32FImage],
        device: &B::Device,
    ) -> Result<Vec<FaceScore>> {
        let similarities = match self.identity {
            Some(network) => {
                let mut faces = vec![input.clone()];
                faces.extend(restored.iter().map(|&r| r.clone()));
                // The identity networks run in f32 whatever the model's precision.
                let faces = images_to_tensor::<B>(&faces, device)?.cast(DType::F32);
                let embeddings = network.embed_ffhq(faces)?;
                let n = restored.len();
                let input = embeddings.clone().narrow(0, 0, 1).repeat_dim(0, n);
                let cos: Tensor<B, 1> = cosine_similarity(input, embeddings.narrow(0, 1, n));
                let values = cos
                    .cast(DType::F32)
                    .into_data()
                    .into_vec::<f32>()
                    .map_err(|e| IoError::Shape(format!("cannot read similarities: {e:?}")))?;
                values.into_iter().map(|v| Some(f64::from(v))).collect()
            }
            None => vec![None; restored.len()],
        };
        Ok(restored
            .iter()
            .zip(similarities)
            .map(|(&face, identity_similarity)| FaceScore {
                identity_similarity,
                niqe: niqe(&Image255::from_rgb32f(face, true), 0).ok(),
            })
            .collect())
    }
}

/// The index of the best of `scores`: highest identity similarity; within [`IDENTITY_TIE`],
/// or without identity, the lowest NIQE; with neither, the first. `None` only when `scores`
/// is empty.
pub fn best_candidate(scores: &[FaceScore]) -> Option<usize> {
    let better = |a: &FaceScore, b: &FaceScore| -> Ordering {
        if let (Some(x), Some(y)) = (a.identity_similarity, b.identity_similarity)
            && (x - y).abs() > IDENTITY_TIE
        {
            return x.total_cmp(&y);
        }
        match (a.niqe, b.niqe) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            _ => Ordering::Equal,
        }
    };
    let mut best = 0;
    for (i, s) in scores.iter().enumerate().skip(1) {
        if better(s, &scores[best]) == Ordering::Greater {
            best = i;
        }
    }
    (!scores.is_empty()).then_some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(id: Option<f64>, niqe: Option<f64>) -> FaceScore {
        FaceScore {
            identity_similarity: id,
            niqe,
        }
    }

    #[test]
    fn identity_decides_then_niqe_then_order() {
        assert_eq!(best_candidate(&[]), None);
        let by_id = [s(Some(0.5), Some(3.0)), s(Some(0.9), Some(9.0))];
        assert_eq!(best_candidate(&by_id), Some(1));
        let tie = [s(Some(0.9), Some(5.0)), s(Some(0.9 + 1e-8), Some(4.0))];
        assert_eq!(best_candidate(&tie), Some(1));
        let niqe_only = [s(None, Some(5.0)), s(None, Some(4.0)), s(None, Some(6.0))];
        assert_eq!(best_candidate(&niqe_only), Some(1));
        let nothing = [s(None, None), s(None, None)];
        assert_eq!(best_candidate(&nothing), Some(0));
        let exact_tie = [s(Some(0.7), Some(4.0)), s(Some(0.7), Some(4.0))];
        assert_eq!(best_candidate(&exact_tie), Some(0));
    }
}
