//! RetinaFace against its reference runtimes (`scripts/reference/retinaface_reference.py`
//! wrote the fixtures): the network's outputs against onnxruntime running the ONNX model the
//! weights come from, and whole detections against facexlib 0.3.0's `detect_faces`.

mod common;

use burn::tensor::{Tensor, TensorData};
use common::{B, detection_errors, fixture_tensor, max_abs_diff, photo, photo_or_fixture};
use diffmac_face::{RetinaFace, RetinaFaceConfig};
use diffmac_io::{DEFAULT_MAX_PIXELS, load_image};
use serde_json::Value;

static NET_FIXTURE: &[u8] = include_bytes!("fixtures/retinaface_net.safetensors");
/// The crop of astronaut.png the fixture's network input was made from: rows, columns.
const CROP: [u32; 4] = [60, 217, 170, 293];

/// The crop as the network's input: BGR, 8-bit units, means (104, 117, 123) subtracted.
fn crop_input() -> Tensor<B, 4> {
    let img = image::open(photo("astronaut.png")).unwrap().to_rgb8();
    let [r0, r1, c0, c1] = CROP;
    let (h, w) = ((r1 - r0) as usize, (c1 - c0) as usize);
    let mut data = vec![0.0f32; 3 * h * w];
    for (c, mean) in [104.0f32, 117.0, 123.0].into_iter().enumerate() {
        for y in 0..h {
            for x in 0..w {
                let p = img.get_pixel(c0 + x as u32, r0 + y as u32);
                data[(c * h + y) * w + x] = f32::from(p[2 - c]) - mean;
            }
        }
    }
    Tensor::from_data(TensorData::new(data, [1, 3, h, w]), &Default::default())
}

#[test]
fn network_outputs_match_onnxruntime() {
    let net = RetinaFace::<B>::pretrained(&Default::default()).unwrap();
    let out = net.net.forward(crop_input());
    for (got, name, tol) in [
        (out.loc, "loc", 2e-5),
        (out.conf, "conf", 2e-6),
        (out.landmarks, "landmarks", 2e-5),
    ] {
        let (shape, want) = fixture_tensor(NET_FIXTURE, name);
        assert_eq!(got.dims().to_vec(), shape, "{name}: shape");
        let got = got.into_data().convert::<f32>().into_vec::<f32>().unwrap();
        let err = max_abs_diff(&got, &want);
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        println!("{name}: max abs error {err:.3e} against onnxruntime (max |value| {scale:.3})");
        assert!(
            err <= tol * scale.max(1.0),
            "{name}: {err} > {tol} x {scale}"
        );
    }
}

#[test]
fn detections_match_facexlib() {
    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/retinaface_detections.json")).unwrap();
    let config = RetinaFaceConfig {
        candidate_threshold: fixture["conf_threshold"].as_f64().unwrap() as f32,
        nms_threshold: fixture["nms_threshold"].as_f64().unwrap() as f32,
    };
    let net = RetinaFace::<B>::pretrained(&Default::default()).unwrap();
    for (name, want) in fixture["photos"].as_object().unwrap() {
        let path = photo_or_fixture(name);
        let loaded = load_image(&path, DEFAULT_MAX_PIXELS).unwrap();
        let found = net.detect(&loaded.rgb, &config).unwrap();
        // facexlib orders by score, we by size: match each reference face to its nearest box.
        let want_faces = want["faces"].as_array().unwrap();
        assert_eq!(found.len(), want_faces.len(), "{name}: number of faces");
        for (i, w) in want_faces.iter().enumerate() {
            let got = found
                .iter()
                .min_by(|a, b| {
                    let ea = detection_errors(a, w).0;
                    ea.total_cmp(&detection_errors(b, w).0)
                })
                .unwrap();
            let (box_err, lm_err, score_err) = detection_errors(got, w);
            println!(
                "{name} face {i}: max error box {box_err:.2e} px, landmarks {lm_err:.2e} px, \
                 score {score_err:.2e}"
            );
            assert!(
                box_err < 2e-3 && lm_err < 2e-3 && score_err < 1e-5,
                "{name} face {i}"
            );
        }
    }
}
