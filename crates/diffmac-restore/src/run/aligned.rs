//! Aligned faces (`--aligned`): read a batch of square faces, restore those of one size
//! together (a batch of mixed sizes one by one), write each face's outputs and count them.

use std::time::Instant;

use burn::tensor::backend::Backend;
use diffmac_io::{Storage, load_image};
use image::Rgb32FImage;

use crate::error::{RestoreError, Result};
use crate::faces::{face_seed, restore_best_of};
use crate::layout::InputImage;
use crate::report::FaceEntry;
use crate::run::events::{Failure, Progress, RunEvent, Steps};
use crate::run::outputs::{face_storage, write_face_outputs};
use crate::run::{Context, RunOptions, Tally};

/// An aligned face read for restoring, with how its outputs are stored.
struct AlignedInput<'a> {
    image: &'a InputImage,
    face: Rgb32FImage,
    storage: Storage,
}

/// Restores a batch of aligned faces; failures are counted and told per file.
pub(crate) fn restore_batch<B: Backend>(
    cx: &Context<'_, B>,
    batch: &[&InputImage],
    tally: &mut Tally,
    progress: &mut dyn Progress,
) {
    let mut inputs = Vec::new();
    for image in batch {
        match load_aligned(cx.options, image) {
            Ok(input) => inputs.push(input),
            Err(err) => {
                tally.failed += 1;
                let failure = Failure::new(vec![image.path.clone()], &err);
                progress.event(&RunEvent::Failed(&failure));
                progress.event(&RunEvent::InputsDone(1));
            }
        }
    }
    let Some(first) = inputs.first() else {
        return;
    };
    // Faces of one batch must share a size: restore mismatching ones alone.
    let size = first.face.dimensions();
    if inputs.iter().any(|i| i.face.dimensions() != size) {
        for input in inputs {
            restore_same_size(cx, vec![input], tally, progress);
        }
        return;
    }
    restore_same_size(cx, inputs, tally, progress);
}

/// Restores faces of one size together and writes their outputs; a failure of the whole
/// batch (the pipeline, or writing a file) fails all its faces.
fn restore_same_size<B: Backend>(
    cx: &Context<'_, B>,
    inputs: Vec<AlignedInput<'_>>,
    tally: &mut Tally,
    progress: &mut dyn Progress,
) {
    let start = Instant::now();
    let result = restore_and_write(cx, &inputs, tally, progress);
    tally.restoring += start.elapsed();
    match result {
        Ok(failed) => {
            tally.failed += failed;
            tally.done += inputs.len() - failed;
            tally.faces += inputs.len() - failed;
        }
        Err(err) => {
            tally.failed += inputs.len();
            let paths = inputs.iter().map(|i| i.image.path.clone()).collect();
            progress.event(&RunEvent::Failed(&Failure::new(paths, &err)));
        }
    }
    progress.event(&RunEvent::InputsDone(inputs.len()));
}

/// Restores `inputs`, writes the outputs and report entries of each face that came out, and
/// tells the others; returns how many failed.
fn restore_and_write<B: Backend>(
    cx: &Context<'_, B>,
    inputs: &[AlignedInput<'_>],
    tally: &mut Tally,
    progress: &mut dyn Progress,
) -> Result<usize> {
    let seed = cx.options.restore.seed;
    let seeds: Vec<u64> = (inputs.iter())
        .map(|i| face_seed(seed, &i.image.name))
        .collect();
    let faces: Vec<Rgb32FImage> = inputs.iter().map(|i| i.face.clone()).collect();
    let restored = restore_best_of(
        cx.restorer,
        &faces,
        &seeds,
        &cx.face_run,
        &mut Steps(progress),
    )?;
    let mut failed = 0;
    for (input, r) in inputs.iter().zip(&restored) {
        match r {
            Ok(r) => {
                let (name, storage) = (&input.image.name, input.storage);
                write_face_outputs(cx.options, name, "", &input.face, &r.face, storage)?;
                (tally.entries.faces).push(FaceEntry::new(&input.image.path, 0, r));
            }
            Err(err) => {
                failed += 1;
                let failure = Failure {
                    inputs: vec![input.image.path.clone()],
                    message: err.to_string(),
                };
                progress.event(&RunEvent::Failed(&failure));
            }
        }
    }
    Ok(failed)
}

/// Reads an aligned face: square, and at least 16 pixels wide.
fn load_aligned<'a>(options: &RunOptions, image: &'a InputImage) -> Result<AlignedInput<'a>> {
    let loaded = load_image(&image.path, options.max_pixels)?;
    let (width, height) = loaded.rgb.dimensions();
    let path = image.path.clone();
    if width != height {
        return Err(RestoreError::NotSquare {
            path,
            width,
            height,
        });
    }
    if width < 16 {
        return Err(RestoreError::TooSmall {
            path,
            width,
            height,
        });
    }
    Ok(AlignedInput {
        image,
        storage: face_storage(options, &loaded),
        face: loaded.rgb,
    })
}
