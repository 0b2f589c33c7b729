//! Comparing embeddings: L2 normalisation, cosine similarity and Euclidean distance.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// Norms below this are treated as this, so an all-zero embedding normalises to zero instead of
/// NaN.
pub const NORM_EPSILON: f32 = 1e-12;

/// Scales each row of `embeddings` `[N, D]` to unit Euclidean length; returns `[N, D]`.
pub fn l2_normalize<B: Backend>(embeddings: Tensor<B, 2>) -> Tensor<B, 2> {
    let norm = embeddings
        .clone()
        .powf_scalar(2.0)
        .sum_dim(1)
        .sqrt()
        .clamp_min(NORM_EPSILON);
    embeddings / norm
}

/// Row-wise cosine similarity of `a` and `b`, both `[N, D]`; returns `[N]` in [-1, 1].
pub fn cosine_similarity<B: Backend>(a: Tensor<B, 2>, b: Tensor<B, 2>) -> Tensor<B, 1> {
    (l2_normalize(a) * l2_normalize(b))
        .sum_dim(1)
        .squeeze_dim(1)
}

/// Cosine similarity of every row of `a` `[N, D]` with every row of `b` `[M, D]`; returns
/// `[N, M]`.
pub fn cosine_matrix<B: Backend>(a: Tensor<B, 2>, b: Tensor<B, 2>) -> Tensor<B, 2> {
    l2_normalize(a).matmul(l2_normalize(b).transpose())
}

/// Row-wise Euclidean distance of `a` and `b`, both `[N, D]`; returns `[N]`.
///
/// dlib's descriptors ([`crate::DlibResNet`]) are compared this way, with threshold 0.6.
pub fn euclidean_distance<B: Backend>(a: Tensor<B, 2>, b: Tensor<B, 2>) -> Tensor<B, 1> {
    (a - b).powf_scalar(2.0).sum_dim(1).sqrt().squeeze_dim(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    fn t(values: &[f32], rows: usize) -> Tensor<Flex, 2> {
        let cols = values.len() / rows;
        Tensor::from_data(
            TensorData::new(values.to_vec(), [rows, cols]),
            &Default::default(),
        )
    }

    #[test]
    fn cosine_of_known_vectors() {
        let a = t(&[1.0, 0.0, 3.0, 4.0, 0.0, 0.0], 3);
        let b = t(&[2.0, 0.0, -3.0, -4.0, 1.0, 1.0], 3);
        let got = cosine_similarity(a, b)
            .into_data()
            .into_vec::<f32>()
            .unwrap();
        assert!((got[0] - 1.0).abs() < 1e-6);
        assert!((got[1] + 1.0).abs() < 1e-6);
        assert_eq!(got[2], 0.0, "a zero vector has similarity 0, not NaN");
    }

    #[test]
    fn euclidean_of_known_vectors() {
        let a = t(&[0.0, 0.0, 1.0, 1.0], 2);
        let b = t(&[3.0, 4.0, 1.0, 1.0], 2);
        let got = euclidean_distance(a, b)
            .into_data()
            .into_vec::<f32>()
            .unwrap();
        assert_eq!(got, vec![5.0, 0.0]);
    }

    #[test]
    fn matrix_agrees_with_rows() {
        let a = t(&[1.0, 2.0, -1.0, 0.5], 2);
        let b = t(&[0.0, 1.0, 1.0, 1.0, 3.0, -2.0], 3);
        let m = cosine_matrix(a.clone(), b.clone())
            .into_data()
            .into_vec::<f32>()
            .unwrap();
        let n = l2_normalize(a).into_data().into_vec::<f32>().unwrap();
        assert!((n[0].hypot(n[1]) - 1.0).abs() < 1e-6);
        let row = cosine_similarity(t(&[1.0, 2.0], 1), t(&[3.0, -2.0], 1))
            .into_data()
            .into_vec::<f32>()
            .unwrap();
        assert!((m[2] - row[0]).abs() < 1e-6);
        assert_eq!(m.len(), 6);
    }
}
