//! The one error type of this crate. Every variant that concerns a file names it, so a batch
//! tool can print the error as it is and the user knows which file and what went wrong.

use std::path::PathBuf;

/// Everything that can go wrong while loading, degrading or saving an image.
#[derive(Debug, thiserror::Error)]
pub enum DegradeError {
    /// The file could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file's bytes are not in any image format this build can read.
    #[error("{}: not an image (unknown or unsupported file format)", path.display())]
    NotAnImage {
        /// The file concerned.
        path: PathBuf,
    },
    /// The file looks like an image but could not be decoded (truncated or corrupt).
    #[error("{}: cannot decode image: {source}", path.display())]
    Decode {
        /// The file concerned.
        path: PathBuf,
        /// The decoder's description of the problem.
        source: image::ImageError,
    },
    /// The file ends before the image data does.
    #[error("{}: truncated image (the file ends before the image data does)", path.display())]
    Truncated {
        /// The file concerned.
        path: PathBuf,
    },
    /// The file is bigger than any image within the pixel limit can be.
    #[error(
        "{}: file is {bytes} bytes, more than an image within the pixel limit can need ({max_bytes}); raise --max-pixels to accept it",
        path.display()
    )]
    FileTooLarge {
        /// The file concerned.
        path: PathBuf,
        /// Its size in bytes.
        bytes: u64,
        /// The largest size accepted.
        max_bytes: u64,
    },
    /// The image has more pixels than the configured limit allows.
    #[error(
        "{}: image is {width}x{height} = {} pixels, over the limit of {max_pixels} (raise --max-pixels to accept it)",
        path.display(), u64::from(*width) * u64::from(*height)
    )]
    TooLarge {
        /// The file concerned.
        path: PathBuf,
        /// Its width in pixels.
        width: u32,
        /// Its height in pixels.
        height: u32,
        /// The limit in force.
        max_pixels: u64,
    },
    /// The image is smaller than the size the caller asked for.
    #[error(
        "{}: image is {width}x{height}, smaller than the target size {min_side}x{min_side}; an up-scaled image is no high-quality face",
        path.display()
    )]
    TooSmall {
        /// The file concerned.
        path: PathBuf,
        /// Its width in pixels.
        width: u32,
        /// Its height in pixels.
        height: u32,
        /// The smallest accepted side length.
        min_side: u32,
    },
    /// An output file already exists and overwriting was not allowed.
    #[error("{}: already exists; refusing to overwrite it (pass --overwrite to replace it)", path.display())]
    OutputExists {
        /// The existing file.
        path: PathBuf,
    },
    /// Two inputs would be written to the same output file.
    #[error("{}: output name {} is already taken by {}", path.display(), output.display(), other.display())]
    OutputClash {
        /// The input that lost the name.
        path: PathBuf,
        /// The output both inputs map to.
        output: PathBuf,
        /// The input that keeps the name.
        other: PathBuf,
    },
    /// Writing into the input folder was requested; inputs are never put at risk.
    #[error("output folder {} is the folder of the inputs; choose another one", path.display())]
    OutputIsInputFolder {
        /// The folder concerned.
        path: PathBuf,
    },
    /// A configuration value is out of its valid range.
    #[error("invalid degradation config: {0}")]
    InvalidConfig(String),
    /// A configuration file could not be parsed.
    #[error("{}: invalid degradation config: {source}", path.display())]
    ConfigFile {
        /// The file concerned.
        path: PathBuf,
        /// The parser's description of the problem.
        source: serde_json::Error,
    },
    /// Encoding or decoding an in-memory image (the JPEG round trip, a PNG being written) failed.
    #[error("image codec error: {0}")]
    Codec(#[from] image::ImageError),
    /// A tensor or image batch did not have the shape the conversion needs.
    #[error("shape mismatch: {0}")]
    Shape(String),
}

impl DegradeError {
    /// The file the error is about, when there is one.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Self::Io { path, .. }
            | Self::NotAnImage { path }
            | Self::Decode { path, .. }
            | Self::Truncated { path }
            | Self::TooLarge { path, .. }
            | Self::FileTooLarge { path, .. }
            | Self::TooSmall { path, .. }
            | Self::OutputExists { path }
            | Self::OutputClash { path, .. }
            | Self::OutputIsInputFolder { path }
            | Self::ConfigFile { path, .. } => Some(path),
            Self::InvalidConfig(_) | Self::Codec(_) | Self::Shape(_) => None,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = DegradeError> = std::result::Result<T, E>;
