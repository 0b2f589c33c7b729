//! The whole pipeline on the bundled real photos: detection counts and landmark geometry,
//! align → identity "restoration" → paste-back, and alignment of a synthetic photo made with a
//! known similarity.

mod common;

use common::{B, crate_path, photo};
use diffmac_face::faces::{align_face, alignment, find_faces};
use diffmac_face::paste::{PasteFace, PasteOptions, face_mask, paste_faces};
use diffmac_face::template::ffhq_template;
use diffmac_face::warp::{Border, WarpOptions, warp};
use diffmac_face::{Detection, FaceOptions, FaceSelection, Mtcnn, Similarity};
use diffmac_io::{DEFAULT_MAX_PIXELS, load_image};
use image::Rgb32FImage;

fn mtcnn() -> Mtcnn<B> {
    Mtcnn::pretrained(&Default::default()).unwrap()
}

fn check_geometry(name: &str, d: &Detection) {
    let [le, re, nose, lm, rm] = d.landmarks;
    let b = d.bbox;
    for p in d.landmarks {
        assert!(
            p[0] > b[0] && p[0] < b[2] && p[1] > b[1] && p[1] < b[3],
            "{name}: {p:?} outside {b:?}"
        );
    }
    assert!(le[0] < re[0] && lm[0] < rm[0], "{name}: left/right order");
    assert!(
        le[1].max(re[1]) < nose[1] && nose[1] < lm[1].min(rm[1]),
        "{name}: eyes, nose, mouth order"
    );
    assert!(
        nose[0] > le[0].min(lm[0]) && nose[0] < re[0].max(rm[0]),
        "{name}: nose between the sides"
    );
}

#[test]
fn one_face_per_sample_photo_with_ordered_landmarks() {
    let net = mtcnn();
    for name in ["astronaut.png", "obama.jpg", "biden.jpg"] {
        let p = load_image(&photo(name), DEFAULT_MAX_PIXELS).unwrap();
        let found = find_faces(&net, &p.rgb, &FaceOptions::default()).unwrap();
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        check_geometry(name, &found[0]);
    }
}

#[test]
fn two_faces_in_the_collage_selection_and_limits() {
    let net = mtcnn();
    let p = load_image(
        &crate_path("tests/fixtures/collage.png"),
        DEFAULT_MAX_PIXELS,
    )
    .unwrap();
    let all = find_faces(&net, &p.rgb, &FaceOptions::default()).unwrap();
    assert_eq!(all.len(), 2);
    assert!(all[0].area() >= all[1].area(), "largest first");
    for d in &all {
        check_geometry("collage", d);
    }
    let largest = FaceOptions {
        selection: FaceSelection::Largest,
        ..Default::default()
    };
    assert_eq!(
        find_faces(&net, &p.rgb, &largest).unwrap(),
        vec![all[0].clone()]
    );
    let one = FaceOptions {
        max_faces: Some(1),
        ..Default::default()
    };
    assert_eq!(find_faces(&net, &p.rgb, &one).unwrap().len(), 1);
    // The collage is 650 pixels wide; the centre is nearer the second (right) portrait's face?
    let centre = FaceOptions {
        selection: FaceSelection::Centre,
        ..Default::default()
    };
    let c = find_faces(&net, &p.rgb, &centre).unwrap();
    let mid = p.rgb.width() as f32 / 2.0;
    let dist = |d: &Detection| ((d.bbox[0] + d.bbox[2]) / 2.0 - mid).abs();
    assert_eq!(c.len(), 1);
    assert!(all.iter().all(|d| dist(&c[0]) <= dist(d) + 1e-3));
}

#[test]
fn a_photo_without_faces_gives_an_empty_list() {
    let net = mtcnn();
    let flat = Rgb32FImage::from_fn(200, 150, |x, y| {
        image::Rgb([x as f32 / 200.0, 0.5, y as f32 / 150.0])
    });
    assert!(
        find_faces(&net, &flat, &FaceOptions::default())
            .unwrap()
            .is_empty()
    );
    // Smaller than one 12x12 window at the finest scale (not enlarged), and images of one
    // and two pixels enlarged for either detector: no faces, no panic.
    let tiny = Rgb32FImage::new(10, 10);
    let as_is = FaceOptions {
        detect_max_upscale: 1.0,
        ..Default::default()
    };
    assert!(find_faces(&net, &tiny, &as_is).unwrap().is_empty());
    let retina = diffmac_face::RetinaFace::<B>::pretrained(&Default::default()).unwrap();
    for side in [1, 2] {
        let dot = Rgb32FImage::new(side, side);
        for options in [&as_is, &FaceOptions::default()] {
            assert!(find_faces(&net, &dot, options).unwrap().is_empty());
            assert!(find_faces(&retina, &dot, options).unwrap().is_empty());
        }
    }
}

#[test]
fn large_photos_are_detected_on_a_downscaled_copy() {
    let net = mtcnn();
    let p = load_image(&photo("biden.jpg"), DEFAULT_MAX_PIXELS).unwrap();
    // Nearly full size: the default copy of this 2.1-MP photo is 0.95 of it.
    let full = find_faces(&net, &p.rgb, &FaceOptions::default()).unwrap();
    let small = FaceOptions {
        detect_max_pixels: 400 * 400,
        ..Default::default()
    };
    let down = find_faces(&net, &p.rgb, &small).unwrap();
    assert_eq!(down.len(), 1);
    let err = full[0]
        .landmarks
        .iter()
        .zip(&down[0].landmarks)
        .map(|(a, b)| (a[0] - b[0]).hypot(a[1] - b[1]))
        .fold(0.0, f32::max);
    // 970x2204 detected at 265x603 (3.7x smaller): landmarks within a few full-size pixels.
    println!("biden.jpg detected at 1/3.7 scale: landmarks move by at most {err:.2} px");
    assert!(err < 8.0, "{err}");
}

/// Mean and max absolute difference over pixels where `weights > 0`.
fn masked_error(
    a: &Rgb32FImage,
    b: &Rgb32FImage,
    mask: &diffmac_face::paste::FaceMask,
) -> (f32, f32, usize) {
    let (mut sum, mut max, mut n) = (0.0f64, 0.0f32, 0usize);
    for yy in 0..mask.height {
        for xx in 0..mask.width {
            if mask.weights[yy * mask.width + xx] > 0.0 {
                let (x, y) = ((mask.x0 + xx) as u32, (mask.y0 + yy) as u32);
                for c in 0..3 {
                    let d = (a.get_pixel(x, y).0[c] - b.get_pixel(x, y).0[c]).abs();
                    sum += f64::from(d);
                    max = max.max(d);
                    n += 1;
                }
            }
        }
    }
    ((sum / n as f64) as f32, max, n / 3)
}

#[test]
fn align_identity_paste_back_reproduces_the_photo() {
    let net = mtcnn();
    let options = FaceOptions::default();
    for name in ["astronaut.png", "obama.jpg"] {
        let p = load_image(&photo(name), DEFAULT_MAX_PIXELS).unwrap();
        let det = find_faces(&net, &p.rgb, &options).unwrap();
        let aligned = align_face(&p.rgb, &det[0], &options).unwrap();
        let faces = [PasteFace {
            face: &aligned.crop,
            to_crop: aligned.to_crop,
            outline: None,
        }];
        let out = paste_faces(&p.rgb, &faces, &PasteOptions::default()).unwrap();
        let mask = face_mask(&aligned.to_crop, 512, p.rgb.width(), p.rgb.height(), 1);
        let (mean, max, n) = masked_error(&out, &p.rgb, &mask);
        println!(
            "{name}: align -> identity -> paste: {n} pixels blended, mean abs error {mean:.2e}, max {max:.2e} (of 1)"
        );
        // Two bicubic resamplings (into the crop and back) blur the sharpest edges a little:
        // the mean error is a fraction of one 8-bit level, single pixels on high-contrast
        // edges differ more.
        assert!(mean < 4e-3 && max < 0.25, "{name}: mean {mean}, max {max}");
        // Everything else is the input, bit for bit.
        let mut untouched = 0;
        for (x, y, px) in out.enumerate_pixels() {
            let inside = x as usize >= mask.x0
                && (x as usize) < mask.x0 + mask.width
                && y as usize >= mask.y0
                && (y as usize) < mask.y0 + mask.height
                && mask.weights[(y as usize - mask.y0) * mask.width + x as usize - mask.x0] > 0.0;
            if !inside {
                assert_eq!(
                    px.0.map(f32::to_bits),
                    p.rgb.get_pixel(x, y).0.map(f32::to_bits)
                );
                untouched += 1;
            }
        }
        assert!(untouched > 0);
    }
}

#[test]
fn a_known_similarity_is_undone_exactly_from_landmarks_and_closely_through_the_detector() {
    // A synthetic photo: the astronaut's aligned face placed by a known similarity (scaled to
    // 0.45, turned 25 degrees, shifted) on a larger canvas.
    let net = mtcnn();
    let options = FaceOptions::default();
    let p = load_image(&photo("astronaut.png"), DEFAULT_MAX_PIXELS).unwrap();
    let det = find_faces(&net, &p.rgb, &options).unwrap();
    let aligned = align_face(&p.rgb, &det[0], &options).unwrap();
    let known = Similarity::from_parts(0.45, 25f64.to_radians(), 260.0, 90.0); // crop -> photo
    // A grey surround: a mirrored border would add mirrored faces.
    let grey = WarpOptions {
        border: Border::Constant([0.5; 3]),
        ..Default::default()
    };
    let synthetic = warp(&aligned.crop, &known, 640, 480, &grey);

    // 1. With exact landmarks the transform comes back exactly.
    let template = ffhq_template(512);
    let exact = Detection {
        bbox: [0.0, 0.0, 640.0, 480.0],
        score: 1.0,
        landmarks: template.map(|p| known.apply(p).map(|v| v as f32)),
    };
    let back = alignment(&exact, 512).unwrap().compose(&known);
    for q in [[0.0, 0.0], [511.0, 0.0], [0.0, 511.0], [511.0, 511.0]] {
        let r = back.apply(q);
        assert!((r[0] - q[0]).hypot(r[1] - q[1]) < 1e-3, "{q:?} -> {r:?}");
    }

    // ... and re-aligning the synthetic photo gives the original crop back (inside the
    // region the synthetic photo holds at full detail, away from the crop's border).
    let realigned = warp(
        &synthetic,
        &alignment(&exact, 512).unwrap(),
        512,
        512,
        &WarpOptions::default(),
    );
    let (mut sum, mut n) = (0.0f64, 0);
    for y in 128..384 {
        for x in 128..384 {
            for c in 0..3 {
                sum += f64::from(
                    (realigned.get_pixel(x, y).0[c] - aligned.crop.get_pixel(x, y).0[c]).abs(),
                );
                n += 1;
            }
        }
    }
    // The synthetic photo holds the face at 0.45 x the crop's resolution, so the round trip
    // loses detail: compare coarsely.
    let mean = sum / f64::from(n);
    println!(
        "synthetic photo re-aligned with exact landmarks: mean abs error {mean:.3e} in the crop centre"
    );
    assert!(mean < 0.03, "{mean}");

    // 2. With detected landmarks the result is as good as MTCNN's landmarks, which are not
    // exactly equivariant under rotation and scaling: the template points land within 8 % of
    // the eye distance of where the known transform puts them.
    let found = find_faces(&net, &synthetic, &options).unwrap();
    assert_eq!(found.len(), 1);
    let to_crop = alignment(&found[0], 512).unwrap();
    let mut worst = 0.0f64;
    for t in template {
        let want = known.apply(t);
        let got = to_crop.inverse().apply(t);
        worst = worst.max((want[0] - got[0]).hypot(want[1] - got[1]));
    }
    let eye_distance = (template[1][0] - template[0][0]) * 0.45;
    println!(
        "synthetic photo (scale 0.45, 25 degrees) through the detector: recovered scale {:.4}, angle {:.2} deg, template points within {worst:.2} px (eye distance {eye_distance:.1} px)",
        to_crop.inverse().scale(),
        to_crop.inverse().angle().to_degrees()
    );
    assert!(worst < 0.08 * eye_distance, "{worst}");
}

#[test]
fn exif_rotated_photo_is_detected_upright() {
    // The collage stored turned a quarter to the left, with EXIF Orientation = 6 ("rotate 90°
    // clockwise to display"), as cameras write portrait shots.
    let collage = image::open(crate_path("tests/fixtures/collage.png"))
        .unwrap()
        .to_rgb8();
    let stored = image::imageops::rotate270(&collage);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rotated.jpg");
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08".to_vec();
    exif.extend_from_slice(&[0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0]);
    let mut encoder = jpeg_encoder::Encoder::new_file(&path, 95).unwrap();
    encoder.add_app_segment(1, exif).unwrap();
    let (w, h) = stored.dimensions();
    encoder
        .encode(
            stored.as_raw(),
            w as u16,
            h as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .unwrap();
    let p = load_image(&path, DEFAULT_MAX_PIXELS).unwrap();
    assert_eq!(p.rgb.dimensions(), collage.dimensions());
    let found = find_faces(&mtcnn(), &p.rgb, &FaceOptions::default()).unwrap();
    assert_eq!(found.len(), 2);
    for d in &found {
        check_geometry("rotated.jpg", d);
    }
}

#[test]
fn downscaled_detection_maps_coordinates_back() {
    // The collage blown up 4x (each pixel a 4x4 block) and detected with a pixel budget equal
    // to the collage's own size: the downscaled copy is the collage again, so the faces must be
    // the collage's, scaled by 4 about pixel centres.
    let net = mtcnn();
    let small = load_image(
        &crate_path("tests/fixtures/collage.png"),
        DEFAULT_MAX_PIXELS,
    )
    .unwrap()
    .rgb;
    let (w, h) = small.dimensions();
    let big = Rgb32FImage::from_fn(4 * w, 4 * h, |x, y| *small.get_pixel(x / 4, y / 4));
    let options = FaceOptions {
        detect_max_pixels: u64::from(w * h),
        ..Default::default()
    };
    // The collage itself, at its own size (the budget neither shrinks nor enlarges it).
    let want = find_faces(&net, &small, &options).unwrap();
    let got = find_faces(&net, &big, &options).unwrap();
    assert!(!want.is_empty());
    assert_eq!(got.len(), want.len());
    for (g, s) in got.iter().zip(&want) {
        for (gp, sp) in g.landmarks.iter().zip(&s.landmarks) {
            for k in 0..2 {
                let expected = (sp[k] + 0.5) * 4.0 - 0.5;
                assert!((gp[k] - expected).abs() < 0.05, "{gp:?} vs {sp:?}");
            }
        }
    }
}

#[test]
fn upsampled_detection_maps_coordinates_back() {
    // A small photo is detected on a 2x bilinear copy: the faces must be exactly those of that
    // copy, detected directly, mapped back about pixel centres, with either detector.
    let small = load_image(
        &crate_path("tests/fixtures/collage.png"),
        DEFAULT_MAX_PIXELS,
    )
    .unwrap()
    .rgb;
    let (w, h) = small.dimensions();
    let options = FaceOptions {
        detect_max_pixels: 4 * u64::from(w * h),
        ..Default::default()
    };
    let copy = diffmac_degrade::resize::resize(
        &small,
        2 * w,
        2 * h,
        diffmac_degrade::Interpolation::Bilinear,
    );
    let planes = diffmac_face::resample::Planes::from_rgb(&copy, 255.0, true);
    let retina = diffmac_face::RetinaFace::<B>::pretrained(&Default::default()).unwrap();
    let detectors: [&dyn diffmac_face::FaceDetector; 2] = [&retina, &mtcnn()];
    for detector in detectors {
        let got = find_faces(detector, &small, &options).unwrap();
        let min_score = detector.kind().default_min_score();
        let on_copy: Vec<_> = detector
            .detect_planes(&planes, &options)
            .unwrap()
            .into_iter()
            .filter(|d| d.score >= min_score)
            .collect();
        assert!(!got.is_empty(), "{}", detector.kind());
        assert_eq!(got.len(), on_copy.len(), "{}", detector.kind());
        for (g, c) in got.iter().zip(&on_copy) {
            for (gp, cp) in g.landmarks.iter().zip(&c.landmarks) {
                for k in 0..2 {
                    let expected = (cp[k] + 0.5) / 2.0 - 0.5;
                    assert!(
                        (gp[k] - expected).abs() < 1e-3,
                        "{}: {gp:?} vs {cp:?}",
                        detector.kind()
                    );
                }
            }
        }
    }
}
