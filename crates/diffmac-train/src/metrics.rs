//! `RUN_DIR/metrics.jsonl`: one JSON object per logged step, e.g.
//! `{"step":10,"stage":1,"loss":0.98,"terms":{"ldm":0.98},"lr":0.0001,"grad_norm":1.3,"seconds":4.2,"step_seconds":0.41}`.
//! On resume, lines after the checkpoint's step (written by the interrupted run) are dropped.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// The metrics file name.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsRecord {
    /// Optimiser step (1-based).
    pub step: usize,
    /// 1 or 2.
    pub stage: u8,
    /// The differentiated loss, averaged over the step's micro-batches.
    pub loss: f64,
    /// Its terms (`ldm`; `info`, `rec` for the MIB), unweighted.
    pub terms: BTreeMap<String, f64>,
    /// Learning rate of the step.
    pub lr: f64,
    /// Global gradient L2 norm before clipping.
    pub grad_norm: f64,
    /// Seconds since the run (or the resumed run) started.
    pub seconds: f64,
    /// Seconds this step took.
    pub step_seconds: f64,
}

/// Appends records to `metrics.jsonl`.
#[derive(Debug)]
pub struct MetricsWriter {
    path: PathBuf,
    file: File,
}

impl MetricsWriter {
    /// Opens `run_dir/metrics.jsonl` for appending, first dropping records after
    /// `resume_step` (0: a fresh run, the file is emptied).
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn open(run_dir: &Path, resume_step: usize) -> Result<Self> {
        let path = run_dir.join(METRICS_FILE);
        let kept: Vec<String> = if resume_step == 0 {
            Vec::new()
        } else {
            match std::fs::read_to_string(&path) {
                Ok(text) => text
                    .lines()
                    .filter(|l| {
                        serde_json::from_str::<MetricsRecord>(l)
                            .is_ok_and(|r| r.step <= resume_step)
                    })
                    .map(str::to_string)
                    .collect(),
                Err(_) => Vec::new(),
            }
        };
        let mut text = kept.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        diffmac_io::write_atomically(&path, text.as_bytes(), true)?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(TrainError::io(&path))?;
        Ok(Self { path, file })
    }

    /// Appends one record and flushes.
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn write(&mut self, record: &MetricsRecord) -> Result<()> {
        let mut line = serde_json::to_string(record).expect("plain data");
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(TrainError::io(&self.path))
    }
}

/// Reads every record of a `metrics.jsonl`.
///
/// # Errors
/// I/O or JSON errors naming the file.
pub fn read_metrics(path: &Path) -> Result<Vec<MetricsRecord>> {
    let text = std::fs::read_to_string(path).map_err(TrainError::io(path))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|source| TrainError::Json {
                path: path.to_path_buf(),
                source,
            })
        })
        .collect()
}
