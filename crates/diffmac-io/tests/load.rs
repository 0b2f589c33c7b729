//! Every kind of awkward input gets a clear, file-naming answer: converted with a note when it
//! can be used, a specific error when it cannot.

mod common;

use std::path::{Path, PathBuf};

use common::textured;
use diffmac_io::{IoError, Storage, load_image, save_image};
use image::{DynamicImage, ImageBuffer, Luma, LumaA, Rgb, Rgba};

const LIMIT: u64 = 1 << 24;

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn write_png(path: &Path, image: DynamicImage) -> PathBuf {
    image.save(path).unwrap();
    path.to_owned()
}

fn rgb8(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgb32F(textured(width, height))
        .to_rgb8()
        .into()
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let path = dir().path().join("absent.png");
    let err = load_image(&path, LIMIT).unwrap_err();
    assert!(matches!(err, IoError::Io { .. }), "{err}");
    assert!(err.to_string().contains("absent.png"));
}

#[test]
fn non_image_file_is_reported_as_such_whatever_its_extension() {
    let d = dir();
    for name in ["notes.txt", "fake.png", "empty.jpg"] {
        let path = d.path().join(name);
        let content: &[u8] = if name == "empty.jpg" {
            b""
        } else {
            b"hello, this is text\n"
        };
        std::fs::write(&path, content).unwrap();
        let err = load_image(&path, LIMIT).unwrap_err();
        assert!(matches!(err, IoError::NotAnImage { .. }), "{name}: {err}");
        assert!(err.to_string().contains(name) && err.to_string().contains("not an image"));
    }
}

#[test]
fn truncated_images_are_decode_errors() {
    let d = dir();
    for ext in ["png", "jpg"] {
        let full = write_png(&d.path().join(format!("full.{ext}")), rgb8(64, 64));
        let bytes = std::fs::read(&full).unwrap();
        let cut = d.path().join(format!("cut.{ext}"));
        std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
        let Err(err) = load_image(&cut, LIMIT) else {
            panic!("a truncated {ext} file must not load");
        };
        assert!(
            matches!(err, IoError::Decode { .. } | IoError::Truncated { .. }),
            "{ext}: {err}"
        );
        assert!(err.to_string().contains(&format!("cut.{ext}")));
    }
}

#[test]
fn sixteen_bit_png_keeps_its_precision() {
    let d = dir();
    let value = 40_000u16;
    let img = ImageBuffer::<Rgb<u16>, _>::from_pixel(8, 8, Rgb([value, 0, u16::MAX]));
    let path = write_png(&d.path().join("deep.png"), DynamicImage::ImageRgb16(img));
    let loaded = load_image(&path, LIMIT).unwrap();
    let px = loaded.rgb.get_pixel(3, 3);
    assert!(
        (px[0] - f32::from(value) / 65535.0).abs() < 1e-6,
        "{}",
        px[0]
    );
    assert_eq!((px[1], px[2]), (0.0, 1.0));
    assert!(
        loaded.notes.iter().any(|n| n.contains("Rgb16")),
        "{:?}",
        loaded.notes
    );
}

#[test]
fn grayscale_is_expanded_to_rgb() {
    let d = dir();
    let img = ImageBuffer::from_fn(16, 16, |x, _| Luma([(x * 10) as u8]));
    let path = write_png(&d.path().join("grey.png"), DynamicImage::ImageLuma8(img));
    let loaded = load_image(&path, LIMIT).unwrap();
    assert!(loaded.rgb.pixels().all(|p| p[0] == p[1] && p[1] == p[2]));
    assert!(loaded.notes.iter().any(|n| n.contains("grayscale")));
}

#[test]
fn alpha_is_kept_apart_from_the_colours() {
    let d = dir();
    let img = ImageBuffer::from_pixel(16, 16, Rgba([255u8, 0, 0, 10]));
    let path = write_png(&d.path().join("rgba.png"), DynamicImage::ImageRgba8(img));
    let loaded = load_image(&path, LIMIT).unwrap();
    assert_eq!(*loaded.rgb.get_pixel(0, 0), Rgb([1.0, 0.0, 0.0]));
    let alpha = loaded.alpha.expect("alpha kept");
    assert_eq!(alpha.dimensions(), (16, 16));
    assert!((alpha.get_pixel(3, 3)[0] - 10.0 / 255.0).abs() < 1e-6);
    let opaque = load_image(&write_png(&d.path().join("rgb.png"), rgb8(4, 4)), LIMIT).unwrap();
    assert!(opaque.alpha.is_none());
}

#[test]
fn cmyk_jpeg_is_converted_to_rgb() {
    let d = dir();
    let path = d.path().join("cmyk.jpg");
    // Pure cyan in CMYK (C=255, M=Y=K=0).
    let pixels: Vec<u8> = (0..32 * 32).flat_map(|_| [255u8, 0, 0, 0]).collect();
    jpeg_encoder::Encoder::new_file(&path, 95)
        .unwrap()
        .encode(&pixels, 32, 32, jpeg_encoder::ColorType::Cmyk)
        .unwrap();
    let loaded = load_image(&path, LIMIT).unwrap();
    assert_eq!(loaded.rgb.dimensions(), (32, 32));
    let px = loaded.rgb.get_pixel(16, 16);
    assert!(
        px[0] < 0.2 && px[1] > 0.8 && px[2] > 0.8,
        "cyan expected, got {px:?}"
    );
}

#[test]
fn oversized_images_are_refused_before_decoding() {
    let d = dir();
    let path = write_png(&d.path().join("big.png"), rgb8(300, 200));
    let err = load_image(&path, 50_000).unwrap_err();
    assert!(
        matches!(
            err,
            IoError::TooLarge {
                width: 300,
                height: 200,
                max_pixels: 50_000,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("big.png") && err.to_string().contains("--max-pixels"));
}

#[test]
fn files_too_big_for_the_pixel_limit_are_refused_unread() {
    let d = dir();
    let path = d.path().join("huge.png");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(64 << 20).unwrap(); // sparse: 64 MiB that take no disk space
    let err = load_image(&path, 1000).unwrap_err();
    assert!(matches!(err, IoError::FileTooLarge { .. }), "{err}");
    assert!(err.to_string().contains("huge.png"));
}

#[test]
fn exif_orientation_is_applied() {
    let d = dir();
    let path = d.path().join("rotated.jpg");
    let pixels: Vec<u8> = (0..40 * 20).flat_map(|_| [200u8, 100, 50]).collect();
    // A minimal big-endian EXIF block with Orientation = 6 (rotate 90° clockwise).
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08".to_vec();
    exif.extend_from_slice(&[0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0]);
    let mut encoder = jpeg_encoder::Encoder::new_file(&path, 95).unwrap();
    encoder.add_app_segment(1, exif).unwrap();
    encoder
        .encode(&pixels, 40, 20, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    let loaded = load_image(&path, LIMIT).unwrap();
    assert_eq!(loaded.rgb.dimensions(), (20, 40));
}

#[test]
fn alpha_grey_and_16_bit_files_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    // RGBA, 8-bit: alpha is kept.
    let rgba = ImageBuffer::from_fn(40, 30, |x, y| {
        Rgba([x as u8 * 6, y as u8 * 8, 100, (x * 6) as u8])
    });
    let path = dir.path().join("rgba.png");
    rgba.save(&path).unwrap();
    let p = load_image(&path, 1 << 20).unwrap();
    let alpha = p.alpha.as_ref().expect("alpha kept");
    assert_eq!(alpha.get_pixel(10, 3).0[0], 60.0 / 255.0);
    let out = dir.path().join("out.png");
    save_image(&out, &p.rgb, p.alpha.as_ref(), p.storage(), false).unwrap();
    let back = image::open(&out).unwrap().to_rgba8();
    assert_eq!(back, rgba);
    // Refuses to overwrite.
    assert!(save_image(&out, &p.rgb, None, Storage::RGB8, false).is_err());

    // Grey + alpha, 16-bit: grey is expanded on loading; written like the source, it is
    // grey + alpha and 16-bit again, bit for bit.
    let la = ImageBuffer::from_fn(20, 10, |x, y| {
        LumaA([x as u16 * 3000, 65535 - y as u16 * 1000])
    });
    let path = dir.path().join("grey16.png");
    image::DynamicImage::ImageLumaA16(la.clone())
        .save(&path)
        .unwrap();
    let p = load_image(&path, 1 << 20).unwrap();
    assert!(p.is_high_bit_depth());
    let px = p.rgb.get_pixel(5, 0).0;
    assert!(px[0] == px[1] && px[1] == px[2] && (px[0] - 15000.0 / 65535.0).abs() < 1e-6);
    assert!(p.is_grey());
    let out = dir.path().join("grey16_out.png");
    save_image(&out, &p.rgb, p.alpha.as_ref(), p.storage(), false).unwrap();
    let back = image::open(&out).unwrap();
    assert_eq!(back.color(), image::ColorType::La16);
    assert_eq!(back.to_luma_alpha16(), la);
    // As 16-bit colour when asked.
    let out = dir.path().join("grey16_rgb.png");
    let deep_rgb = Storage {
        high_bit_depth: true,
        grey: false,
    };
    save_image(&out, &p.rgb, p.alpha.as_ref(), deep_rgb, false).unwrap();
    let back = image::open(&out).unwrap().to_rgba16();
    assert_eq!(back.get_pixel(5, 2).0, [15000, 15000, 15000, 63535]);

    // Plain grey 8-bit: no alpha.
    let grey = ImageBuffer::from_fn(8, 8, |x, _| Luma([x as u8 * 30]));
    let path = dir.path().join("grey.png");
    grey.save(&path).unwrap();
    assert!(load_image(&path, 1 << 20).unwrap().alpha.is_none());
}

#[test]
fn colours_saved_as_grey_keep_the_bt601_luma() {
    let dir = tempfile::tempdir().unwrap();
    let rgb = image::Rgb32FImage::from_pixel(4, 4, Rgb([1.0, 0.0, 0.0]));
    let path = dir.path().join("red.png");
    let grey = Storage {
        high_bit_depth: false,
        grey: true,
    };
    save_image(&path, &rgb, None, grey, false).unwrap();
    let back = image::open(&path).unwrap();
    assert_eq!(back.color(), image::ColorType::L8);
    // 0.299 · 255 = 76.2.
    assert_eq!(back.to_luma8().get_pixel(0, 0).0, [76]);
}
