//! The FFHQ → ArcFace crop: geometry of the fitted map and behaviour of the resampling.

use burn::backend::Flex;
use burn::tensor::{Tensor, TensorData};
use diffmac_face::template::FFHQ_512;
use diffmac_id::preprocess::{ARCFACE_112, FaceCrop, ffhq_to_arcface};

type B = Flex;

#[test]
fn ffhq_landmarks_land_on_the_arcface_template() {
    let crop = FaceCrop::ffhq_to_arcface(512, 112).unwrap();
    assert!((crop.scale - 0.29209).abs() < 1e-4, "{crop:?}");
    let [x0, y0, x1, y1] = crop.source_box();
    assert!(
        (x0 - 64.76).abs() < 0.05 && (y0 - 61.18).abs() < 0.05,
        "{x0} {y0}"
    );
    assert!(
        x1 < 512.0 && y1 < 512.0,
        "the crop stays inside the face: {x1} {y1}"
    );
    for (p, q) in FFHQ_512.iter().zip(&ARCFACE_112) {
        let [x, y] = crop.apply(*p);
        assert!(
            (x - q[0]).hypot(y - q[1]) < 2.5,
            "{p:?} → ({x}, {y}), template {q:?}"
        );
    }
}

#[test]
fn crop_keeps_constants_and_follows_a_ramp() {
    let device = Default::default();
    let s = 64;
    let constant = Tensor::<B, 4>::full([2, 3, s, s], 0.25, &device);
    let out = ffhq_to_arcface(constant, 14).unwrap();
    assert_eq!(out.dims(), [2, 3, 14, 14]);
    for v in out.into_data().into_vec::<f32>().unwrap() {
        assert!((v - 0.25).abs() < 1e-6, "{v}");
    }

    // A horizontal ramp x ↦ x stays a ramp with the crop's geometry: output column i samples
    // input x = (i − tx) / scale (a symmetric filter keeps linear functions, up to the
    // discretisation of its weights: under 1/20 input pixel).
    let crop = FaceCrop::ffhq_to_arcface(s, 14).unwrap();
    let ramp: Vec<f32> = (0..3 * s * s).map(|k| (k % s) as f32).collect();
    let x = Tensor::<B, 4>::from_data(TensorData::new(ramp, [1, 3, s, s]), &device);
    let out = crop
        .forward(x)
        .unwrap()
        .into_data()
        .into_vec::<f32>()
        .unwrap();
    for i in 0..14 {
        let want = (i as f64 - crop.tx) / crop.scale;
        let got = f64::from(out[5 * 14 + i]);
        assert!((got - want).abs() < 0.05, "column {i}: {got} vs {want}");
    }
}

#[test]
fn wrong_sizes_are_errors() {
    let crop = FaceCrop::ffhq_to_arcface(512, 112).unwrap();
    let x = Tensor::<B, 4>::zeros([1, 3, 64, 64], &Default::default());
    assert!(crop.forward(x).unwrap_err().to_string().contains("512×512"));
    assert!(FaceCrop::ffhq_to_arcface(0, 112).is_err());
}
