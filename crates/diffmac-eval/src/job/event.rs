//! What a run tells its caller as it goes: progress for bars, and problems to print as they
//! happen (the report lists them all again at the end).

use std::collections::BTreeMap;
use std::path::Path;

use diffmac_id::IdentityNetworkKind;

use super::Failure;
use crate::error::EvalError;
use crate::metric::Metric;
use crate::pairing::Pair;
use crate::report::{ImageScores, MetricSummary};

/// Why a file is not scored as a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeftOut {
    /// A folder entry without an image file extension (not scored).
    NotAnImage,
    /// Another image in its folder has the same stem (not scored).
    SameName,
    /// A restored image without ground truth (only no-reference metrics).
    NoGroundTruth,
    /// A ground-truth image without a restored image (not scored).
    NoRestored,
}

/// What a run reports as it goes, in this order: the identity encoder, the files left out,
/// the per-image pass (`Scored` from worker threads, in completion order), the FID features
/// of each set, the summary. Lets a tool draw progress and print problems as they happen.
#[derive(Debug)]
pub enum EvalEvent<'a> {
    /// The identity encoder was loaded.
    IdentityEncoder {
        /// The network in the file.
        kind: IdentityNetworkKind,
        /// The file.
        path: &'a Path,
    },
    /// A file is left out of the pairs, or paired with nothing.
    LeftOut {
        /// The file.
        path: &'a Path,
        /// Why.
        reason: LeftOut,
    },
    /// The per-image pass starts.
    ScoringStarted {
        /// How many restored images it scores.
        images: usize,
    },
    /// One image is done: its scores (with any metric that failed on it), or why it could
    /// not be scored at all.
    Scored {
        /// The image and its ground truth.
        pair: &'a Pair,
        /// The outcome.
        result: &'a std::result::Result<ImageScores, Failure>,
    },
    /// The per-image pass is over.
    ScoringFinished,
    /// Inception features of one set are computed (they were not cached).
    FidFeaturesStarted {
        /// How many images.
        images: usize,
    },
    /// One image's Inception features are done.
    FidFeatureDone,
    /// The set's features are done.
    FidFeaturesFinished,
    /// An image whose Inception features could not be computed (FID goes on without it).
    FidFailed(&'a Failure),
    /// The feature cache could not be written: the next run recomputes, this one is complete.
    FidCacheNotWritten(&'a EvalError),
    /// FID is undefined for these features (e.g. too few images).
    FidUndefined(&'a EvalError),
    /// Means and counts of every metric, FID included: the run's result before the report
    /// is written.
    Summary(&'a BTreeMap<Metric, MetricSummary>),
}

/// The callback that [`run_eval`] reports to.
pub(crate) type OnEvent<'a> = dyn Fn(EvalEvent<'_>) + Sync + 'a;
