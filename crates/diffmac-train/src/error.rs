//! The crate's error type: every variant about a file names it.

use std::path::PathBuf;

/// Errors of training: configs, data, models and checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A JSON file (config, `state.json`) is not valid or has unknown fields.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What serde said.
        source: serde_json::Error,
    },
    /// A config value is out of range or settings contradict each other.
    #[error("invalid config: {0}")]
    Config(String),
    /// The training data cannot be used (empty folder, every image unreadable, ...).
    #[error("{path}: {message}")]
    Data {
        /// The folder or file.
        path: PathBuf,
        /// The problem.
        message: String,
    },
    /// The run folder cannot be used as asked (e.g. it holds checkpoints and `--resume` was
    /// not given).
    #[error("{path}: {message}")]
    RunFolder {
        /// The run folder.
        path: PathBuf,
        /// The problem.
        message: String,
    },
    /// A checkpoint folder is missing a file, is from another configuration or is corrupt.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint folder or file.
        path: PathBuf,
        /// The problem.
        message: String,
    },
    /// Loading or saving a model failed (the message names the file and key).
    #[error(transparent)]
    Ldm(#[from] diffmac_ldm::LdmError),
    /// The bottleneck refused its input or statistics.
    #[error(transparent)]
    Mib(#[from] diffmac_mib::MibError),
    /// The sampler refused an option or a shape.
    #[error(transparent)]
    Sampler(#[from] diffmac_sampler::SamplerError),
    /// Degradation failed (the message names the file).
    #[error(transparent)]
    Degrade(#[from] diffmac_degrade::DegradeError),
    /// Reading or writing an image or a weight file failed (the message names the file).
    #[error(transparent)]
    File(#[from] diffmac_io::IoError),
    /// The identity encoder could not be loaded.
    #[error(transparent)]
    Id(#[from] diffmac_id::IdError),
    /// A data-parallel collective operation failed (or another peer stopped).
    #[error("data-parallel training: {0}")]
    Collective(String),
    /// The run was stopped (e.g. the data loader thread ended).
    #[error("training stopped: {0}")]
    Stopped(String),
    /// What was asked for (several devices, several nodes, the orchestrator) needs a build
    /// with the `ddp` feature.
    #[error(
        "{0} needs a build with the `ddp` feature (cargo build --release -p diffmac-cli --features ddp)"
    )]
    NeedsDdp(&'static str),
}

/// `Result` with [`TrainError`].
pub type Result<T> = std::result::Result<T, TrainError>;

impl TrainError {
    /// Whether the error is one of the run's set-up (config, data, run folder, checkpoint,
    /// models, build features) rather than of training itself: for a tool, a usage error
    /// when it comes before the first step.
    pub fn is_setup(&self) -> bool {
        matches!(
            self,
            Self::Config(_)
                | Self::Json { .. }
                | Self::Data { .. }
                | Self::RunFolder { .. }
                | Self::Io { .. }
                | Self::Checkpoint { .. }
                | Self::Ldm(_)
                | Self::Id(_)
                | Self::NeedsDdp(_)
        )
    }

    /// An [`TrainError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }

    /// A [`TrainError::Checkpoint`] for `path`.
    pub fn checkpoint(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Checkpoint {
            path: path.into(),
            message: message.into(),
        }
    }
}
