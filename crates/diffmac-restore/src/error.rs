//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while loading a model bundle or restoring faces.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// A model file could not be read or does not fit its config (names file and key).
    #[error(transparent)]
    Model(#[from] diffmac_ldm::LdmError),
    /// The bottleneck could not be built or run.
    #[error(transparent)]
    Mib(#[from] diffmac_mib::MibError),
    /// The identity encoder could not be loaded or run.
    #[error(transparent)]
    Identity(#[from] diffmac_id::IdError),
    /// The sampler settings are invalid.
    #[error(transparent)]
    Sampler(#[from] diffmac_sampler::SamplerError),
    /// Face detection, alignment or paste-back failed.
    #[error(transparent)]
    Face(#[from] diffmac_face::FaceError),
    /// An image could not be read, written or converted.
    #[error(transparent)]
    File(#[from] diffmac_io::IoError),
    /// A bundle file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A stage's output for one face holds NaN or infinite values: the face is not written.
    #[error("face {face}: {}", non_finite_message(*stage, dtype))]
    NonFinite {
        /// The face's index in its batch.
        face: usize,
        /// The stage (1 or 2) whose output is not finite.
        stage: u8,
        /// The precision the model ran in (`F16`, `BF16`, `F32`).
        dtype: String,
    },
    /// A bundle's `config.json` is not valid or does not fit its files.
    #[error("{}: {message}", path.display())]
    Bundle {
        /// The bundle folder or file concerned.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No model bundle was found where one was looked for.
    #[error("{0}")]
    NoModel(String),
    /// Options that cannot be used together or are out of range.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// A DDIM η was given for a DDPM sampler, which has none.
    #[error("--eta is DDIM's: add --sampler ddim (or --preset fast)")]
    EtaWithoutDdim,
    /// A run's input holds no image files.
    #[error("{}: no image files found", input.display())]
    NoImages {
        /// The file or folder given.
        input: PathBuf,
    },
    /// A reference identity for a model whose Stage II injects none (2AdaIN).
    #[error(
        "--reference: this model's Stage II has no bottleneck (2AdaIN), so there is no \
         identity to replace"
    )]
    ReferenceWithoutBottleneck,
    /// The reference face's identity could not be computed.
    #[error("{}: cannot embed the reference face", path.display())]
    Reference {
        /// The reference face's file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<RestoreError>,
    },
    /// An aligned input is not square.
    #[error("{}: --aligned expects square faces, this image is {width}×{height}", path.display())]
    NotSquare {
        /// The input file.
        path: PathBuf,
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
    },
    /// An aligned input too small to hold a face.
    #[error("{}: image is {width}×{height}, too small to be a face", path.display())]
    TooSmall {
        /// The input file.
        path: PathBuf,
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
    },
    /// A run's output file or folder could not be read, created or written.
    #[error("{}: {what}", path.display())]
    Output {
        /// The file or folder.
        path: PathBuf,
        /// What failed (`cannot create the folder`, ...).
        what: &'static str,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}

impl RestoreError {
    /// An [`RestoreError::Output`] error of `path`.
    pub(crate) fn output(
        path: &std::path::Path,
        what: &'static str,
        source: std::io::Error,
    ) -> Self {
        Self::Output {
            path: path.to_owned(),
            what,
            source,
        }
    }
}

/// This crate's result type.
pub type Result<T> = std::result::Result<T, RestoreError>;

fn non_finite_message(stage: u8, dtype: &str) -> String {
    let why = if dtype == "F16" {
        "f16 cannot hold every value the model computes: run with --precision bf16 or f32"
    } else {
        "the model's weights may hold non-finite values: check it with `diffmac-convert check`"
    };
    format!(
        "stage {stage} produced non-finite values (NaN or infinity) in {dtype}; {why}. The face is not written"
    )
}
