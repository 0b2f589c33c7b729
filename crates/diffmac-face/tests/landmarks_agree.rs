//! RetinaFace's five landmarks against MTCNN's on the frontal sample faces: the same points in
//! the same order, so that FFHQ alignment works the same with either detector.

mod common;

use common::{B, crate_path, photo};
use diffmac_face::faces::{alignment, find_faces};
use diffmac_face::{FaceOptions, Mtcnn, RetinaFace};
use diffmac_io::{DEFAULT_MAX_PIXELS, load_image};

fn dist(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

#[test]
fn retinaface_landmarks_match_mtcnn_on_frontal_faces() {
    let device = Default::default();
    let retina = RetinaFace::<B>::pretrained(&device).unwrap();
    let mtcnn = Mtcnn::<B>::pretrained(&device).unwrap();
    let options = FaceOptions::default();
    let photos = [
        photo("astronaut.png"),
        photo("obama.jpg"),
        photo("biden.jpg"),
        crate_path("tests/fixtures/collage.png"),
    ];
    let mut faces = 0;
    for path in photos {
        let img = load_image(&path, DEFAULT_MAX_PIXELS).unwrap().rgb;
        let ours = find_faces(&retina, &img, &options).unwrap();
        let theirs = find_faces(&mtcnn, &img, &options).unwrap();
        assert_eq!(ours.len(), theirs.len(), "{}: same faces", path.display());
        for (r, m) in ours.iter().zip(&theirs) {
            let eyes = dist(m.landmarks[0], m.landmarks[1]);
            let worst = r
                .landmarks
                .iter()
                .zip(&m.landmarks)
                .map(|(a, b)| dist(*a, *b))
                .fold(0.0, f32::max);
            // Where the two alignments put the face: the crop position of MTCNN's landmarks
            // under RetinaFace's transform, against the template.
            let ours_t = alignment(r, 512).unwrap();
            let theirs_t = alignment(m, 512).unwrap();
            let shift = m
                .landmarks
                .iter()
                .map(|p| {
                    let p = [f64::from(p[0]), f64::from(p[1])];
                    let (a, b) = (ours_t.apply(p), theirs_t.apply(p));
                    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
                })
                .fold(0.0, f64::max);
            println!(
                "{}: eye distance {eyes:.1} px, worst landmark {worst:.1} px ({:.1}% of it); \
                 aligned crops differ by at most {shift:.1} px of 512",
                path.display(),
                100.0 * worst / eyes
            );
            // Each detector places points with its own error: a tenth of the eye distance,
            // plus two pixels for the smallest faces (measured: 4% to 9%, 3.3 px at 20 px).
            assert!(
                worst < 0.1 * eyes + 2.0,
                "{}: landmarks differ by {worst} px",
                path.display()
            );
            assert!(
                shift < 20.0,
                "{}: alignments differ by {shift}",
                path.display()
            );
            faces += 1;
        }
    }
    assert_eq!(faces, 5);
}
