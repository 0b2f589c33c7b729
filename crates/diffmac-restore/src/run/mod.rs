//! A whole restoration run, as `diffmac-restore` does it: a file or a folder of whole photos
//! (detect, align, restore, paste back) or aligned faces in, CodeFormer's output folders
//! ([`crate::layout`]) and `report.json` ([`crate::report`]) out, through one call to [`run`].
//!
//! A bad input fails alone and the run goes on; [`RunSummary::failed`] counts them. Outputs
//! are written atomically and never replace existing files unless asked ([`Existing`]).
//! Every face gets its own seed ([`crate::faces::face_seed`]), so batching and
//! [`Existing::Skip`] change speed, not results. What happens is told to a [`Progress`] as it
//! happens; the library prints nothing.
//!
//! ```no_run
//! use burn::backend::Flex;
//! use diffmac_restore::run::{RunEvent, RunOptions, run};
//!
//! let options = RunOptions {
//!     model: Some("models/diffmac".into()),
//!     ..RunOptions::new("photos", "restored")
//! };
//! let summary = run::<Flex>(&options, &Default::default(), &mut |event: &RunEvent<'_>| {
//!     if let Some(line) = event.message() {
//!         eprintln!("{line}");
//!     }
//! })?;
//! println!("{} faces restored, {} inputs failed", summary.faces, summary.failed);
//! # Ok::<(), diffmac_restore::RestoreError>(())
//! ```

mod aligned;
mod events;
mod identity;
mod options;
mod outputs;
mod photo;
mod summary;

use std::time::Instant;

use burn::tensor::backend::Backend;

pub use events::{Failure, ModelWarning, Progress, RunEvent};
pub use options::{Existing, PasteMask, RunOptions};
pub use summary::RunSummary;

use crate::bundle::{ModelBundle, resolve_model_dir};
use crate::error::{RestoreError, Result};
use crate::faces::FaceRun;
use crate::judge::FaceJudge;
use crate::layout::{InputImage, check_output, collect_inputs};
use crate::pipeline::Restorer;
use crate::report::Report;
use photo::FaceFinder;
use summary::Tally;

/// What every input of a run shares.
struct Context<'r, B: Backend> {
    options: &'r RunOptions,
    restorer: &'r Restorer<'r, B>,
    face_run: FaceRun<'r, B>,
}

/// Restores every image of `options.input` into `options.output` and writes `report.json`
/// there (merged with an earlier one, [`Report::write`]). Loads the model (`options.model`,
/// else where [`resolve_model_dir`] looks), the identity network of the scores and, for whole
/// photos, the face detector. Inputs that fail are told to `progress` and counted; the run
/// goes on.
///
/// # Errors
/// Only what stops the whole run: options out of range, no image in the input, an output
/// folder inside it, a model, identity network, reference face or detector that cannot be
/// loaded, a report that cannot be written.
pub fn run<B: Backend>(
    options: &RunOptions,
    device: &B::Device,
    progress: &mut dyn Progress,
) -> Result<RunSummary> {
    options.check()?;
    let inputs = collect_inputs(&options.input, options.recursive)?;
    for skipped in &inputs.skipped {
        progress.event(&RunEvent::NotAnImage(skipped));
    }
    if inputs.images.is_empty() {
        return Err(RestoreError::NoImages {
            input: options.input.clone(),
        });
    }
    check_output(&options.input, &options.output)?;

    let model_dir = resolve_model_dir(options.model.as_deref())?;
    let load_start = Instant::now();
    let bundle = ModelBundle::<B>::load(&model_dir, device, options.dtype)?;
    if let Some(warning) = ModelWarning::of(&bundle) {
        progress.event(&RunEvent::ModelWarning(&warning));
    }
    progress.event(&RunEvent::ModelLoaded {
        dir: &model_dir,
        took: load_start.elapsed(),
    });
    let restorer = Restorer::new(&bundle, options.restore.clone())?;
    let reference = identity::reference_identity(options, &restorer, device)?;
    let own_identity = identity::own_network(options, &bundle, device)?;
    let (network, identity_about) = identity::scoring_network(own_identity.as_ref(), &bundle);
    if network.is_none() {
        progress.event(&RunEvent::NoIdentityNetwork {
            best_of: options.best_of,
        });
    }
    let judge = FaceJudge::new(network);
    let cx = Context {
        options,
        restorer: &restorer,
        face_run: FaceRun {
            reference: reference.as_ref(),
            batch_size: options.batch_size,
            best_of: options.best_of,
            judge: Some(&judge),
        },
    };
    let finder = if options.aligned {
        None
    } else {
        Some(FaceFinder::load(options, device)?)
    };

    progress.event(&RunEvent::Restoring {
        inputs: inputs.images.len(),
    });
    let run_start = Instant::now();
    let mut tally = restore_all(&cx, finder.as_ref(), &inputs.images, progress);
    let entries = std::mem::take(&mut tally.entries);
    let summary = RunSummary {
        inputs: inputs.images.len(),
        done: tally.done,
        failed: tally.failed,
        skipped_existing: tally.skipped_existing,
        faces: tally.faces,
        no_face: tally.no_face,
        restoring: tally.restoring,
        elapsed: run_start.elapsed(),
        output: options.output.clone(),
        seed: options.restore.seed,
        report: Report::new(
            identity_about,
            options.best_of,
            entries.faces,
            entries.not_restored,
        ),
    };
    progress.event(&RunEvent::Finished(&summary));
    summary.report.clone().write(&options.output)?;
    Ok(summary)
}

/// Restores each of `images` in order: whole photos one by one with `finder`, aligned faces
/// in batches; skips those already done when asked.
fn restore_all<B: Backend>(
    cx: &Context<'_, B>,
    finder: Option<&FaceFinder<B>>,
    images: &[InputImage],
    progress: &mut dyn Progress,
) -> Tally {
    let mut tally = Tally::default();
    let mut pending: Vec<&InputImage> = Vec::new();
    for image in images {
        if cx.options.existing == Existing::Skip && cx.options.final_output(image).exists() {
            tally.skipped_existing += 1;
            progress.event(&RunEvent::InputsDone(1));
            continue;
        }
        match finder {
            Some(finder) => photo::restore_photo_input(cx, finder, image, &mut tally, progress),
            None => {
                pending.push(image);
                if pending.len() == cx.options.batch_size {
                    let batch = std::mem::take(&mut pending);
                    aligned::restore_batch(cx, &batch, &mut tally, progress);
                }
            }
        }
    }
    if !pending.is_empty() {
        aligned::restore_batch(cx, &pending, &mut tally, progress);
    }
    tally
}
