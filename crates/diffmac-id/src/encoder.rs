//! The identity-encoder trait (F_ID of Algorithm 1): aligned faces in, identity embeddings out.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::similarity::l2_normalize;

/// A face-recognition network used as the identity encoder F_ID.
///
/// Input: aligned faces as a `[N, 3, H, W]` tensor with values in [-1, 1], the layout of
/// `diffmac_io::images_to_tensor`, with `H = W =`
/// [`input_size`](IdentityEncoder::input_size) (see [`crate::preprocess`] to get there from a
/// 512×512 FFHQ-aligned face). Output: `[N, D]` embeddings with `D =`
/// [`embedding_dim`](IdentityEncoder::embedding_dim), not normalised; compare them with
/// [`crate::cosine_similarity`].
pub trait IdentityEncoder<B: Backend> {
    /// Side of the square input the network expects (112 for ArcFace).
    fn input_size(&self) -> usize;

    /// Length D of one embedding.
    fn embedding_dim(&self) -> usize;

    /// Embeds `[N, 3, S, S]` faces in [-1, 1] (S = `input_size`) into `[N, D]`.
    fn embed(&self, faces: Tensor<B, 4>) -> Tensor<B, 2>;

    /// [`embed`](IdentityEncoder::embed) followed by L2 normalisation of each row: `[N, D]`.
    fn embed_normalized(&self, faces: Tensor<B, 4>) -> Tensor<B, 2> {
        l2_normalize(self.embed(faces))
    }
}
