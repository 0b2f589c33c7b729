//! The whole MTCNN cascade against facenet-pytorch 2.6.0's `MTCNN.detect` on the bundled
//! photos (`scripts/reference/mtcnn_reference.py` wrote the fixture).

mod common;

use common::{B, detection_errors as errors, photo_or_fixture};
use diffmac_face::{DetectorConfig, Mtcnn};
use diffmac_io::{DEFAULT_MAX_PIXELS, load_image};
use serde_json::Value;

#[test]
fn detections_match_facenet_pytorch_on_the_sample_photos() {
    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/mtcnn_detections.json")).unwrap();
    let mtcnn = Mtcnn::<B>::pretrained(&Default::default()).unwrap();
    for (name, want) in fixture["photos"].as_object().unwrap() {
        let path = photo_or_fixture(name);
        let loaded = load_image(&path, DEFAULT_MAX_PIXELS).unwrap();
        let image = &loaded.rgb;
        assert_eq!(
            u64::from(image.width()),
            want["width"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            u64::from(image.height()),
            want["height"].as_u64().unwrap(),
            "{name}"
        );
        let pixel_sum: i64 = image
            .as_raw()
            .iter()
            .map(|v| (v * 255.0).round() as i64)
            .sum();
        let same_pixels = pixel_sum == want["pixel_sum"].as_i64().unwrap();
        let found = mtcnn.detect(image, &DetectorConfig::default()).unwrap();
        let want_faces = want["faces"].as_array().unwrap();
        assert_eq!(found.len(), want_faces.len(), "{name}: number of faces");
        for (i, (got, w)) in found.iter().zip(want_faces).enumerate() {
            let (box_err, lm_err, score_err) = errors(got, w);
            let ref_score = w["score"].as_f64().unwrap();
            println!(
                "{name} face {i} (score {ref_score:.4}): pixels as PIL decodes them: {same_pixels}; \
                 max error box {box_err:.2e} px, landmarks {lm_err:.2e} px, score {score_err:.2e}"
            );
            if same_pixels {
                // Same input: the same arithmetic up to f32 summation order.
                assert!(
                    box_err < 1e-2 && lm_err < 1e-2 && score_err < 1e-4,
                    "{name} face {i}"
                );
            } else if ref_score > 0.99 {
                // image's JPEG decoder differs from libjpeg by a level here and there; a clear
                // face moves by a fraction of a pixel.
                assert!(
                    box_err < 1.0 && lm_err < 1.0 && score_err < 1e-3,
                    "{name} face {i}"
                );
            }
            // A weak candidate (obama.jpg's 0.82 one) on differently decoded pixels only has to
            // be found.
        }
    }
}
