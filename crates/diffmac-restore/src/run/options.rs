//! What a whole run is asked to do: its inputs and outputs, the model, how faces are found,
//! pasted back and judged, and what happens to outputs that already exist.

use std::path::PathBuf;
use std::str::FromStr;

use burn::tensor::FloatDType;
use diffmac_face::{DetectorKind, FaceSelection};
use diffmac_io::DEFAULT_MAX_PIXELS;

use crate::error::{RestoreError, Result};
use crate::layout::{FINAL_RESULTS, InputImage, RESTORED_FACES, output_path};
use crate::options::RestoreOptions;

/// Where a restored face replaces its photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PasteMask {
    /// Inside the face's outline, from a 468-point face mesh.
    #[default]
    Face,
    /// The whole feathered crop, as facexlib pastes it.
    Box,
}

impl PasteMask {
    /// How report.json names the mask (its `pasted_with` field): `face outline` or
    /// `feathered square`.
    pub fn report_name(self) -> &'static str {
        match self {
            Self::Face => "face outline",
            Self::Box => "feathered square",
        }
    }
}

impl FromStr for PasteMask {
    type Err = RestoreError;

    /// `face` or `box`, as `--paste-mask` takes them.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "face" => Ok(Self::Face),
            "box" => Ok(Self::Box),
            other => Err(RestoreError::InvalidOption(format!(
                "unknown paste mask {other:?}: use face or box"
            ))),
        }
    }
}

/// What a run does with an input whose outputs already exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Existing {
    /// Fail that input, naming the file (outputs are never replaced unasked).
    #[default]
    Refuse,
    /// Replace the outputs.
    Overwrite,
    /// Leave the input out when its final output exists (resuming a run).
    Skip,
}

/// Everything a run needs besides a device; [`RunOptions::new`] gives `diffmac-restore`'s
/// defaults.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// An image file or a folder of images.
    pub input: PathBuf,
    /// The output folder (CodeFormer's layout, [`crate::layout`]); never the input folder or
    /// inside it.
    pub output: PathBuf,
    /// The model bundle folder; `None` looks where [`crate::bundle::resolve_model_dir`] does.
    pub model: Option<PathBuf>,
    /// Precision of the model's weights and activations.
    pub dtype: FloatDType,
    /// Descend into sub-folders of `input` (their structure is kept in the outputs).
    pub recursive: bool,
    /// Inputs are aligned square faces: no detection.
    pub aligned: bool,
    /// Scale factor of the whole photo in `final_results/` (at least 1).
    pub upscale: u32,
    /// The face detector of whole photos.
    pub detector: DetectorKind,
    /// Where a restored face replaces its photo.
    pub paste_mask: PasteMask,
    /// Which detected faces of a photo to restore.
    pub faces: FaceSelection,
    /// Faces whose box is smaller than this (its larger side, in pixels) are left as they are.
    pub min_face: u32,
    /// Steps, sampler, seed and the other pipeline settings.
    pub restore: RestoreOptions,
    /// An aligned face whose identity is injected instead of each face's own (Fig. 10).
    pub reference: Option<PathBuf>,
    /// Restorations per face; the one most like the input is kept (at least 1).
    pub best_of: usize,
    /// The identity network of the report and `best_of`; `None` takes the model's, else
    /// [`diffmac_id::DEFAULT_DLIB_WEIGHTS`] when that file exists.
    pub id_weights: Option<PathBuf>,
    /// Restorations per batch: speed and memory, not results (at least 1).
    pub batch_size: usize,
    /// Restore grey photos in colour (by default a grey input comes back grey).
    pub colorize: bool,
    /// Also write input | output comparison sheets into `cmp/`.
    pub save_cmp: bool,
    /// Also write Stage I's outputs into `stage1_faces/`.
    pub save_stage1: bool,
    /// What happens to inputs whose outputs exist.
    pub existing: Existing,
    /// Refuse images with more pixels than this.
    pub max_pixels: u64,
}

impl RunOptions {
    /// Restores `input` into `output` with the paper's settings and `diffmac-restore`'s
    /// defaults: whole photos, RetinaFace, pasted through the face's outline, every face, f32,
    /// one face per batch, existing outputs refused.
    pub fn new(input: impl Into<PathBuf>, output: impl Into<PathBuf>) -> Self {
        Self {
            input: input.into(),
            output: output.into(),
            model: None,
            dtype: FloatDType::F32,
            recursive: false,
            aligned: false,
            upscale: 1,
            detector: DetectorKind::RetinaFace,
            paste_mask: PasteMask::Face,
            faces: FaceSelection::All,
            min_face: 0,
            restore: RestoreOptions::default(),
            reference: None,
            best_of: 1,
            id_weights: None,
            batch_size: 1,
            colorize: false,
            save_cmp: false,
            save_stage1: false,
            existing: Existing::Refuse,
            max_pixels: DEFAULT_MAX_PIXELS,
        }
    }

    /// Checks the counts that must be at least 1.
    ///
    /// # Errors
    /// [`RestoreError::InvalidOption`] naming the option.
    pub fn check(&self) -> Result<()> {
        for (name, value) in [
            ("upscale", self.upscale as usize),
            ("best-of", self.best_of),
            ("batch size", self.batch_size),
        ] {
            if value == 0 {
                return Err(RestoreError::InvalidOption(format!(
                    "the {name} must be at least 1"
                )));
            }
        }
        Ok(())
    }

    /// Whether existing outputs are replaced.
    pub(crate) fn overwrite(&self) -> bool {
        self.existing == Existing::Overwrite
    }

    /// The output whose existence marks `image` as done: its restored face (aligned), or its
    /// photo in `final_results/`.
    pub fn final_output(&self, image: &InputImage) -> PathBuf {
        let folder = if self.aligned {
            RESTORED_FACES
        } else {
            FINAL_RESULTS
        };
        output_path(&self.output, folder, &image.name, "")
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn paste_masks_parse_and_name_themselves_as_the_report_does() {
        assert_eq!("face".parse::<PasteMask>().unwrap(), PasteMask::Face);
        assert_eq!("box".parse::<PasteMask>().unwrap(), PasteMask::Box);
        assert!("outline".parse::<PasteMask>().is_err());
        assert_eq!(PasteMask::Face.report_name(), "face outline");
        assert_eq!(PasteMask::Box.report_name(), "feathered square");
    }

    #[test]
    fn defaults_are_the_tools_and_zero_counts_are_refused() {
        let options = RunOptions::new("in", "out");
        options.check().unwrap();
        assert_eq!(
            (options.upscale, options.best_of, options.batch_size),
            (1, 1, 1)
        );
        assert_eq!(options.existing, Existing::Refuse);
        assert!(!options.overwrite());
        let image = InputImage {
            path: "in/a/b.png".into(),
            name: "a/b".into(),
        };
        assert_eq!(
            options.final_output(&image),
            Path::new("out/final_results/a/b.png")
        );
        let aligned = RunOptions {
            aligned: true,
            ..options.clone()
        };
        assert_eq!(
            aligned.final_output(&image),
            Path::new("out/restored_faces/a/b.png")
        );
        let zero = RunOptions {
            batch_size: 0,
            ..options
        };
        assert!(zero.check().unwrap_err().to_string().contains("batch size"));
    }
}
