//! The face mesh against the LiteRT interpreter running MediaPipe's `face_landmark.tflite`
//! (`scripts/reference/facemesh_reference.py` wrote the fixture).

mod common;

use burn::tensor::{Tensor, TensorData};
use common::{B, fixture_tensor, max_abs_diff, photo};
use diffmac_face::FaceMesh;
use diffmac_face::facemesh::{INPUT_SIZE, Roi};

static FIXTURE: &[u8] = include_bytes!("fixtures/facemesh_net.safetensors");
/// The fixture's input: rows 21..213, columns 129..321 of astronaut.png.
const TOP_LEFT: (u32, u32) = (21, 129);

#[test]
fn network_matches_litert() {
    let img = image::open(photo("astronaut.png")).unwrap().to_rgb8();
    let n = INPUT_SIZE;
    let mut data = vec![0.0f32; 3 * n * n];
    for c in 0..3 {
        for y in 0..n {
            for x in 0..n {
                let p = img.get_pixel(TOP_LEFT.1 + x as u32, TOP_LEFT.0 + y as u32);
                data[(c * n + y) * n + x] = f32::from(p[c]) / 255.0;
            }
        }
    }
    let mesh = FaceMesh::<B>::pretrained(&Default::default()).unwrap();
    let x = Tensor::<B, 4>::from_data(
        TensorData::new(data.clone(), [1, 3, n, n]),
        &Default::default(),
    );
    let got = mesh
        .net
        .forward(x)
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .unwrap();
    let (_, want) = fixture_tensor(FIXTURE, "landmarks");
    let err = max_abs_diff(&got, &want);
    println!("landmarks: max abs error {err:.3e} px of 192 against LiteRT");
    assert!(err < 2e-4, "{err}");

    // The same square taken through `Roi` (no resampling: one input pixel per photo pixel)
    // gives the same input, and the landmarks come back in photo coordinates.
    let photo_f = image::open(photo("astronaut.png")).unwrap().to_rgb32f();
    let roi = Roi {
        cx: f64::from(TOP_LEFT.1) + 95.5,
        cy: f64::from(TOP_LEFT.0) + 95.5,
        side: n as f64,
    };
    assert!(max_abs_diff(&FaceMesh::<B>::input(&photo_f, roi), &data) < 1e-6);
    let points = mesh.landmarks(&photo_f, roi);
    for (p, w) in points.iter().zip(want.chunks_exact(3)) {
        assert!((p[0] - (w[0] + TOP_LEFT.1 as f32 - 0.5)).abs() < 2e-3);
        assert!((p[1] - (w[1] + TOP_LEFT.0 as f32 - 0.5)).abs() < 2e-3);
    }
}
