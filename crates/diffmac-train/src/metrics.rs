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

/// The records of `text` (the `metrics.jsonl` at `path`) up to `resume_step`, the history a
/// resumed run keeps; the later ones are written again as the run repeats those steps. A
/// last line cut off by a crash is dropped; any other line that is not a record is an error,
/// so that a file this crate did not write is never rewritten without it.
fn kept_records(text: &str, resume_step: usize, path: &Path) -> Result<Vec<String>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut kept = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str::<MetricsRecord>(line) {
            Ok(r) if r.step <= resume_step => kept.push(line.to_string()),
            Ok(_) => {}
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {}
            Err(e) => {
                return Err(TrainError::checkpoint(
                    path,
                    format!(
                        "line {} is not a metrics record ({e}); move the file away to resume",
                        i + 1
                    ),
                ));
            }
        }
    }
    Ok(kept)
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
                Ok(text) => kept_records(&text, resume_step, &path)?,
                // A run folder whose history was removed: it starts again from here.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(TrainError::io(&path)(e)),
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
    /// (See `kept_records` for what a resumed run keeps.)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(step: usize) -> MetricsRecord {
        MetricsRecord {
            step,
            stage: 1,
            loss: 0.5,
            terms: BTreeMap::new(),
            lr: 1e-5,
            grad_norm: 1.0,
            seconds: step as f64,
            step_seconds: 1.0,
        }
    }

    fn lines(steps: &[usize]) -> String {
        steps
            .iter()
            .map(|s| serde_json::to_string(&record(*s)).unwrap() + "\n")
            .collect()
    }

    #[test]
    fn resuming_keeps_the_history_up_to_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(METRICS_FILE);
        // A crash cut the last line off.
        std::fs::write(&path, lines(&[1, 2, 3]) + r#"{"step": 4, "sta"#).unwrap();
        let mut writer = MetricsWriter::open(dir.path(), 2).unwrap();
        writer.write(&record(3)).unwrap();
        let steps: Vec<usize> = read_metrics(&path)
            .unwrap()
            .iter()
            .map(|r| r.step)
            .collect();
        assert_eq!(steps, [1, 2, 3]);
    }

    #[test]
    fn a_file_that_is_not_metrics_is_never_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(METRICS_FILE);
        let text = lines(&[1]) + "my notes\n" + &lines(&[2]);
        std::fs::write(&path, &text).unwrap();
        let err = MetricsWriter::open(dir.path(), 2).unwrap_err().to_string();
        assert!(
            err.contains("metrics.jsonl") && err.contains("line 2"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

        // Unreadable (not UTF-8): also an error, also untouched.
        std::fs::write(&path, [0xff, 0xfe, b'\n']).unwrap();
        assert!(MetricsWriter::open(dir.path(), 2).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), [0xff, 0xfe, b'\n']);
    }
}
