//! dlib's face recognition ResNet against dlib itself: the chips and descriptors in
//! `fixtures/dlib_reference.safetensors` come from dlib 20.0.1 (`dlib-bin`,
//! `scripts/reference/dlib_reference.py`); the network from `scripts/fetch_identity_weights.sh`.
//! Without the fetched weights the tests print SKIPPED and pass.

mod common;

use burn::backend::Flex;
use burn::tensor::Tensor;
use diffmac_id::IdentityEncoder;

#[test]
fn descriptors_match_dlib() {
    let Some(net) = common::dlib_net("descriptors_match_dlib") else {
        return;
    };
    assert_eq!(net.input_size(), 150);
    assert_eq!(net.embedding_dim(), 128);
    assert!((net.distance_threshold - 0.6).abs() < 1e-6);
    let (chips, want, names) = common::reference();
    let got = net.embed(chips).into_data().into_vec::<f32>().unwrap();
    let mut worst = 0.0f32;
    for ((g, w), name) in got.chunks(128).zip(&want).zip(&names) {
        let err = g
            .iter()
            .zip(w)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        println!(
            "{name}: max abs error {err:.2e} (|descriptor| {:.3})",
            common::distance(w, &[0.0; 128])
        );
        worst = worst.max(err);
    }
    assert!(worst <= 1e-6, "max abs error {worst} > 1e-6");
}

#[test]
fn batch_of_one_equals_batch_row() {
    let Some(net) = common::dlib_net("batch_of_one_equals_batch_row") else {
        return;
    };
    let (chips, _, _) = common::reference();
    let all = net
        .embed(chips.clone())
        .into_data()
        .into_vec::<f32>()
        .unwrap();
    let one = net
        .embed(chips.narrow(0, 1, 1))
        .into_data()
        .into_vec::<f32>()
        .unwrap();
    let err = one
        .iter()
        .zip(&all[128..256])
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(err < 1e-5, "row 1 differs by {err} between batch sizes");
}

#[test]
fn wrong_input_size_is_an_error() {
    let Some(net) = common::dlib_net("wrong_input_size_is_an_error") else {
        return;
    };
    let x = Tensor::<Flex, 4>::zeros([1, 3, 112, 112], &Default::default());
    let err = net.try_forward(x).unwrap_err().to_string();
    assert!(err.contains("[N, 3, 150, 150]"), "{err}");
}
