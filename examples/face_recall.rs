//! Recall and false positives of each face detector on a hand-annotated set of photos, with
//! the default face selection (what `diffmac-restore` would restore).
//!
//! ```sh
//! scripts/fetch_group_photos.sh
//! cargo run --release --example face_recall -- benches/group_photos/faces.json
//! ```
//!
//! The annotation file lists, per photo, every face's box and kind; faces marked `ignore` (too
//! small, or pictured on a poster) count neither as found nor as false. A detection matches an
//! annotated face when their IoU is at least 0.3, or when each box holds the other's centre
//! (detectors draw boxes of different shapes around the same face). Prints a Markdown table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use diffmac::backend::{DefaultBackend, default_device};
use diffmac::face::faces::find_faces;
use diffmac::face::{Detection, Detector, DetectorKind, FaceOptions};
use diffmac::io::{DEFAULT_MAX_PIXELS, load_image};
use serde::Deserialize;

#[derive(Parser, Debug)]
#[command(about = "Recall and false positives of the face detectors on annotated photos")]
struct Args {
    /// The annotation file (`benches/group_photos/faces.json`); images are looked up in
    /// `images/` beside it.
    annotations: PathBuf,
    /// Minimum IoU of a match.
    #[arg(long, default_value_t = 0.3)]
    min_iou: f32,
    /// Score threshold of both detectors [default: each detector's own].
    #[arg(long)]
    min_score: Option<f32>,
    /// Detect on a copy of about this many pixels (larger photos downscaled, smaller ones
    /// enlarged up to --detect-max-upscale times).
    #[arg(long, default_value_t = FaceOptions::default().detect_max_pixels)]
    detect_max_pixels: u64,
    /// Up-sample smaller photos for detection by at most this factor (1: never).
    #[arg(long, default_value_t = FaceOptions::default().detect_max_upscale)]
    detect_max_upscale: f64,
}

#[derive(Deserialize)]
struct Annotations {
    photos: Vec<Photo>,
}

#[derive(Deserialize)]
struct Photo {
    file: String,
    faces: Vec<Face>,
}

#[derive(Deserialize)]
struct Face {
    #[serde(rename = "box")]
    bbox: [f32; 4],
    kind: String,
    #[serde(default)]
    ignore: bool,
}

/// Counts of one detector on one photo.
#[derive(Default, Clone)]
struct Score {
    found: usize,
    false_positives: usize,
    seconds: f64,
    /// Per kind of face: (found, annotated).
    by_kind: BTreeMap<String, (usize, usize)>,
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let area = |r: &[f32; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    inter / (area(a) + area(b) - inter)
}

fn holds_centre(outer: &[f32; 4], inner: &[f32; 4]) -> bool {
    let (cx, cy) = ((inner[0] + inner[2]) / 2.0, (inner[1] + inner[3]) / 2.0);
    (outer[0]..=outer[2]).contains(&cx) && (outer[1]..=outer[3]).contains(&cy)
}

/// Greedy matching, best score first, each annotated face matched at most once.
fn score(found: &[Detection], faces: &[Face], min_iou: f32) -> Score {
    let mut order: Vec<&Detection> = found.iter().collect();
    order.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut taken = vec![false; faces.len()];
    let mut s = Score::default();
    for d in order {
        let best = faces
            .iter()
            .enumerate()
            .filter(|(i, f)| {
                !taken[*i]
                    && (iou(&d.bbox, &f.bbox) >= min_iou
                        || (holds_centre(&d.bbox, &f.bbox) && holds_centre(&f.bbox, &d.bbox)))
            })
            .max_by(|a, b| iou(&d.bbox, &a.1.bbox).total_cmp(&iou(&d.bbox, &b.1.bbox)));
        match best {
            Some((i, _)) => taken[i] = true,
            None => s.false_positives += 1,
        }
    }
    for (f, t) in faces.iter().zip(&taken) {
        if f.ignore {
            continue;
        }
        let entry = s.by_kind.entry(f.kind.clone()).or_default();
        entry.1 += 1;
        if *t {
            s.found += 1;
            entry.0 += 1;
        }
    }
    s
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.annotations)
        .with_context(|| format!("{}: cannot read", args.annotations.display()))?;
    let set: Annotations = serde_json::from_str(&text)
        .with_context(|| format!("{}: not an annotation file", args.annotations.display()))?;
    let images = args
        .annotations
        .parent()
        .unwrap_or(Path::new("."))
        .join("images");
    let device = default_device();
    let kinds = [DetectorKind::RetinaFace, DetectorKind::Mtcnn];
    let detectors = kinds
        .iter()
        .map(|&k| Detector::<DefaultBackend>::pretrained(k, &device))
        .collect::<Result<Vec<_>, _>>()?;
    let options = FaceOptions {
        min_score: args.min_score,
        detect_max_pixels: args.detect_max_pixels,
        detect_max_upscale: args.detect_max_upscale,
        ..FaceOptions::default()
    };

    println!(
        "| photo | faces (ignored) | {} |",
        kinds
            .iter()
            .map(|k| format!("{k} found / false / s"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|---|{}", "---|".repeat(kinds.len()));
    let mut totals = vec![Score::default(); kinds.len()];
    let (mut annotated, mut ignored) = (0, 0);
    for photo in &set.photos {
        let path = images.join(&photo.file);
        let img = load_image(&path, DEFAULT_MAX_PIXELS)?;
        let n = photo.faces.iter().filter(|f| !f.ignore).count();
        let n_ignored = photo.faces.len() - n;
        annotated += n;
        ignored += n_ignored;
        let mut cells = Vec::new();
        for (detector, total) in detectors.iter().zip(&mut totals) {
            let start = Instant::now();
            let found = find_faces(detector, &img.rgb, &options)?;
            let mut s = score(&found, &photo.faces, args.min_iou);
            s.seconds = start.elapsed().as_secs_f64();
            cells.push(format!(
                "{} / {} / {:.2}",
                s.found, s.false_positives, s.seconds
            ));
            total.found += s.found;
            total.false_positives += s.false_positives;
            total.seconds += s.seconds;
            for (kind, (f, a)) in s.by_kind {
                let e = total.by_kind.entry(kind).or_default();
                e.0 += f;
                e.1 += a;
            }
        }
        println!(
            "| {} | {n} ({n_ignored}) | {} |",
            photo.file,
            cells.join(" | ")
        );
    }
    println!(
        "| **all** | **{annotated}** ({ignored}) | {} |",
        totals
            .iter()
            .map(|s| format!(
                "**{}** / **{}** / {:.2}",
                s.found, s.false_positives, s.seconds
            ))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!();
    println!(
        "| kind of face | annotated | {} |",
        kinds
            .iter()
            .map(|k| format!("{k} found"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|---|{}", "---|".repeat(kinds.len()));
    for (kind, (_, n)) in &totals[0].by_kind {
        let cells: Vec<String> = totals
            .iter()
            .map(|s| s.by_kind.get(kind).map_or(0, |e| e.0).to_string())
            .collect();
        println!("| {kind} | {n} | {} |", cells.join(" | "));
    }
    Ok(())
}
