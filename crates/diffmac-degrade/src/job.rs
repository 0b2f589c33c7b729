//! The batch job behind the `diffmac-degrade` tool: a file or a folder of high-quality faces in,
//! one degraded `<stem>.png` and one `<stem>.json` (the drawn parameters) per image out.
//!
//! Rules that protect the user's files: the output folder may not be the inputs' folder, an
//! existing output is never replaced unless asked, two inputs may not share an output name,
//! and every file is written atomically. A bad image fails alone; the rest of the batch goes on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use diffmac_io::{IoError, load_image, stream_rng, stream_seed, write_atomically};
use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageFormat, Rgb32FImage};
use rayon::prelude::*;
use serde::Serialize;

use crate::config::DegradationConfig;

use crate::error::{DegradeError, Result};
use crate::params::DegradationParams;
use crate::pipeline::degrade_random;

/// Everything a batch needs besides its inputs.
#[derive(Clone, Debug)]
pub struct JobOptions {
    /// Where `<stem>.png` and `<stem>.json` go; created if missing.
    pub output_dir: PathBuf,
    /// Run seed; each image gets its own stream derived from it and the file name.
    pub seed: u64,
    /// Eq. 14's ranges and probabilities.
    pub config: DegradationConfig,
    /// Side of the square high-quality image the degradation starts from.
    pub size: u32,
    /// Replace existing outputs.
    pub overwrite: bool,
    /// Refuse images with more pixels than this.
    pub max_pixels: u64,
}

/// What was done to one image.
#[derive(Clone, Debug, Serialize)]
pub struct Degraded {
    /// The input file.
    pub input: PathBuf,
    /// The degraded PNG.
    pub output: PathBuf,
    /// The seed of this image's random stream.
    pub stream_seed: u64,
    /// Size and colour type of the input file.
    pub source: SourceInfo,
    /// Conversions applied when loading and preparing the input.
    pub notes: Vec<String>,
    /// The drawn degradation.
    pub params: DegradationParams,
}

/// The input as it was stored.
#[derive(Clone, Debug, Serialize)]
pub struct SourceInfo {
    /// Width in pixels (after EXIF orientation).
    pub width: u32,
    /// Height in pixels (after EXIF orientation).
    pub height: u32,
    /// Colour type in the file, e.g. `Rgb8`, `L16`, `Rgba8`.
    pub color: String,
}

/// Degrades every input in parallel. Returns one result per input, in input order; `on_done`
/// is called with the input and its result as each finishes (from worker threads), e.g. to
/// advance a progress bar.
/// Fails as a whole only when the options themselves are unusable.
pub fn run_job(
    inputs: &[PathBuf],
    options: &JobOptions,
    on_done: impl Fn(&Path, &Result<Degraded>) + Sync,
) -> Result<Vec<Result<Degraded>>> {
    options.config.validate()?;
    if options.size == 0 {
        return Err(DegradeError::InvalidConfig(
            "size must be at least 1".into(),
        ));
    }
    let out_dir = &options.output_dir;
    std::fs::create_dir_all(out_dir).map_err(|source| IoError::io(out_dir, source))?;
    let out_canonical = out_dir
        .canonicalize()
        .map_err(|source| IoError::io(out_dir, source))?;
    for input in inputs {
        let folder = input
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if folder.canonicalize().is_ok_and(|f| f == out_canonical) {
            return Err(IoError::OutputIsInputFolder {
                path: out_dir.clone(),
            }
            .into());
        }
    }

    let mut owners: HashMap<PathBuf, &Path> = HashMap::new();
    let planned: Vec<Result<PathBuf>> = inputs
        .iter()
        .map(|input| {
            let stem = input.file_stem().unwrap_or(input.as_os_str());
            let output = out_dir.join(stem).with_extension("png");
            match owners.get(&output) {
                Some(other) => Err(IoError::OutputClash {
                    path: input.clone(),
                    output,
                    other: other.to_path_buf(),
                }
                .into()),
                None => {
                    owners.insert(output.clone(), input);
                    Ok(output)
                }
            }
        })
        .collect();

    Ok(inputs
        .par_iter()
        .zip(planned)
        .map(|(input, output)| {
            let result = output.and_then(|output| degrade_file(input, &output, options));
            on_done(input, &result);
            result
        })
        .collect())
}

/// Loads, prepares, degrades and saves one image.
fn degrade_file(input: &Path, output: &Path, options: &JobOptions) -> Result<Degraded> {
    let record_path = output.with_extension("json");
    if !options.overwrite {
        for path in [output, record_path.as_path()] {
            if path.exists() {
                return Err(IoError::OutputExists {
                    path: path.to_owned(),
                }
                .into());
            }
        }
    }
    let loaded = load_image(input, options.max_pixels)?;
    let (width, height) = loaded.rgb.dimensions();
    let mut notes = loaded.notes;
    if loaded.alpha.is_some() {
        notes.push("alpha channel dropped".to_owned());
    }
    let hq = prepare_hq(&loaded.rgb, options.size, &mut notes).ok_or_else(|| {
        DegradeError::from(IoError::TooSmall {
            path: input.to_owned(),
            width,
            height,
            min_side: options.size,
        })
    })?;

    let key = input
        .file_name()
        .unwrap_or(input.as_os_str())
        .as_encoded_bytes();
    let mut rng = stream_rng(options.seed, key);
    let (lq, params) = degrade_random(&hq, &options.config, &mut rng)?;

    let mut png = Vec::new();
    DynamicImage::ImageRgb32F(lq)
        .to_rgb8()
        .write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png)?;
    let degraded = Degraded {
        input: input.to_owned(),
        output: output.to_owned(),
        stream_seed: stream_seed(options.seed, key),
        source: SourceInfo {
            width,
            height,
            color: format!("{:?}", loaded.source_color),
        },
        notes,
        params,
    };
    let record = serde_json::to_vec_pretty(&degraded).expect("the record is plain data");
    write_atomically(output, &png, options.overwrite)?;
    write_atomically(&record_path, &record, options.overwrite)?;
    Ok(degraded)
}

/// Centre-crops to a square and shrinks it to `size × size` with a Lanczos filter, as face
/// datasets are prepared. `None` when the shorter side is below `size`.
pub fn prepare_hq(image: &Rgb32FImage, size: u32, notes: &mut Vec<String>) -> Option<Rgb32FImage> {
    let (width, height) = image.dimensions();
    let side = width.min(height);
    if side < size {
        return None;
    }
    let mut square = if width == height {
        image.clone()
    } else {
        notes.push(format!(
            "centre-cropped from {width}x{height} to {side}x{side}"
        ));
        imageops::crop_imm(image, (width - side) / 2, (height - side) / 2, side, side).to_image()
    };
    if side != size {
        notes.push(format!(
            "resized from {side}x{side} to {size}x{size} (Lanczos3)"
        ));
        square = imageops::resize(&square, size, size, FilterType::Lanczos3);
        square.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
    }
    Some(square)
}
