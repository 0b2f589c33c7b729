//! Each network against facenet-pytorch 2.6.0 with the same weights on the same inputs
//! (`scripts/reference/mtcnn_reference.py` wrote the fixture).

mod common;

use burn::tensor::{Tensor, TensorData};
use common::{B, fixture_tensor, max_abs_diff};
use diffmac_face::mtcnn::{ONet, PNet, RNet};

static FIXTURE: &[u8] = include_bytes!("fixtures/mtcnn_nets.safetensors");

fn input(name: &str) -> Tensor<B, 4> {
    let (shape, values) = fixture_tensor(FIXTURE, name);
    let shape: [usize; 4] = shape.try_into().unwrap();
    Tensor::from_data(TensorData::new(values, shape), &Default::default())
}

fn check<const D: usize>(got: Tensor<B, D>, name: &str, tol: f32) -> f32 {
    let (shape, want) = fixture_tensor(FIXTURE, name);
    assert_eq!(got.dims().to_vec(), shape, "{name}: shape");
    let got = got.into_data().convert::<f32>().into_vec::<f32>().unwrap();
    let err = max_abs_diff(&got, &want);
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    println!("{name}: max abs error {err:.3e} (max |value| {scale:.3})");
    assert!(
        err <= tol * scale.max(1.0),
        "{name}: max abs error {err} > {tol} x {scale}"
    );
    err
}

#[test]
fn pnet_matches_pytorch() {
    let net = PNet::<B>::pretrained(&Default::default()).unwrap();
    let out = net.forward(input("pnet.in"));
    check(out.reg, "pnet.reg", 1e-4);
    check(out.prob, "pnet.prob", 1e-4);
}

#[test]
fn rnet_matches_pytorch() {
    let net = RNet::<B>::pretrained(&Default::default()).unwrap();
    let out = net.forward(input("rnet.in"));
    check(out.reg, "rnet.reg", 1e-4);
    check(out.prob, "rnet.prob", 1e-4);
}

#[test]
fn onet_matches_pytorch() {
    let net = ONet::<B>::pretrained(&Default::default()).unwrap();
    let out = net.forward(input("onet.in"));
    check(out.reg, "onet.reg", 1e-4);
    check(out.landmarks, "onet.landmarks", 1e-4);
    check(out.prob, "onet.prob", 1e-4);
}
