//! Paste-back through the face mesh's outline: the restored face replaces the face, not the
//! hair and background of its square — at the photo's border, with two faces touching, and on
//! a face turned to the side.

mod common;

use common::{B, crate_path, photo};
use diffmac_face::faces::{align_face, find_faces};
use diffmac_face::paste::{PasteFace, PasteOptions, paste_faces};
use diffmac_face::{AlignedFace, FaceMesh, FaceOptions, RetinaFace};
use image::{Rgb, Rgb32FImage};

/// Pastes a grey crop over each face (with or without the outline) and returns the photo.
fn paste_grey(img: &Rgb32FImage, faces: &[AlignedFace], masks: &[Option<Vec<f32>>]) -> Rgb32FImage {
    let grey = Rgb32FImage::from_pixel(512, 512, Rgb([0.5, 0.5, 0.5]));
    let paste: Vec<PasteFace<'_>> = faces
        .iter()
        .zip(masks)
        .map(|(f, m)| PasteFace {
            face: &grey,
            to_crop: f.to_crop,
            outline: m.as_deref(),
        })
        .collect();
    paste_faces(img, &paste, &PasteOptions::default()).unwrap()
}

fn changed(a: &Rgb32FImage, b: &Rgb32FImage, x: u32, y: u32) -> bool {
    a.get_pixel(x, y) != b.get_pixel(x, y)
}

fn faces_of(img: &Rgb32FImage) -> Vec<AlignedFace> {
    let detector = RetinaFace::<B>::pretrained(&Default::default()).unwrap();
    let options = FaceOptions::default();
    find_faces(&detector, img, &options)
        .unwrap()
        .iter()
        .map(|d| align_face(img, d, &options).unwrap())
        .collect()
}

/// The astronaut photo cut so that her face meets the left border.
fn border_photo() -> Rgb32FImage {
    let full = image::open(photo("astronaut.png")).unwrap().to_rgb32f();
    image::imageops::crop_imm(&full, 200, 0, 312, 300).to_image()
}

#[test]
fn outline_keeps_hair_and_background_at_the_border() {
    let img = border_photo();
    let faces = faces_of(&img);
    assert_eq!(faces.len(), 1, "the cut face is found");
    let mesh = FaceMesh::<B>::pretrained(&Default::default()).unwrap();
    let mask = mesh.paste_mask(&faces[0]);
    let with_box = paste_grey(&img, &faces, &[None]);
    let with_outline = paste_grey(&img, &faces, &[Some(mask)]);
    let count = |out: &Rgb32FImage| {
        out.enumerate_pixels()
            .filter(|(x, y, _)| changed(&img, out, *x, *y))
            .count()
    };
    if let Ok(dir) = std::env::var("DIFFMAC_TEST_SAVE") {
        for (name, im) in [("box", &with_box), ("outline", &with_outline)] {
            image::DynamicImage::ImageRgb32F(im.clone())
                .to_rgb8()
                .save(format!("{dir}/border_{name}.png"))
                .unwrap();
        }
    }
    let (n_box, n_outline) = (count(&with_box), count(&with_outline));
    println!("pixels replaced: square {n_box}, outline {n_outline}");
    // The face itself (its landmarks clear of the border, where every mask fades out) is
    // replaced...
    let inside: Vec<_> = faces[0]
        .detection
        .landmarks
        .iter()
        .filter(|p| p[0] >= 8.0)
        .collect();
    assert!(inside.len() >= 3, "{:?}", faces[0].detection.landmarks);
    for p in inside {
        let (x, y) = (p[0].round() as u32, p[1].round() as u32);
        assert!(
            changed(&img, &with_outline, x, y),
            "landmark ({x}, {y}) replaced"
        );
    }
    // ...but the outline leaves much of the square — hair, helmet, background — alone.
    assert!(n_outline * 10 < n_box * 7, "{n_outline} vs {n_box}");
    // Above the forehead (the hair) the photo is kept with the outline, replaced with the box.
    let [x1, y1, x2, _] = faces[0].detection.bbox;
    let (hx, hy) = (((x1 + x2) / 2.0) as u32, (y1 - 15.0).max(0.0) as u32);
    assert!(changed(&img, &with_box, hx, hy));
    assert!(
        !changed(&img, &with_outline, hx, hy),
        "hair at ({hx}, {hy}) kept"
    );
}

#[test]
fn touching_faces_do_not_paste_over_each_other() {
    // Two copies of the astronaut's face, cheek to cheek.
    let full = image::open(photo("astronaut.png")).unwrap().to_rgb32f();
    let face = image::imageops::crop_imm(&full, 172, 30, 106, 180).to_image();
    let mut img = Rgb32FImage::new(212, 180);
    image::imageops::replace(&mut img, &face, 0, 0);
    image::imageops::replace(&mut img, &face, 106, 0);
    let faces = faces_of(&img);
    assert_eq!(faces.len(), 2, "both faces found");
    let mesh = FaceMesh::<B>::pretrained(&Default::default()).unwrap();
    // Paste over the left face only; the right face's eye and mouth corner next to the seam
    // must stay as they are with the outline (the square reaches them).
    let left = faces
        .iter()
        .min_by(|a, b| a.detection.bbox[0].total_cmp(&b.detection.bbox[0]))
        .unwrap()
        .clone();
    let right = faces
        .iter()
        .max_by(|a, b| a.detection.bbox[0].total_cmp(&b.detection.bbox[0]))
        .unwrap();
    let mask = mesh.paste_mask(&left);
    let with_box = paste_grey(&img, std::slice::from_ref(&left), &[None]);
    let with_outline = paste_grey(&img, std::slice::from_ref(&left), &[Some(mask)]);
    if let Ok(dir) = std::env::var("DIFFMAC_TEST_SAVE") {
        for (name, im) in [
            ("box", &with_box),
            ("outline", &with_outline),
            ("input", &img),
        ] {
            image::DynamicImage::ImageRgb32F(im.clone())
                .to_rgb8()
                .save(format!("{dir}/touching_{name}.png"))
                .unwrap();
        }
    }
    let mut reached_by_box = 0;
    for p in [right.detection.landmarks[0], right.detection.landmarks[3]] {
        let (x, y) = (p[0].round() as u32, p[1].round() as u32);
        reached_by_box += usize::from(changed(&img, &with_box, x, y));
        assert!(
            !changed(&img, &with_outline, x, y),
            "right face at ({x}, {y}) kept"
        );
    }
    println!("right face's points reached by the square: {reached_by_box} of 2");
    assert_eq!(
        reached_by_box, 2,
        "the test's faces are close enough to matter"
    );
}

#[test]
fn outline_follows_a_face_turned_to_the_side() {
    // scikit-image's cameraman (CC0), his face turned three-quarters to profile.
    let img = diffmac_io::load_image(
        &crate_path("tests/fixtures/camera.png"),
        diffmac_io::DEFAULT_MAX_PIXELS,
    )
    .unwrap()
    .rgb;
    let faces = faces_of(&img);
    assert_eq!(faces.len(), 1, "the turned face is found");
    let mesh = FaceMesh::<B>::pretrained(&Default::default()).unwrap();
    let mask = mesh.paste_mask(&faces[0]);
    let with_box = paste_grey(&img, &faces, &[None]);
    let with_outline = paste_grey(&img, &faces, &[Some(mask)]);
    if let Ok(dir) = std::env::var("DIFFMAC_TEST_SAVE") {
        for (name, im) in [("box", &with_box), ("outline", &with_outline)] {
            image::DynamicImage::ImageRgb32F(im.clone())
                .to_rgb8()
                .save(format!("{dir}/profile_{name}.png"))
                .unwrap();
        }
    }
    let d = &faces[0].detection;
    println!("box {:?}, landmarks {:?}", d.bbox, d.landmarks);
    let count = |out: &Rgb32FImage| {
        out.enumerate_pixels()
            .filter(|(x, y, _)| changed(&img, out, *x, *y))
            .count()
    };
    let (n_box, n_outline) = (count(&with_box), count(&with_outline));
    println!("pixels replaced: square {n_box}, outline {n_outline}");
    for p in d.landmarks {
        let (x, y) = (p[0].round() as u32, p[1].round() as u32);
        assert!(
            changed(&img, &with_outline, x, y),
            "landmark ({x}, {y}) replaced"
        );
    }
    assert!(n_outline * 10 < n_box * 7, "{n_outline} vs {n_box}");
    // His hair above the face is kept (the square replaces it).
    let (hx, hy) = (
        ((d.bbox[0] + d.bbox[2]) / 2.0) as u32,
        (d.bbox[1] - 10.0) as u32,
    );
    assert!(changed(&img, &with_box, hx, hy));
    assert!(
        !changed(&img, &with_outline, hx, hy),
        "hair at ({hx}, {hy}) kept"
    );
}
