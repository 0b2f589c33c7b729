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
