//! The one error type of this crate. Variants about a file name it, so a batch tool can print
//! the message as it is.

use std::path::PathBuf;

use crate::metric::Metric;

/// Everything that can go wrong while computing a metric or loading its parameters.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Two images that a full-reference metric compares differ in size.
    #[error(
        "size mismatch: restored image is {restored_w}×{restored_h}, reference is {reference_w}×{reference_h}"
    )]
    SizeMismatch {
        /// Width of the restored image.
        restored_w: usize,
        /// Height of the restored image.
        restored_h: usize,
        /// Width of the reference image.
        reference_w: usize,
        /// Height of the reference image.
        reference_h: usize,
    },
    /// The image is too small for the metric (after cropping the border).
    #[error("image too small for {metric}: {width}×{height} (needs at least {min}×{min})")]
    TooSmall {
        /// The metric.
        metric: &'static str,
        /// Width after cropping.
        width: usize,
        /// Height after cropping.
        height: usize,
        /// The smallest side the metric accepts.
        min: usize,
    },
    /// The pixel buffer does not match the stated size.
    #[error("pixel buffer has {len} values, {width}×{height}×{channels} expected")]
    BadBuffer {
        /// Values in the buffer.
        len: usize,
        /// Stated width.
        width: usize,
        /// Stated height.
        height: usize,
        /// Stated channels.
        channels: usize,
    },
    /// The metric's result is undefined for this input (e.g. NIQE of a flat image).
    #[error("{metric} is undefined for this image: {reason}")]
    Undefined {
        /// The metric.
        metric: &'static str,
        /// Why.
        reason: String,
    },
    /// An image could not be listed, read or decoded, or a weight file lacks a tensor or holds
    /// one of the wrong shape or type (the message names the file and the tensor).
    #[error(transparent)]
    File(#[from] diffmac_io::IoError),
    /// A parameter or weight file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A parameter or weight file has the wrong content.
    #[error("{}: {reason}", path.display())]
    BadFile {
        /// The file concerned (`<embedded>` for data compiled into the crate).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A full-reference metric was asked for without a ground-truth folder.
    #[error("{metric} compares with ground truth, and no ground-truth folder was given")]
    NeedsGroundTruth {
        /// The first such metric.
        metric: Metric,
    },
    /// A metric's network was asked for without its weights file.
    #[error("{metric} needs {what}, and no weights file was given")]
    MissingWeights {
        /// The metric.
        metric: Metric,
        /// What the weights are for, e.g. "the LPIPS backbone".
        what: &'static str,
    },
    /// The report file exists and replacing it was not allowed.
    #[error("{}: already exists (replacing it was not allowed)", path.display())]
    ReportExists {
        /// The existing file.
        path: PathBuf,
    },
    /// The restored folder holds no image file.
    #[error("{}: no image files found", path.display())]
    NoImages {
        /// The folder (or file) given.
        path: PathBuf,
    },
    /// The identity encoder could not be loaded or run (the message names its file).
    #[error(transparent)]
    Identity(#[from] diffmac_id::IdError),
    /// The landmark detector could not be loaded or run.
    #[error(transparent)]
    Face(#[from] diffmac_face::FaceError),
    /// The report could not be serialised (e.g. a path that is not UTF-8).
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// A name (of a metric, an SSIM convention, an LPIPS network) that names none of the known
/// ones; what the command-line flags' parsers report.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{given}` ({expected})")]
pub struct UnknownName {
    /// What was being named, e.g. "metric".
    pub what: &'static str,
    /// The name given.
    pub given: String,
    /// The names accepted (and any note on missing ones).
    pub expected: String,
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, EvalError>;
