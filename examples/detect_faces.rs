//! Finds the faces of a photo with `diffmac-face`: box, score and five landmarks per face, the
//! aligned 512×512 crops, and the paste-back that puts (restored) crops into the photo.
//!
//! ```sh
//! cargo run --release --example detect_faces -- examples/faces/obama.jpg --json
//! cargo run --release --example detect_faces -- PHOTO.jpg --crops out/crops \
//!     --annotate out/boxes.png --paste out/pasted.png
//! ```
//!
//! A photo without faces prints an empty list. Exit codes: 0 done, 1 the photo could not be
//! processed, 2 usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use diffmac::backend::{BACKEND_NAME, DefaultBackend, default_device};
use diffmac_face::faces::{align_face, find_faces};
use diffmac_face::paste::{PasteFace, PasteOptions, paste_faces_into_photo};
use diffmac_face::{
    Detection, Detector, DetectorKind, FaceMesh, FaceOptions, FaceSelection, Similarity,
};
use diffmac_io::{Storage, load_image, save_image};
use image::{Rgb, Rgb32FImage};
use serde_json::json;

#[derive(Parser, Debug, Clone)]
#[command(
    about = "Detect faces (RetinaFace or MTCNN), align them to the FFHQ template, paste them back"
)]
struct Args {
    /// The photo (any format the workspace reads; EXIF orientation is applied).
    photo: PathBuf,
    /// Print the faces as JSON (box, score, landmarks, alignment matrix) instead of text.
    #[arg(long)]
    json: bool,
    /// Write the aligned crops to this folder as `<photo stem>_face<NN>.png`.
    #[arg(long, value_name = "DIR")]
    crops: Option<PathBuf>,
    /// Write the photo with boxes and landmarks drawn.
    #[arg(long, value_name = "FILE")]
    annotate: Option<PathBuf>,
    /// Write the photo with the crops pasted back (unchanged, so the result should look like
    /// the input; with --demo-grey the crops are turned grey to show where the masks reach).
    #[arg(long, value_name = "FILE")]
    paste: Option<PathBuf>,
    /// Write one picture of the pipeline: the annotated photo, the aligned crops and the
    /// pasted result side by side (as in docs/faces.md).
    #[arg(long, value_name = "FILE")]
    figure: Option<PathBuf>,
    /// Turn the crops grey before pasting them back.
    #[arg(long)]
    demo_grey: bool,
    /// Paste through the face's outline (`face`, from the 468-point face mesh) or the whole
    /// feathered square (`box`).
    #[arg(long, default_value = "face", value_parser = ["face", "box"])]
    paste_mask: String,
    /// Up-scaling factor of the pasted photo.
    #[arg(long, default_value_t = 1)]
    upscale: u32,
    /// Side of the aligned crops.
    #[arg(long, default_value_t = 512)]
    face_size: u32,
    /// The face detector: retinaface (finds profile, tilted and small faces) or mtcnn.
    #[arg(long, default_value = "retinaface", value_parser = str::parse::<DetectorKind>)]
    detector: DetectorKind,
    /// Drop faces scoring below this [default: 0.8 with RetinaFace, 0.97 with MTCNN].
    #[arg(long)]
    min_score: Option<f32>,
    /// Keep at most this many faces (the largest).
    #[arg(long)]
    max_faces: Option<usize>,
    /// Keep only the largest face.
    #[arg(long, conflicts_with = "centre")]
    largest: bool,
    /// Keep only the face nearest the centre.
    #[arg(long)]
    centre: bool,
    /// Smallest face MTCNN searches for, in pixels of the detection copy.
    #[arg(long, default_value_t = 20.0)]
    min_face_size: f64,
    /// Detect on a copy of about this many pixels: photos with more are downscaled, smaller
    /// ones enlarged up to --detect-max-upscale times.
    #[arg(long, default_value_t = FaceOptions::default().detect_max_pixels)]
    detect_max_pixels: u64,
    /// Enlarge small photos for detection by at most this factor (1: never).
    #[arg(long, default_value_t = FaceOptions::default().detect_max_upscale)]
    detect_max_upscale: f64,
    /// Replace existing output files.
    #[arg(long)]
    overwrite: bool,
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Our errors already name the file and include their cause.
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let device = default_device();
    let detector = Detector::<DefaultBackend>::pretrained(args.detector, &device)?;
    let photo = load_image(&args.photo, diffmac::io::DEFAULT_MAX_PIXELS)?;
    let mut options = FaceOptions {
        min_score: args.min_score,
        max_faces: args.max_faces,
        face_size: args.face_size,
        detect_max_pixels: args.detect_max_pixels,
        detect_max_upscale: args.detect_max_upscale,
        ..Default::default()
    };
    options.mtcnn.min_face_size = args.min_face_size;
    options.selection = if args.largest {
        FaceSelection::Largest
    } else if args.centre {
        FaceSelection::Centre
    } else {
        FaceSelection::All
    };
    let start = std::time::Instant::now();
    let found = find_faces(&detector, &photo.rgb, &options)?;
    let detect_time = start.elapsed();
    let aligned = found
        .iter()
        .map(|d| align_face(&photo.rgb, d, &options))
        .collect::<Result<Vec<_>, _>>()?;

    if args.json {
        let faces: Vec<_> = aligned
            .iter()
            .map(|a| {
                json!({
                    "box": a.detection.bbox,
                    "score": a.detection.score,
                    "landmarks": a.detection.landmarks,
                    "to_crop": a.to_crop.matrix(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string(&faces)?);
    } else {
        println!(
            "{}: {}x{}, {} face(s) in {:.2} s on {BACKEND_NAME}",
            args.photo.display(),
            photo.rgb.width(),
            photo.rgb.height(),
            found.len(),
            detect_time.as_secs_f64()
        );
        for (i, d) in found.iter().enumerate() {
            let lm: Vec<String> = d
                .landmarks
                .iter()
                .map(|p| format!("({:.1}, {:.1})", p[0], p[1]))
                .collect();
            println!(
                "  face {i}: box ({:.1}, {:.1})-({:.1}, {:.1}), score {:.4}, landmarks {}",
                d.bbox[0],
                d.bbox[1],
                d.bbox[2],
                d.bbox[3],
                d.score,
                lm.join(" ")
            );
        }
    }

    let stem = args
        .photo
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(dir) = &args.crops {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("{}: cannot create folder: {e}", dir.display()))?;
        for (i, a) in aligned.iter().enumerate() {
            let path = dir.join(format!("{stem}_face{i:02}.png"));
            save_image(&path, &a.crop, None, photo.storage(), args.overwrite)?;
        }
    }
    if let Some(path) = &args.annotate {
        let drawn = annotate(&photo.rgb, &found);
        save_image(
            path,
            &drawn,
            photo.alpha.as_ref(),
            Storage::RGB8,
            args.overwrite,
        )?;
    }
    let crops: Vec<(Rgb32FImage, Similarity)> = aligned
        .iter()
        .map(|a| (a.crop.clone(), a.to_crop))
        .collect();
    let masks: Vec<Option<Vec<f32>>> = if args.paste_mask == "face" && !aligned.is_empty() {
        let mesh = FaceMesh::<DefaultBackend>::pretrained(&device)?;
        aligned.iter().map(|a| Some(mesh.paste_mask(a))).collect()
    } else {
        vec![None; aligned.len()]
    };
    if let Some(path) = &args.paste {
        let out = pasted(args, &photo, &crops, &masks)?;
        save_image(
            path,
            &out.rgb,
            out.alpha.as_ref(),
            out.storage(),
            args.overwrite,
        )?;
    }
    if let Some(path) = &args.figure {
        let out = pasted(
            &Args {
                upscale: 1,
                ..args.clone()
            },
            &photo,
            &crops,
            &masks,
        )?;
        let fig = figure(&annotate(&photo.rgb, &found), &crops, &out.rgb);
        save_image(path, &fig, None, Storage::RGB8, args.overwrite)?;
    }
    Ok(())
}

/// Annotated photo | crops stacked | pasted photo, 360 pixels high.
fn figure(
    annotated: &Rgb32FImage,
    crops: &[(Rgb32FImage, Similarity)],
    pasted: &Rgb32FImage,
) -> Rgb32FImage {
    use image::imageops::{FilterType, overlay, resize};
    let h = 360u32;
    let fit = |img: &Rgb32FImage| {
        let w = (f64::from(img.width()) * f64::from(h) / f64::from(img.height())).round() as u32;
        resize(img, w.max(1), h, FilterType::Triangle)
    };
    let (a, p) = (fit(annotated), fit(pasted));
    let n = crops.len().max(1) as u32;
    let side = (h - 4 * (n - 1)) / n;
    let gap = 8;
    let mut fig = Rgb32FImage::from_pixel(a.width() + side + p.width() + 2 * gap, h, Rgb([1.0; 3]));
    overlay(&mut fig, &a, 0, 0);
    for (i, (c, _)) in crops.iter().enumerate() {
        let small = resize(c, side, side, FilterType::Triangle);
        overlay(
            &mut fig,
            &small,
            i64::from(a.width() + gap),
            i64::from(i as u32 * (side + 4)),
        );
    }
    overlay(&mut fig, &p, i64::from(a.width() + side + 2 * gap), 0);
    fig
}

fn pasted(
    args: &Args,
    photo: &diffmac_io::LoadedImage,
    crops: &[(Rgb32FImage, Similarity)],
    masks: &[Option<Vec<f32>>],
) -> anyhow::Result<diffmac_io::LoadedImage> {
    let crops: Vec<(Rgb32FImage, Similarity)> = crops
        .iter()
        .map(|(c, t)| {
            let mut c = c.clone();
            if args.demo_grey {
                for p in c.pixels_mut() {
                    let g = 0.299 * p.0[0] + 0.587 * p.0[1] + 0.114 * p.0[2];
                    *p = Rgb([g; 3]);
                }
            }
            (c, *t)
        })
        .collect();
    let faces: Vec<PasteFace<'_>> = crops
        .iter()
        .zip(masks)
        .map(|((c, t), m)| PasteFace {
            face: c,
            to_crop: *t,
            outline: m.as_deref(),
        })
        .collect();
    let options = PasteOptions {
        upscale: args.upscale,
        ..Default::default()
    };
    Ok(paste_faces_into_photo(photo, &faces, &options)?)
}

/// The photo with each box drawn in green and the landmarks as red squares.
fn annotate(photo: &Rgb32FImage, faces: &[Detection]) -> Rgb32FImage {
    let mut out = photo.clone();
    let (w, h) = (out.width() as i64, out.height() as i64);
    let thick = ((w.min(h) as f32) / 300.0).ceil().max(1.0) as i64;
    let mut put = |x: i64, y: i64, c: [f32; 3]| {
        if (0..w).contains(&x) && (0..h).contains(&y) {
            out.put_pixel(x as u32, y as u32, Rgb(c));
        }
    };
    for d in faces {
        let [x1, y1, x2, y2] = d.bbox.map(|v| v.round() as i64);
        for t in 0..thick {
            for x in x1..=x2 {
                put(x, y1 + t, [0.1, 0.9, 0.2]);
                put(x, y2 - t, [0.1, 0.9, 0.2]);
            }
            for y in y1..=y2 {
                put(x1 + t, y, [0.1, 0.9, 0.2]);
                put(x2 - t, y, [0.1, 0.9, 0.2]);
            }
        }
        let r = thick + 1;
        for p in d.landmarks {
            let (px, py) = (p[0].round() as i64, p[1].round() as i64);
            for y in py - r..=py + r {
                for x in px - r..=px + r {
                    put(x, y, [1.0, 0.1, 0.1]);
                }
            }
        }
    }
    out
}
