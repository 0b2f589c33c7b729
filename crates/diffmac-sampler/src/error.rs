//! The one error type of this crate. Each variant names the request that cannot be met and the
//! limit it broke, so a caller can print it as it is.

use std::path::PathBuf;

/// Everything that can go wrong while building a schedule or running a sampler.
///
/// Non-exhaustive so that new checks can be added without breaking callers' matches.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SamplerError {
    /// More sampling steps were asked for than the schedule has timesteps.
    #[error("cannot take {requested} steps from a schedule of {available} timesteps")]
    TooManySteps {
        /// Steps asked for.
        requested: usize,
        /// Timesteps the schedule (or the section) has.
        available: usize,
    },
    /// improved DDPM's section counts: one section holds fewer timesteps than its count.
    #[error(
        "cannot take {requested} steps from section {section} of {available} timesteps \
         (the T timesteps are cut into equal sections, one per count)"
    )]
    SectionTooSmall {
        /// Which section, counting from 0.
        section: usize,
        /// Steps asked of it.
        requested: usize,
        /// Timesteps it has.
        available: usize,
    },
    /// A spacing string that is not one of the documented forms.
    #[error(
        "unknown spacing {spec:?}: expected section counts (\"50\", \"10,15,20\"), \"ddimN\", \
         \"leadingN\", \"leadingN+OFFSET\", \"trailingN\" or \"linspaceN\""
    )]
    UnknownSpacing {
        /// The string as given.
        spec: String,
    },
    /// `ddimN`: no integer stride yields exactly N steps (improved DDPM's rule).
    #[error("no integer stride takes exactly {steps} steps from {num_timesteps} timesteps")]
    NoDdimStride {
        /// Steps asked for.
        steps: usize,
        /// Timesteps of the schedule.
        num_timesteps: usize,
    },
    /// A respacing that keeps no timestep at all.
    #[error("the spacing {spec:?} keeps no timestep")]
    NoSteps {
        /// The spacing, as text.
        spec: String,
    },
    /// The `leading` spacing with its offset runs past the last timestep.
    #[error(
        "leading spacing with offset {offset} reaches timestep {last}, past the last one ({max})"
    )]
    OffsetTooLarge {
        /// The `steps_offset`.
        offset: usize,
        /// The last timestep it would keep.
        last: usize,
        /// The last timestep the schedule has.
        max: usize,
    },
    /// Betas outside (0, 1), a schedule of length zero, or parameters that produce such betas.
    #[error("invalid beta schedule: {0}")]
    InvalidSchedule(String),
    /// A `beta_schedule` name this crate does not implement.
    #[error(
        "unknown beta schedule {0:?}: expected \"scaled_linear\", \"linear\" or \"squaredcos_cap_v2\" (cosine)"
    )]
    UnknownBetaSchedule(String),
    /// A `prediction_type` name this crate does not implement.
    #[error("unknown prediction type {0:?}: expected \"epsilon\", \"v_prediction\" or \"sample\"")]
    UnknownPredictionType(String),
    /// A diffusers `timestep_spacing` name this crate does not implement.
    #[error("unknown timestep spacing {0:?}: expected \"leading\", \"trailing\" or \"linspace\"")]
    UnknownTimestepSpacing(String),
    /// A scheduler config option this crate does not implement (learned variances,
    /// zero-terminal-SNR rescaling, …).
    #[error("unsupported scheduler option: {0}")]
    Unsupported(String),
    /// A scheduler config file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A scheduler config is not valid JSON of the expected shape.
    #[error("{origin}: invalid scheduler config: {source}")]
    Config {
        /// The file, or `"<string>"` for in-memory text.
        origin: String,
        /// The parser's description.
        source: serde_json::Error,
    },
    /// A training timestep past the end of the schedule.
    #[error("timestep {timestep} is out of range: the schedule has {len} timesteps")]
    TimestepOutOfRange {
        /// The timestep given.
        timestep: usize,
        /// How many training timesteps the schedule has.
        len: usize,
    },
    /// A step index of a respaced schedule past its last kept step.
    #[error("step index {index} is out of range: the spaced schedule keeps {len} steps")]
    StepIndexOutOfRange {
        /// The index given.
        index: usize,
        /// How many steps the spaced schedule keeps.
        len: usize,
    },
    /// A start timestep below the first kept one, so no step of the grid can start there.
    #[error("no kept timestep at or below {timestep}: the first kept timestep is {first}")]
    BeforeFirstStep {
        /// The training timestep asked for.
        timestep: usize,
        /// The first kept timestep.
        first: usize,
    },
    /// Per-sample values whose count does not match the batch.
    #[error("{what}: {got} values for a batch of {batch}")]
    BatchMismatch {
        /// Which argument.
        what: &'static str,
        /// The batch size (first tensor dimension).
        batch: usize,
        /// Values given.
        got: usize,
    },
    /// Two tensors that must have the same shape do not.
    #[error("shape mismatch: {what} is {got:?}, expected {expected:?}")]
    ShapeMismatch {
        /// Which argument.
        what: &'static str,
        /// Expected shape.
        expected: Vec<usize>,
        /// Shape given.
        got: Vec<usize>,
    },
    /// A sampler option outside its valid range (η, strength, guidance scale, clip range,
    /// a step count of 0).
    #[error("invalid {name} = {value}: {reason}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// The value given.
        value: f64,
        /// The allowed range.
        reason: &'static str,
    },
}

/// This crate's `Result`.
pub type Result<T> = std::result::Result<T, SamplerError>;
