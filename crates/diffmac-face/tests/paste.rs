//! Paste-back: several faces, faces at the border, up-scaling, untouched background bit for
//! bit; photo files with alpha, grey and 16 bits.

mod common;

use diffmac_face::Similarity;
use diffmac_face::paste::{
    PasteFace, PasteOptions, face_mask, from_upscaled, paste_faces, paste_faces_into_photo,
};
use diffmac_io::load_image;
use image::{ImageBuffer, Rgb, Rgb32FImage, Rgba};

fn photo(w: u32, h: u32) -> Rgb32FImage {
    Rgb32FImage::from_fn(w, h, |x, y| {
        Rgb([
            (x % 17) as f32 / 16.0,
            (y % 13) as f32 / 12.0,
            ((x + y) % 7) as f32 / 6.0,
        ])
    })
}

fn masks_cover(masks: &[diffmac_face::paste::FaceMask], x: u32, y: u32) -> bool {
    masks.iter().any(|m| {
        let (x, y) = (x as usize, y as usize);
        x >= m.x0
            && x < m.x0 + m.width
            && y >= m.y0
            && y < m.y0 + m.height
            && m.weights[(y - m.y0) * m.width + x - m.x0] > 0.0
    })
}

#[test]
fn several_faces_and_a_face_over_the_border() {
    let bg = photo(300, 200);
    let red = Rgb32FImage::from_pixel(512, 512, Rgb([1.0, 0.0, 0.0]));
    let blue = Rgb32FImage::from_pixel(512, 512, Rgb([0.0, 0.0, 1.0]));
    // Face 1: a 100-pixel face at (20..120, 30..130), turned 10 degrees; face 2 hangs over
    // the right and bottom edges.
    let f1 = Similarity::from_parts(100.0 / 512.0, 10f64.to_radians(), 20.0, 30.0).inverse();
    let f2 = Similarity::from_parts(160.0 / 512.0, -0.3, 220.0, 110.0).inverse();
    let faces = [
        PasteFace {
            face: &red,
            to_crop: f1,
            outline: None,
        },
        PasteFace {
            face: &blue,
            to_crop: f2,
            outline: None,
        },
    ];
    let out = paste_faces(&bg, &faces, &PasteOptions::default()).unwrap();
    assert_eq!(out.dimensions(), bg.dimensions());
    let masks = [
        face_mask(&f1, 512, 300, 200, 1),
        face_mask(&f2, 512, 300, 200, 1),
    ];
    let mut untouched = 0;
    for (x, y, px) in out.enumerate_pixels() {
        if !masks_cover(&masks, x, y) {
            assert_eq!(
                px.0.map(f32::to_bits),
                bg.get_pixel(x, y).0.map(f32::to_bits),
                "({x}, {y})"
            );
            untouched += 1;
        }
    }
    assert!(untouched > 300 * 200 / 2, "{untouched}");
    // The centres are fully replaced; the edges are feathered.
    let near = |a: [f32; 3], b: [f32; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
    let c1 = f1.inverse().apply([256.0, 256.0]);
    let p1 = out.get_pixel(c1[0] as u32, c1[1] as u32).0;
    assert!(near(p1, [1.0, 0.0, 0.0]), "{p1:?}");
    // Face 2's centre is outside the photo; a point well inside its crop is not.
    let c2 = f2.inverse().apply([100.0, 100.0]);
    let p2 = out.get_pixel(c2[0] as u32, c2[1] as u32).0;
    assert!(near(p2, [0.0, 0.0, 1.0]), "{p2:?}");
    let m = &masks[0];
    let partial = m.weights.iter().filter(|&&w| w > 0.0 && w < 1.0).count();
    assert!(
        partial > 100,
        "a feathered edge, not a hard one ({partial} partial weights)"
    );
}

#[test]
fn upscaled_output_keeps_the_upscaled_background_outside_the_masks() {
    let bg = photo(120, 90);
    let grey = Rgb32FImage::from_pixel(512, 512, Rgb([0.5; 3]));
    let to_crop = Similarity::from_parts(60.0 / 512.0, 0.0, 30.0, 15.0).inverse();
    let options = PasteOptions {
        upscale: 2,
        ..Default::default()
    };
    let out = paste_faces(
        &bg,
        &[PasteFace {
            face: &grey,
            to_crop,
            outline: None,
        }],
        &options,
    )
    .unwrap();
    assert_eq!(out.dimensions(), (240, 180));
    let up =
        diffmac_degrade::resize::resize(&bg, 240, 180, diffmac_degrade::Interpolation::Bicubic);
    let mask = face_mask(&to_crop.compose(&from_upscaled(2)), 512, 240, 180, 2);
    for (x, y, px) in out.enumerate_pixels() {
        if !masks_cover(std::slice::from_ref(&mask), x, y) {
            assert_eq!(px, up.get_pixel(x, y));
        }
    }
    // The face's centre, at photo (60, 45), lands at (120.5, 90.5) in the output.
    assert!(
        out.get_pixel(120, 90)
            .0
            .iter()
            .all(|v| (v - 0.5).abs() < 1e-6)
    );
    assert!(
        paste_faces(
            &bg,
            &[],
            &PasteOptions {
                upscale: 0,
                ..Default::default()
            }
        )
        .is_err()
    );
}

#[test]
fn pasting_into_a_photo_keeps_its_alpha() {
    let dir = tempfile::tempdir().unwrap();
    let rgba = ImageBuffer::from_fn(64, 48, |x, y| {
        Rgba([x as u8 * 4, y as u8 * 5, 90, 255 - x as u8 * 3])
    });
    let path = dir.path().join("rgba.png");
    rgba.save(&path).unwrap();
    let p = load_image(&path, 1 << 20).unwrap();
    let face = Rgb32FImage::from_pixel(512, 512, Rgb([0.3, 0.6, 0.9]));
    let to_crop = Similarity::from_parts(30.0 / 512.0, 0.2, 15.0, 10.0).inverse();
    let faces = [PasteFace {
        face: &face,
        to_crop,
        outline: None,
    }];
    let same = paste_faces_into_photo(&p, &faces, &PasteOptions::default()).unwrap();
    assert_eq!(same.alpha, p.alpha);
    assert_ne!(same.rgb, p.rgb);
    let up = paste_faces_into_photo(
        &p,
        &faces,
        &PasteOptions {
            upscale: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let alpha = up.alpha.unwrap();
    assert_eq!(alpha.dimensions(), (128, 96));
    assert!(alpha.pixels().all(|a| (0.0..=1.0).contains(&a.0[0])));
    // Alpha falls from left to right in the input and still does.
    assert!(alpha.get_pixel(10, 50).0[0] > alpha.get_pixel(110, 50).0[0]);
}
