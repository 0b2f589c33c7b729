//! Images in, images out: aligned faces of any square size, and whole photos (detect with
//! MTCNN, align to FFHQ, restore each face, paste back), on top of [`Restorer`].

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use diffmac_degrade::tensor::{images_to_tensor, tensor_to_images};
use diffmac_face::paste::{PasteFace, PasteOptions, paste_faces_into_photo};
use diffmac_face::photo::Photo;
use diffmac_face::{AlignedFace, FaceOptions, Mtcnn, faces as face_ops};
use image::Rgb32FImage;
use image::imageops::FilterType;
use rand::RngExt;

use crate::error::{RestoreError, Result};
use crate::pipeline::{Observer, Restorer};

/// One restored face at the size it came in.
#[derive(Debug, Clone)]
pub struct RestoredFace {
    /// Stage I's output `X_D1`.
    pub stage1: Rgb32FImage,
    /// The final output (`X_D2`, or `X_D1` when only Stage I ran).
    pub output: Rgb32FImage,
}

/// A seed for one face, derived from the run's `seed` and a stable `key` (e.g. the file
/// name and face index), so that a face's result does not depend on what else is restored.
pub fn face_seed(seed: u64, key: &str) -> u64 {
    diffmac_degrade::seed::stream_rng(seed, key.as_bytes()).random()
}

/// Restores square aligned faces as one batch with `seed`, injecting `reference`'s identity
/// (`[1, D]`, from [`Restorer::identity_of`]) instead of each face's own when given. Faces of
/// another size than the model's are resized to it (Catmull-Rom) and the results back.
///
/// # Errors
/// Non-square or differently sized faces, or a failing stage.
pub fn restore_aligned<B: Backend>(
    restorer: &Restorer<'_, B>,
    faces: &[Rgb32FImage],
    reference: Option<&Tensor<B, 2>>,
    seed: u64,
    observer: &mut dyn Observer<B>,
) -> Result<Vec<RestoredFace>> {
    let Some(first) = faces.first() else {
        return Ok(Vec::new());
    };
    let (w, h) = first.dimensions();
    if w != h || faces.iter().any(|f| f.dimensions() != (w, h)) {
        return Err(RestoreError::InvalidOption(format!(
            "aligned faces must be square and of one size (first is {w}×{h})"
        )));
    }
    let size = restorer.image_size() as u32;
    let to_model: Vec<Rgb32FImage> = faces.iter().map(|f| resize(f, size)).collect();
    let device = restorer.device();
    let lq = images_to_tensor::<B>(&to_model, &device)?;
    let restored = restorer.restore(lq, reference.cloned(), seed, observer)?;
    let back = |t| -> Result<Vec<Rgb32FImage>> {
        Ok(tensor_to_images::<B>(t)?
            .iter()
            .map(|i| resize(i, w))
            .collect())
    };
    let stage1 = back(restored.stage1.clone())?;
    let output = back(restored.output().clone())?;
    Ok(stage1
        .into_iter()
        .zip(output)
        .map(|(stage1, output)| RestoredFace { stage1, output })
        .collect())
}

fn resize(image: &Rgb32FImage, size: u32) -> Rgb32FImage {
    if image.dimensions() == (size, size) {
        image.clone()
    } else {
        let mut out = image::imageops::resize(image, size, size, FilterType::CatmullRom);
        out.pixels_mut()
            .for_each(|p| p.0.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0)));
        out
    }
}

/// A restored whole photo.
#[derive(Debug, Clone)]
pub struct RestoredPhoto {
    /// The faces found, aligned (the crops that were restored).
    pub faces: Vec<AlignedFace>,
    /// Each face's restoration, in the order of `faces`.
    pub restored: Vec<RestoredFace>,
    /// The photo with the restored faces pasted back (scaled by the paste options' upscale;
    /// alpha and colour type kept).
    pub photo: Photo,
}

/// Detects, aligns, restores (one face at a time, seed per face from `seed` and `key`,
/// `reference` as in [`restore_aligned`]) and pastes back. A photo without faces comes back unchanged (upscaled if asked) with no faces.
///
/// # Errors
/// Detection, alignment, restoration or paste-back errors.
#[allow(clippy::too_many_arguments)]
pub fn restore_photo<B: Backend>(
    restorer: &Restorer<'_, B>,
    mtcnn: &Mtcnn<B>,
    photo: &Photo,
    face_options: &FaceOptions,
    paste_options: &PasteOptions,
    reference: Option<&Tensor<B, 2>>,
    seed: u64,
    key: &str,
    observer: &mut dyn Observer<B>,
) -> Result<RestoredPhoto> {
    let detections = face_ops::find_faces(mtcnn, &photo.rgb, face_options)?;
    let faces = detections
        .iter()
        .map(|d| face_ops::align_face(&photo.rgb, d, face_options))
        .collect::<diffmac_face::Result<Vec<_>>>()?;
    let mut restored = Vec::with_capacity(faces.len());
    for (i, face) in faces.iter().enumerate() {
        let face_seed = face_seed(seed, &format!("{key}#{i}"));
        let mut one = restore_aligned(
            restorer,
            std::slice::from_ref(&face.crop),
            reference,
            face_seed,
            observer,
        )?;
        restored.push(one.remove(0));
    }
    let paste: Vec<PasteFace<'_>> = faces
        .iter()
        .zip(&restored)
        .map(|(f, r)| PasteFace {
            face: &r.output,
            to_crop: f.to_crop,
        })
        .collect();
    let photo = paste_faces_into_photo(photo, &paste, paste_options)?;
    Ok(RestoredPhoto {
        faces,
        restored,
        photo,
    })
}
