//! What a run tells its caller as it goes: files left out, the model, each input that failed
//! or had no face, progress of inputs and diffusion steps, and the summary. The library prints
//! nothing; [`RunEvent::message`] gives the line `diffmac-restore` prints for each.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use burn::tensor::backend::Backend;

use crate::bundle::ModelBundle;
use crate::layout::FINAL_RESULTS;
use crate::pipeline::{Observer, PipelineEvent};
use crate::report::REPORT;
use crate::run::RunSummary;

/// One thing that happened in a run, in the order it happened.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// A file of the input folder without an image extension, left out.
    NotAnImage(&'a Path),
    /// The model cannot restore anything (sent before [`RunEvent::ModelLoaded`]).
    ModelWarning(&'a ModelWarning),
    /// The model is loaded.
    ModelLoaded {
        /// Its folder.
        dir: &'a Path,
        /// How long loading took.
        took: Duration,
    },
    /// No identity network: similarities are `null` in the report, and best-of keeps the
    /// lowest NIQE.
    NoIdentityNetwork {
        /// Candidates per face.
        best_of: usize,
    },
    /// Everything is loaded and restoring begins (for progress bars).
    Restoring {
        /// The image files to restore (or to skip, when done already).
        inputs: usize,
    },
    /// This many more inputs are finished (restored, failed or skipped): for progress bars.
    InputsDone(usize),
    /// One sampling step of the faces being restored.
    Step {
        /// 1 or 2.
        stage: u8,
        /// Steps of this stage done so far.
        done: usize,
        /// Steps of this stage.
        total: usize,
    },
    /// An input, or a batch of them, failed; the run goes on.
    Failed(&'a Failure),
    /// A photo without a face to restore: it is copied to `final_results/` unchanged.
    NoFace {
        /// The photo.
        input: &'a Path,
        /// Faces found but not kept (the report says why).
        found: usize,
    },
    /// Every input is done; report.json is written next.
    Finished(&'a RunSummary),
}

impl RunEvent<'_> {
    /// The line `diffmac-restore` prints for this event (several for
    /// [`RunEvent::Finished`]); `None` for progress and for [`RunEvent::ModelLoaded`], whose
    /// line names the backend.
    pub fn message(&self) -> Option<String> {
        Some(match self {
            Self::NotAnImage(path) => {
                format!("skipped {}: not an image file extension", path.display())
            }
            Self::ModelWarning(warning) => format!("WARNING: {warning}"),
            Self::NoIdentityNetwork { best_of } => format!(
                "no identity network: identity similarity is null in {REPORT}{} (give \
                 --id-weights FILE, or run scripts/fetch_identity_weights.sh)",
                if *best_of > 1 {
                    " and --best-of keeps the lowest NIQE"
                } else {
                    ""
                }
            ),
            Self::Failed(failure) => format!("failed: {failure}"),
            Self::NoFace { input, found } => {
                let why = if *found > 0 {
                    format!("{found} face(s) found, none kept (see {REPORT})")
                } else {
                    "no face found".to_string()
                };
                format!(
                    "{}: {why}; the photo is copied to {FINAL_RESULTS}/ unchanged",
                    input.display()
                )
            }
            Self::Finished(summary) => summary.lines().join("\n"),
            Self::ModelLoaded { .. }
            | Self::Restoring { .. }
            | Self::InputsDone(_)
            | Self::Step { .. } => return None,
        })
    }
}

/// Receives a run's events.
pub trait Progress {
    /// Called once per event, in order.
    fn event(&mut self, event: &RunEvent<'_>);
}

impl<F: FnMut(&RunEvent<'_>)> Progress for F {
    fn event(&mut self, event: &RunEvent<'_>) {
        self(event)
    }
}

/// Inputs that could not be restored, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The inputs concerned: one, or every input of a batch that failed as a whole.
    pub inputs: Vec<PathBuf>,
    /// What went wrong, with its causes after `: `.
    pub message: String,
}

impl Failure {
    /// The failure of `inputs` with `error` and its chain of causes.
    pub(crate) fn new(inputs: Vec<PathBuf>, error: &dyn std::error::Error) -> Self {
        let mut message = error.to_string();
        let mut cause = error.source();
        while let Some(c) = cause {
            message += &format!(": {c}");
            cause = c.source();
        }
        Self { inputs, message }
    }
}

impl fmt::Display for Failure {
    /// The inputs and the message, without naming the inputs twice when the message already
    /// starts with them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self
            .inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let names = names.join(", ");
        if self.message.starts_with(&names) {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{names}: {}", self.message)
        }
    }
}

/// Why a model's outputs are not restorations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelWarning {
    /// A tiny test model with random weights.
    RandomWeights(PathBuf),
    /// A converted base whose stage controls were never trained (no merged checkpoints).
    UntrainedStages(PathBuf),
}

impl ModelWarning {
    /// The warning a user of `bundle` needs, if any.
    pub fn of<B: Backend>(bundle: &ModelBundle<B>) -> Option<Self> {
        let c = &bundle.config;
        if c.random_weights {
            Some(Self::RandomWeights(bundle.dir.clone()))
        } else if !c.stage1.trained || c.stage2.as_ref().is_some_and(|s| !s.trained) {
            Some(Self::UntrainedStages(bundle.dir.clone()))
        } else {
            None
        }
    }
}

impl fmt::Display for ModelWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RandomWeights(dir) => write!(
                f,
                "{} has RANDOM weights (a tiny test model): the outputs exercise the \
                 pipeline but are NOT restorations.",
                dir.display()
            ),
            Self::UntrainedStages(dir) => write!(
                f,
                "{} has untrained stage controls (a converted base without merged \
                 diffmac-train checkpoints): the outputs are not restorations.",
                dir.display()
            ),
        }
    }
}

/// Passes the pipeline's sampling steps on to a run's [`Progress`].
pub(crate) struct Steps<'p>(pub(crate) &'p mut dyn Progress);

impl<B: Backend> Observer<B> for Steps<'_> {
    fn event(&mut self, event: &PipelineEvent<'_, B>) {
        if let PipelineEvent::Step { stage, done, total } = event {
            self.0.event(&RunEvent::Step {
                stage: *stage,
                done: *done,
                total: *total,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn failures_name_their_inputs_once_with_every_cause() {
        let error = Outer(std::io::Error::other("inner"));
        let one = Failure::new(vec!["a.png".into()], &error);
        assert_eq!(one.to_string(), "a.png: outer: inner");
        let batch = Failure::new(vec!["a.png".into(), "b.png".into()], &error);
        assert_eq!(batch.to_string(), "a.png, b.png: outer: inner");
        let named = Failure {
            inputs: vec!["a.png".into()],
            message: "a.png: truncated".into(),
        };
        assert_eq!(named.to_string(), "a.png: truncated");
        assert_eq!(
            RunEvent::Failed(&named).message().as_deref(),
            Some("failed: a.png: truncated")
        );
    }

    #[test]
    fn messages_are_the_tools_lines() {
        let wall = Path::new("in/wall.png");
        let none = RunEvent::NoFace {
            input: wall,
            found: 0,
        };
        assert_eq!(
            none.message().unwrap(),
            "in/wall.png: no face found; the photo is copied to final_results/ unchanged"
        );
        let dropped = RunEvent::NoFace {
            input: wall,
            found: 2,
        };
        assert!(
            (dropped.message().unwrap())
                .starts_with("in/wall.png: 2 face(s) found, none kept (see report.json)")
        );
        let lone = RunEvent::NoIdentityNetwork { best_of: 1 }
            .message()
            .unwrap();
        assert!(!lone.contains("--best-of"), "{lone}");
        let best = RunEvent::NoIdentityNetwork { best_of: 3 }
            .message()
            .unwrap();
        assert!(best.contains("--best-of keeps the lowest NIQE"), "{best}");
        assert_eq!(RunEvent::InputsDone(1).message(), None);
        let warning = ModelWarning::RandomWeights("m".into());
        assert!(
            (RunEvent::ModelWarning(&warning).message().unwrap())
                .starts_with("WARNING: m has RANDOM weights")
        );
    }
}
