//! What a run did, counted as it goes, and the summary it ends with.

use std::path::PathBuf;
use std::time::Duration;

use crate::report::{Entries, REPORT, Report};

/// The counters of a run in progress.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) done: usize,
    pub(crate) failed: usize,
    pub(crate) skipped_existing: usize,
    pub(crate) faces: usize,
    pub(crate) no_face: usize,
    pub(crate) restoring: Duration,
    /// report.json's entries, in input order.
    pub(crate) entries: Entries,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Image files found in the input.
    pub inputs: usize,
    /// Inputs restored (photos without a face included).
    pub done: usize,
    /// Inputs that failed (a photo with a failed face counts here).
    pub failed: usize,
    /// Inputs left out as their output existed ([`crate::run::Existing::Skip`]).
    pub skipped_existing: usize,
    /// Faces restored.
    pub faces: usize,
    /// Photos in which no face was restored.
    pub no_face: usize,
    /// Time spent restoring (loading, the pipeline, writing), without model loading.
    pub restoring: Duration,
    /// Time from the first input to the last.
    pub elapsed: Duration,
    /// The output folder.
    pub output: PathBuf,
    /// The run seed.
    pub seed: u64,
    /// This run's report (before it is merged with an earlier report.json).
    pub report: Report,
}

impl RunSummary {
    /// Whether every input succeeded.
    pub fn all_done(&self) -> bool {
        self.failed == 0
    }

    /// The lines `diffmac-restore` ends with: counts and times, then the report's scores and
    /// its faces not restored, when there are any.
    pub fn lines(&self) -> Vec<String> {
        let per_face = if self.faces > 0 {
            format!(
                ", {:.2} s per face",
                self.restoring.as_secs_f64() / self.faces as f64
            )
        } else {
            String::new()
        };
        let mut lines = vec![format!(
            "restored {} face(s) from {} of {} input(s) into {} in {:.1} s{per_face} \
             (seed {}, {} failed, {} without a face, {} already done)",
            self.faces,
            self.done,
            self.inputs,
            self.output.display(),
            self.elapsed.as_secs_f64(),
            self.seed,
            self.failed,
            self.no_face,
            self.skipped_existing
        )];
        if !self.report.faces.is_empty() {
            lines.push(self.report.summary_line());
        }
        if !self.report.not_restored.is_empty() {
            lines.push(format!(
                "{} face(s) found but not restored (--faces, --min-face or a low score): see \
                 {REPORT}",
                self.report.not_restored.len()
            ));
        }
        lines
    }
}
