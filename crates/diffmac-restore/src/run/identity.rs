//! The identities of a run: the network that scores each face for the report and best-of
//! (`--id-weights`, the model's, or dlib's where `scripts/fetch_identity_weights.sh` puts it),
//! and the reference face whose identity replaces each face's own (Fig. 10).

use std::path::PathBuf;

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use diffmac_id::{DEFAULT_DLIB_WEIGHTS, IdentityNetwork, load_identity_encoder};
use diffmac_io::{images_to_tensor, load_image};

use crate::bundle::ModelBundle;
use crate::error::{RestoreError, Result};
use crate::faces::resize_face;
use crate::pipeline::Restorer;
use crate::run::RunOptions;

/// An identity network loaded for the run itself, with how the report describes it.
pub(crate) struct OwnNetwork<B: Backend> {
    network: IdentityNetwork<B>,
    about: String,
}

/// Loads the network named by `options.id_weights`, or found at [`DEFAULT_DLIB_WEIGHTS`] when
/// the model has none; `None` when the model's is to be used or no file is there.
///
/// # Errors
/// The named file cannot be loaded as an identity network.
pub(crate) fn own_network<B: Backend>(
    options: &RunOptions,
    bundle: &ModelBundle<B>,
    device: &B::Device,
) -> Result<Option<OwnNetwork<B>>> {
    let path = match &options.id_weights {
        Some(path) => path.clone(),
        None if bundle.identity.is_some() => return Ok(None),
        None => PathBuf::from(DEFAULT_DLIB_WEIGHTS),
    };
    if options.id_weights.is_none() && !path.exists() {
        return Ok(None);
    }
    let network = load_identity_encoder::<B>("auto", &path, device)?;
    let about = format!("{} ({})", network.kind().as_str(), path.display());
    Ok(Some(OwnNetwork { network, about }))
}

/// The network that scores the run's faces (the run's own, else the model's) and how the
/// report names it; `(None, None)` when there is neither.
pub(crate) fn scoring_network<'n, B: Backend>(
    own: Option<&'n OwnNetwork<B>>,
    bundle: &'n ModelBundle<B>,
) -> (Option<&'n IdentityNetwork<B>>, Option<String>) {
    match (own, &bundle.identity) {
        (Some(own), _) => (Some(&own.network), Some(own.about.clone())),
        (None, Some(network)) => (
            Some(network),
            Some(format!("{} (the model's)", network.kind().as_str())),
        ),
        (None, None) => (None, None),
    }
}

/// The identity `[1, D]` of `options.reference`, resized to the model's size as the pipeline
/// resizes faces; `None` without a reference.
///
/// # Errors
/// [`RestoreError::ReferenceWithoutBottleneck`] for a model whose Stage II injects no
/// identity (2AdaIN); [`RestoreError::Reference`] when the face cannot be embedded; the
/// face's file cannot be read.
pub(crate) fn reference_identity<B: Backend>(
    options: &RunOptions,
    restorer: &Restorer<'_, B>,
    device: &B::Device,
) -> Result<Option<Tensor<B, 2>>> {
    let Some(path) = &options.reference else {
        return Ok(None);
    };
    let bundle = restorer.bundle();
    if !options.restore.stage1_only && bundle.stage2.is_some() && bundle.mib.is_none() {
        return Err(RestoreError::ReferenceWithoutBottleneck);
    }
    let face = load_image(path, options.max_pixels)?.rgb;
    let face = resize_face(&face, restorer.image_size() as u32);
    let faces = images_to_tensor::<B>(&[face], device)?;
    let identity = restorer
        .identity_of(faces)
        .map_err(|source| RestoreError::Reference {
            path: path.clone(),
            source: Box::new(source),
        })?;
    Ok(Some(identity))
}
