//! Images in, images out: aligned faces of any square size, and whole photos (detect with
//! RetinaFace or MTCNN, align to FFHQ, restore the faces in batches, paste back), on top of
//! [`Restorer`].
//!
//! Seeds: [`restore_aligned_seeded`] and [`restore_photo`] give every face its own seed
//! ([`face_seed`] of the run seed and a stable key), so a face's result does not depend on
//! which faces share its batch, on the batch size, or on the order of the inputs.
//!
//! Best of N: [`restore_best_of`] (and [`restore_photo`] through [`FaceRun::best_of`])
//! restores each face with N seeds ([`candidate_seed`]; the first is the face's own), scores
//! every candidate with a [`FaceJudge`] and keeps the best ([`best_candidate`]).

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use diffmac_face::paste::{PasteFace, PasteOptions, paste_faces_into_photo};
use diffmac_face::{
    AlignedFace, DroppedFace, FaceDetector, FaceMesh, FaceOptions, faces as face_ops,
};
use diffmac_io::{IoError, LoadedImage, images_to_tensor, tensor_to_images};
use image::Rgb32FImage;
use image::imageops::FilterType;
use rand::RngExt;

use crate::error::{RestoreError, Result};
use crate::judge::{FaceJudge, FaceScore, best_candidate};
use crate::pipeline::{Observer, Restored, Restorer};

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
    diffmac_io::stream_rng(seed, key.as_bytes()).random()
}

/// The seed of candidate `k` of a face whose own seed is `face_seed` (`--best-of`): candidate
/// 0 is the face's own seed, so `--best-of 1` restores exactly what a plain run does.
pub fn candidate_seed(face_seed: u64, k: usize) -> u64 {
    if k == 0 {
        face_seed
    } else {
        self::face_seed(face_seed, &format!("candidate {k}"))
    }
}

/// How the faces of a run are restored, beyond the [`Restorer`]'s options.
#[derive(Debug, Clone, Copy)]
pub struct FaceRun<'r, B: Backend> {
    /// An identity (`[1, D]`, from [`Restorer::identity_of`]) injected instead of each
    /// face's own (Fig. 10).
    pub reference: Option<&'r Tensor<B, 2>>,
    /// Restorations per batch (candidates count one each): speed and memory, not results.
    pub batch_size: usize,
    /// Candidates per face; the best by the judge is kept. 1 restores once.
    pub best_of: usize,
    /// Scores each result; required when `best_of` > 1.
    pub judge: Option<&'r FaceJudge<'r, B>>,
}

impl<B: Backend> Default for FaceRun<'_, B> {
    /// One restoration per face, one face per batch, own identity, no scores.
    fn default() -> Self {
        Self {
            reference: None,
            batch_size: 1,
            best_of: 1,
            judge: None,
        }
    }
}

/// One restoration tried for a face, with its scores.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Candidate {
    /// Its seed ([`candidate_seed`]).
    pub seed: u64,
    /// Its scores (empty without a judge).
    #[serde(flatten)]
    pub score: FaceScore,
}

/// A face restored once or as the best of several candidates.
#[derive(Debug, Clone)]
pub struct JudgedFace {
    /// The kept restoration.
    pub face: RestoredFace,
    /// The index of the kept candidate in `candidates`.
    pub chosen: usize,
    /// Every candidate that came out finite, in seed order.
    pub candidates: Vec<Candidate>,
}

impl JudgedFace {
    /// The kept candidate's seed and scores.
    pub fn kept(&self) -> &Candidate {
        &self.candidates[self.chosen]
    }
}

/// Restores each of `faces` `run.best_of` times (face i's candidate k with
/// [`candidate_seed`]`(seeds[i], k)`), `run.batch_size` restorations at a time, scores each
/// with `run.judge` and keeps the best. A face fails ([`RestoreError::NonFinite`], with its
/// index in `faces`) only when none of its candidates came out finite.
///
/// # Errors
/// As [`restore_aligned_each`], a batch size of 0, `best_of` of 0 or above 1 without a judge,
/// or the judge failing.
pub fn restore_best_of<B: Backend>(
    restorer: &Restorer<'_, B>,
    faces: &[Rgb32FImage],
    seeds: &[u64],
    run: &FaceRun<'_, B>,
    observer: &mut dyn Observer<B>,
) -> Result<Vec<Result<JudgedFace>>> {
    let invalid = |m: &str| Err(RestoreError::InvalidOption(m.into()));
    if run.batch_size == 0 {
        return invalid("the batch size must be at least 1");
    }
    if run.best_of == 0 || (run.best_of > 1 && run.judge.is_none()) {
        return invalid("best-of needs at least one candidate, and a judge for more than one");
    }
    if seeds.len() != faces.len() {
        return invalid("one seed per face");
    }
    // Every (face, candidate) pair, candidates of one face next to each other.
    let jobs: Vec<(usize, u64)> = (0..faces.len())
        .flat_map(|f| (0..run.best_of).map(move |k| (f, candidate_seed(seeds[f], k))))
        .collect();
    let mut outcomes: Vec<Vec<(u64, Result<RestoredFace>)>> =
        (0..faces.len()).map(|_| Vec::new()).collect();
    for chunk in jobs.chunks(run.batch_size) {
        let crops: Vec<Rgb32FImage> = chunk.iter().map(|&(f, _)| faces[f].clone()).collect();
        let chunk_seeds: Vec<u64> = chunk.iter().map(|&(_, seed)| seed).collect();
        let restored =
            restore_aligned_each(restorer, &crops, run.reference, &chunk_seeds, observer)?;
        for (&(f, seed), r) in chunk.iter().zip(restored) {
            outcomes[f].push((seed, r));
        }
    }
    let device = restorer.device();
    let mut judged = Vec::with_capacity(faces.len());
    for (index, (input, tries)) in faces.iter().zip(outcomes).enumerate() {
        let mut first_error = None;
        let mut kept: Vec<(u64, RestoredFace)> = Vec::new();
        for (seed, r) in tries {
            match r {
                Ok(face) => kept.push((seed, face)),
                Err(RestoreError::NonFinite { stage, dtype, .. }) => {
                    first_error.get_or_insert(RestoreError::NonFinite {
                        face: index,
                        stage,
                        dtype,
                    });
                }
                Err(other) => return Err(other),
            }
        }
        let outputs: Vec<&Rgb32FImage> = kept.iter().map(|(_, f)| &f.output).collect();
        let scores = match run.judge {
            Some(judge) if !outputs.is_empty() => judge.score(input, &outputs, &device)?,
            _ => vec![FaceScore::default(); outputs.len()],
        };
        let Some(chosen) = best_candidate(&scores) else {
            judged.push(Err(first_error.expect("a face without candidates failed")));
            continue;
        };
        let candidates = kept
            .iter()
            .zip(scores)
            .map(|(&(seed, _), score)| Candidate { seed, score })
            .collect();
        let face = kept.swap_remove(chosen).1;
        judged.push(Ok(JudgedFace {
            face,
            chosen,
            candidates,
        }));
    }
    Ok(judged)
}

/// Restores square aligned faces as one batch with `seed` (one stream for the batch, see
/// [`Restorer::restore`]), injecting `reference`'s identity (`[1, D]`, from
/// [`Restorer::identity_of`]) instead of each face's own when given. Faces of another size
/// than the model's are resized to it (Catmull-Rom) and the results back.
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
    restore_resized(restorer, faces, |lq| {
        restorer.restore(lq, reference.cloned(), seed, observer)
    })?
    .into_iter()
    .collect()
}

/// As [`restore_aligned`], with one seed per face (`seeds[i]` for `faces[i]`, see
/// [`Restorer::restore_seeded`]): each face comes out as it would restored alone with its
/// seed, whatever else is in the batch.
///
/// # Errors
/// As [`restore_aligned`], and unless there is one seed per face.
pub fn restore_aligned_seeded<B: Backend>(
    restorer: &Restorer<'_, B>,
    faces: &[Rgb32FImage],
    reference: Option<&Tensor<B, 2>>,
    seeds: &[u64],
    observer: &mut dyn Observer<B>,
) -> Result<Vec<RestoredFace>> {
    restore_aligned_each(restorer, faces, reference, seeds, observer)?
        .into_iter()
        .collect()
}

/// As [`restore_aligned_seeded`], with one outcome per face: a face whose stage output is not
/// finite ([`RestoreError::NonFinite`]) fails alone, and the others of the batch are kept.
///
/// # Errors
/// As [`restore_aligned_seeded`], for the batch as a whole.
pub fn restore_aligned_each<B: Backend>(
    restorer: &Restorer<'_, B>,
    faces: &[Rgb32FImage],
    reference: Option<&Tensor<B, 2>>,
    seeds: &[u64],
    observer: &mut dyn Observer<B>,
) -> Result<Vec<Result<RestoredFace>>> {
    restore_resized(restorer, faces, |lq| {
        restorer.restore_seeded(lq, reference.cloned(), seeds, observer)
    })
}

/// Checks and resizes `faces` to the model's size, restores them with `restore` and resizes
/// the results back; a face whose stage output holds NaN or infinity gets
/// [`RestoreError::NonFinite`] instead.
fn restore_resized<B: Backend>(
    restorer: &Restorer<'_, B>,
    faces: &[Rgb32FImage],
    restore: impl FnOnce(Tensor<B, 4>) -> Result<Restored<B>>,
) -> Result<Vec<Result<RestoredFace>>> {
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
    let to_model: Vec<Rgb32FImage> = faces.iter().map(|f| resize_face(f, size)).collect();
    let device = restorer.device();
    let lq = images_to_tensor::<B>(&to_model, &device)?;
    let restored = restore(lq)?;
    let back = |t| -> Result<Vec<Rgb32FImage>> {
        Ok(tensor_to_images::<B>(t)?
            .iter()
            .map(|i| resize_face(i, w))
            .collect())
    };
    let dtype = format!("{:?}", restored.output().dtype());
    let bad1 = non_finite_items(&restored.stage1)?;
    let bad2 = non_finite_items(restored.output())?;
    let stage1 = back(restored.stage1.clone())?;
    let output = back(restored.output().clone())?;
    Ok(stage1
        .into_iter()
        .zip(output)
        .enumerate()
        .map(|(face, (stage1, output))| {
            let stage = if bad1.contains(&face) {
                1
            } else if bad2.contains(&face) {
                2
            } else {
                return Ok(RestoredFace { stage1, output });
            };
            Err(RestoreError::NonFinite {
                face,
                stage,
                dtype: dtype.clone(),
            })
        })
        .collect())
}

/// The items of a `[N, C, H, W]` batch that hold a NaN or an infinity.
fn non_finite_items<B: Backend>(t: &Tensor<B, 4>) -> Result<Vec<usize>> {
    let n = t.dims()[0];
    let values = t
        .clone()
        .cast(burn::tensor::DType::F32)
        .into_data()
        .into_vec::<f32>()
        .map_err(|e| IoError::Shape(format!("cannot read the output's values: {e:?}")))?;
    let per_item = values.len() / n.max(1);
    Ok((0..n)
        .filter(|&i| {
            values[i * per_item..(i + 1) * per_item]
                .iter()
                .any(|v| !v.is_finite())
        })
        .collect())
}

/// `image` resized to `size × size` as the pipeline resizes faces to and from the model's
/// size (Catmull-Rom, clamped to [0, 1]); unchanged when it is that size.
pub(crate) fn resize_face(image: &Rgb32FImage, size: u32) -> Rgb32FImage {
    if image.dimensions() == (size, size) {
        image.clone()
    } else {
        let mut out = image::imageops::resize(image, size, size, FilterType::CatmullRom);
        out.pixels_mut()
            .for_each(|p| p.0.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0)));
        out
    }
}

/// How [`restore_photo`] finds a photo's faces and puts them back: the same for every photo
/// of a run.
pub struct PhotoSetup<'a, B: Backend> {
    /// Finds the faces and their five landmarks.
    pub detector: &'a dyn FaceDetector,
    /// A face mesh whose outline masks the paste; `None`: facexlib's feathered square.
    pub outline: Option<&'a FaceMesh<B>>,
    /// Which detections are restored (score, size, selection) and how they are aligned.
    pub face_options: &'a FaceOptions,
    /// How restored faces are pasted back (upscale, feathering, interpolation).
    pub paste_options: &'a PasteOptions,
}

impl<B: Backend> Clone for PhotoSetup<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B: Backend> Copy for PhotoSetup<'_, B> {}

/// A restored whole photo.
#[derive(Debug)]
pub struct RestoredPhoto {
    /// The faces found, aligned (the crops that were restored).
    pub faces: Vec<AlignedFace>,
    /// Each face's restoration with its candidates' scores, in the order of `faces`, or why
    /// it failed (a face whose output is not finite, [`RestoreError::NonFinite`]); failed
    /// faces are not pasted.
    pub restored: Vec<Result<JudgedFace>>,
    /// The faces detected but not restored, with why (`FaceOptions`' score, size and
    /// selection rules).
    pub dropped: Vec<DroppedFace>,
    /// The photo with the restored faces pasted back (scaled by the paste options' upscale;
    /// alpha and colour type kept).
    pub photo: LoadedImage,
}

/// Detects, aligns, restores and pastes back (through the face's outline when `outline` has a
/// face mesh, else through facexlib's feathered square). Face i gets the seed
/// [`face_seed`]`(seed, "{key}#{i}")` and is restored as [`restore_best_of`] does with `run`:
/// the batch size changes speed and memory, not results (up to the rounding of batched
/// kernels). A photo without faces comes back unchanged (upscaled if asked) with no faces.
///
/// # Errors
/// As [`restore_best_of`]; detection, alignment, restoration or paste-back errors.
pub fn restore_photo<B: Backend>(
    restorer: &Restorer<'_, B>,
    setup: &PhotoSetup<'_, B>,
    photo: &LoadedImage,
    run: &FaceRun<'_, B>,
    seed: u64,
    key: &str,
    observer: &mut dyn Observer<B>,
) -> Result<RestoredPhoto> {
    let PhotoSetup {
        detector,
        outline,
        face_options,
        paste_options,
    } = *setup;
    let (detections, dropped) = face_ops::find_faces_explained(detector, &photo.rgb, face_options)?;
    let faces = detections
        .iter()
        .map(|d| face_ops::align_face(&photo.rgb, d, face_options))
        .collect::<diffmac_face::Result<Vec<_>>>()?;
    let seeds: Vec<u64> = (0..faces.len())
        .map(|i| face_seed(seed, &format!("{key}#{i}")))
        .collect();
    let crops: Vec<Rgb32FImage> = faces.iter().map(|f| f.crop.clone()).collect();
    let restored = restore_best_of(restorer, &crops, &seeds, run, observer)?;
    let masks: Vec<Option<Vec<f32>>> = faces
        .iter()
        .map(|f| outline.map(|mesh| mesh.paste_mask(f)))
        .collect();
    let paste: Vec<PasteFace<'_>> = faces
        .iter()
        .zip(&restored)
        .zip(&masks)
        .filter_map(|((f, r), m)| {
            r.as_ref().ok().map(|r| PasteFace {
                face: &r.face.output,
                to_crop: f.to_crop,
                outline: m.as_deref(),
            })
        })
        .collect();
    let photo = paste_faces_into_photo(photo, &paste, paste_options)?;
    Ok(RestoredPhoto {
        faces,
        restored,
        dropped,
        photo,
    })
}
