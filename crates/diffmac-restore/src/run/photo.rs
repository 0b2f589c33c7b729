//! Whole photos: find the faces, restore them, paste them back, write every output, and
//! count the photo as restored, without a face, or failed.

use std::time::Instant;

use burn::tensor::backend::Backend;
use diffmac_face::paste::PasteOptions;
use diffmac_face::{Detector, FaceDetector, FaceMesh, FaceOptions};
use diffmac_io::load_image;

use crate::error::Result;
use crate::faces::{PhotoSetup, restore_photo};
use crate::layout::{CROPPED_FACES, InputImage, output_path};
use crate::report::{Entries, FaceEntry, NotRestored};
use crate::run::events::{Failure, Progress, RunEvent, Steps};
use crate::run::outputs::{face_storage, save, write_face_outputs, write_photo};
use crate::run::{Context, PasteMask, RunOptions, Tally};

/// Finds the faces of whole photos, and their outlines for pasting back.
pub(crate) struct FaceFinder<B: Backend> {
    detector: Detector<B>,
    /// The face mesh, with [`PasteMask::Face`].
    mesh: Option<FaceMesh<B>>,
    mask: PasteMask,
}

impl<B: Backend> FaceFinder<B> {
    /// The detector and, for [`PasteMask::Face`], the face mesh that `options` ask for.
    ///
    /// # Errors
    /// A network's compiled-in weights cannot be loaded.
    pub(crate) fn load(options: &RunOptions, device: &B::Device) -> Result<Self> {
        Ok(Self {
            detector: Detector::pretrained(options.detector, device)?,
            mesh: match options.paste_mask {
                PasteMask::Face => Some(FaceMesh::pretrained(device)?),
                PasteMask::Box => None,
            },
            mask: options.paste_mask,
        })
    }
}

/// Restores one photo and counts it: restored (some faces may have failed, which counts the
/// photo as failed and keeps their pixels), without a face (copied unchanged), or failed.
pub(crate) fn restore_photo_input<B: Backend>(
    cx: &Context<'_, B>,
    finder: &FaceFinder<B>,
    image: &InputImage,
    tally: &mut Tally,
    progress: &mut dyn Progress,
) {
    let start = Instant::now();
    let dropped_before = tally.entries.not_restored.len();
    let result = restore_photo_file(cx, finder, image, &mut tally.entries, progress);
    tally.restoring += start.elapsed();
    match result {
        Ok((faces, failed)) if !failed.is_empty() => {
            // The other faces are pasted; the failed ones keep the photo's pixels.
            tally.failed += 1;
            tally.faces += faces - failed.len();
            for message in failed {
                let failure = Failure {
                    inputs: vec![image.path.clone()],
                    message,
                };
                progress.event(&RunEvent::Failed(&failure));
            }
        }
        Ok((faces, _)) => {
            tally.done += 1;
            tally.faces += faces;
            if faces == 0 {
                tally.no_face += 1;
                progress.event(&RunEvent::NoFace {
                    input: &image.path,
                    found: tally.entries.not_restored.len() - dropped_before,
                });
            }
        }
        Err(err) => {
            tally.failed += 1;
            let failure = Failure::new(vec![image.path.clone()], &err);
            progress.event(&RunEvent::Failed(&failure));
        }
    }
    progress.event(&RunEvent::InputsDone(1));
}

/// Restores the faces of one photo and writes its outputs; returns how many faces were
/// found, and why each face that failed did (its output is then not pasted).
fn restore_photo_file<B: Backend>(
    cx: &Context<'_, B>,
    finder: &FaceFinder<B>,
    image: &InputImage,
    report: &mut Entries,
    progress: &mut dyn Progress,
) -> Result<(usize, Vec<String>)> {
    let options = cx.options;
    let photo = load_image(&image.path, options.max_pixels)?;
    let face_options = FaceOptions {
        selection: options.faces,
        min_face: options.min_face,
        ..FaceOptions::default()
    };
    let paste = PasteOptions {
        upscale: options.upscale,
        ..PasteOptions::default()
    };
    let setup = PhotoSetup {
        detector: &finder.detector,
        outline: finder.mesh.as_ref(),
        face_options: &face_options,
        paste_options: &paste,
    };
    let restored = restore_photo(
        cx.restorer,
        &setup,
        &photo,
        &cx.face_run,
        options.restore.seed,
        &image.name,
        &mut Steps(progress),
    )?;
    let faces_as = face_storage(options, &photo);
    let detector = finder.detector.kind().name();
    let mut failed = Vec::new();
    for (i, (face, r)) in restored.faces.iter().zip(&restored.restored).enumerate() {
        let suffix = format!("_{i:02}");
        let crop_path = output_path(&options.output, CROPPED_FACES, &image.name, &suffix);
        save(&crop_path, &face.crop, faces_as, options)?;
        match r {
            Ok(r) => {
                write_face_outputs(options, &image.name, &suffix, &face.crop, &r.face, faces_as)?;
                let entry = FaceEntry::new(&image.path, i, r);
                (report.faces).push(entry.in_photo(detector, finder.mask.report_name()));
            }
            Err(err) => failed.push(err.to_string()),
        }
    }
    (report.not_restored).extend(
        restored
            .dropped
            .iter()
            .map(|d| NotRestored::new(&image.path, d, detector)),
    );
    let unchanged = restored.faces.is_empty();
    write_photo(options, image, &photo, &restored.photo, unchanged)?;
    Ok((restored.faces.len(), failed))
}
