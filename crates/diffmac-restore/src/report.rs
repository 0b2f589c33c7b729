//! `report.json` of a restoration run ([`crate::run`], `diffmac-restore`): per restored face,
//! how much it still looks like the input (identity similarity) and how natural it looks
//! (NIQE), with every `--best-of` candidate; the faces found but not restored, and why; and
//! the summary line printed at the end of a run. These structs are the file's schema: its
//! fields and their order are what users' scripts read.

use std::collections::BTreeSet;
use std::path::Path;

use diffmac_face::DroppedFace;
use diffmac_io::write_atomically;
use serde::{Deserialize, Serialize};

use crate::error::{RestoreError, Result};
use crate::faces::{Candidate, JudgedFace};

/// The report's file name in the output folder.
pub const REPORT: &str = "report.json";

/// One restored face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceEntry {
    /// The input file, as given.
    pub input: String,
    /// The face's index in its photo (0 for an aligned face).
    pub index: usize,
    /// The seed of the kept restoration.
    pub seed: u64,
    /// Cosine similarity of the identity embeddings of the input and the kept face; `null`
    /// without an identity network.
    pub identity_similarity: Option<f64>,
    /// NIQE of the kept face (lower is more natural); `null` for a face under 192 pixels.
    pub niqe: Option<f64>,
    /// Every candidate restored (one without `--best-of`).
    pub candidates: Vec<CandidateEntry>,
    /// The detector that found the face in its photo (`"retinaface"`); `null` for an aligned
    /// face. Kept per face, so a report merged over runs with other flags stays true.
    #[serde(default)]
    pub found_by: Option<String>,
    /// How the restored face was pasted back into its photo (`"face outline"` or
    /// `"feathered square"`); `null` for an aligned face.
    #[serde(default)]
    pub pasted_with: Option<String>,
}

/// One candidate of a face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CandidateEntry {
    /// Its seed.
    pub seed: u64,
    /// Its identity similarity to the input.
    pub identity_similarity: Option<f64>,
    /// Its NIQE.
    pub niqe: Option<f64>,
}

impl FaceEntry {
    /// The entry of face `index` of `input`.
    pub fn new(input: &Path, index: usize, judged: &JudgedFace) -> Self {
        let entry = |c: &Candidate| CandidateEntry {
            seed: c.seed,
            identity_similarity: c.score.identity_similarity,
            niqe: c.score.niqe,
        };
        let kept = entry(judged.kept());
        Self {
            input: input.display().to_string(),
            index,
            seed: kept.seed,
            identity_similarity: kept.identity_similarity,
            niqe: kept.niqe,
            candidates: judged.candidates.iter().map(entry).collect(),
            found_by: None,
            pasted_with: None,
        }
    }

    /// The entry of a face of a whole photo, found by `detector` and pasted with `mask`.
    pub fn in_photo(self, detector: &str, mask: &str) -> Self {
        Self {
            found_by: Some(detector.to_string()),
            pasted_with: Some(mask.to_string()),
            ..self
        }
    }
}

/// A face that was detected but not restored, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotRestored {
    /// The input file, as given.
    pub input: String,
    /// Its box `[x1, y1, x2, y2]` in the photo.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// The detector's score.
    pub score: f32,
    /// Why (`score below 0.8`, `30 px, smaller than the minimum 64 px`, `not the largest
    /// face`, ...).
    pub reason: String,
    /// The detector that found it (`"retinaface"`).
    #[serde(default)]
    pub found_by: Option<String>,
}

impl NotRestored {
    /// The record of `dropped`, a face of `input` found by `detector`.
    pub fn new(input: &Path, dropped: &DroppedFace, detector: &str) -> Self {
        Self {
            input: input.display().to_string(),
            bbox: dropped.detection.bbox,
            score: dropped.detection.score,
            reason: dropped.reason.to_string(),
            found_by: Some(detector.to_string()),
        }
    }
}

/// What a run collects for its report, in input order.
#[derive(Debug, Default)]
pub struct Entries {
    /// The restored faces.
    pub faces: Vec<FaceEntry>,
    /// The faces found but not restored.
    pub not_restored: Vec<NotRestored>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The identity network the similarities come from (its kind and where it was loaded
    /// from), or `null`.
    pub identity_network: Option<String>,
    /// Candidates per face (`--best-of`).
    pub best_of: usize,
    /// Mean identity similarity of the kept faces, when any has one.
    pub mean_identity_similarity: Option<f64>,
    /// Mean NIQE of the kept faces, when any has one.
    pub mean_niqe: Option<f64>,
    /// Every face, in input order.
    pub faces: Vec<FaceEntry>,
    /// Faces found in whole photos but not restored (`--faces`, `--min-face`, a low score).
    #[serde(default)]
    pub not_restored: Vec<NotRestored>,
}

impl Report {
    /// A report of `faces`, with their means.
    pub fn new(
        identity_network: Option<String>,
        best_of: usize,
        faces: Vec<FaceEntry>,
        not_restored: Vec<NotRestored>,
    ) -> Self {
        Self {
            identity_network,
            best_of,
            mean_identity_similarity: mean(faces.iter().filter_map(|f| f.identity_similarity)),
            mean_niqe: mean(faces.iter().filter_map(|f| f.niqe)),
            faces,
            not_restored,
        }
    }

    /// Writes the report into `output` as [`REPORT`], atomically. Entries of an earlier
    /// report there whose input has none in this one (skipped with `--skip-existing`, or
    /// failed this time) are kept, so the report covers the whole folder; a report without
    /// entries leaves an earlier one as it is.
    ///
    /// # Errors
    /// The folder or the file cannot be written ([`RestoreError::Output`],
    /// [`RestoreError::File`]).
    pub fn write(mut self, output: &Path) -> Result<()> {
        let path = output.join(REPORT);
        if self.faces.is_empty() && self.not_restored.is_empty() && path.exists() {
            return Ok(());
        }
        let touched: BTreeSet<String> = (self.faces.iter().map(|f| f.input.clone()))
            .chain(self.not_restored.iter().map(|f| f.input.clone()))
            .collect();
        if let Ok(text) = std::fs::read_to_string(&path)
            && let Ok(old) = serde_json::from_str::<Report>(&text)
        {
            let kept = old
                .faces
                .into_iter()
                .filter(|f| !touched.contains(&f.input));
            let mut faces: Vec<FaceEntry> = kept.chain(self.faces).collect();
            faces.sort_by(|a, b| (&a.input, a.index).cmp(&(&b.input, b.index)));
            let kept = (old.not_restored.into_iter()).filter(|f| !touched.contains(&f.input));
            let mut not_restored: Vec<NotRestored> = kept.chain(self.not_restored).collect();
            not_restored.sort_by(|a, b| a.input.cmp(&b.input));
            self = Self::new(self.identity_network, self.best_of, faces, not_restored);
        }
        std::fs::create_dir_all(output)
            .map_err(|e| RestoreError::output(output, "cannot create the folder", e))?;
        let text = serde_json::to_string_pretty(&self)
            .map_err(|e| RestoreError::output(&path, "cannot serialise", e.into()))?;
        write_atomically(&path, text.as_bytes(), true)?;
        Ok(())
    }

    /// One line for the end of a run: mean and worst identity similarity, mean NIQE.
    pub fn summary_line(&self) -> String {
        let Some(mean_id) = self.mean_identity_similarity else {
            return match self.mean_niqe {
                Some(n) => format!("identity similarity: not measured; NIQE mean {n:.3}"),
                None => "identity similarity and NIQE: not measured".into(),
            };
        };
        let worst = self
            .faces
            .iter()
            .filter_map(|f| f.identity_similarity.map(|s| (s, f)))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        let mut line = format!("identity similarity: mean {mean_id:.3}");
        if let Some((s, f)) = worst {
            line += &format!(", worst {s:.3} ({} face {})", f.input, f.index);
        }
        if let Some(n) = self.mean_niqe {
            line += &format!("; NIQE mean {n:.3}");
        }
        line
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(input: &str, index: usize, id: Option<f64>, niqe: Option<f64>) -> FaceEntry {
        FaceEntry {
            input: input.into(),
            index,
            seed: 1,
            identity_similarity: id,
            niqe,
            candidates: Vec::new(),
            found_by: None,
            pasted_with: None,
        }
    }

    /// The file's field names and order are its schema: scripts read them.
    #[test]
    fn the_json_schema_is_stable() {
        let entry = FaceEntry {
            candidates: vec![CandidateEntry {
                seed: 1,
                identity_similarity: Some(0.5),
                niqe: None,
            }],
            ..face("a.png", 0, Some(0.5), None)
        };
        let dropped = NotRestored {
            input: "a.png".into(),
            bbox: [1.0, 2.0, 3.0, 4.0],
            score: 0.5,
            reason: "not the largest face".into(),
            found_by: Some("retinaface".into()),
        };
        let report = Report::new(
            Some("dlib_resnet_v1 (the model's)".into()),
            1,
            vec![entry.in_photo("retinaface", "face outline")],
            vec![dropped],
        );
        let expected = r#"{
  "identity_network": "dlib_resnet_v1 (the model's)",
  "best_of": 1,
  "mean_identity_similarity": 0.5,
  "mean_niqe": null,
  "faces": [
    {
      "input": "a.png",
      "index": 0,
      "seed": 1,
      "identity_similarity": 0.5,
      "niqe": null,
      "candidates": [
        {
          "seed": 1,
          "identity_similarity": 0.5,
          "niqe": null
        }
      ],
      "found_by": "retinaface",
      "pasted_with": "face outline"
    }
  ],
  "not_restored": [
    {
      "input": "a.png",
      "box": [
        1.0,
        2.0,
        3.0,
        4.0
      ],
      "score": 0.5,
      "reason": "not the largest face",
      "found_by": "retinaface"
    }
  ]
}"#;
        assert_eq!(serde_json::to_string_pretty(&report).unwrap(), expected);
    }

    #[test]
    fn means_worst_face_and_merge_with_an_earlier_report() {
        let dir = tempfile::tempdir().unwrap();
        let first = Report::new(
            None,
            1,
            vec![
                face("a.png", 0, Some(0.9), Some(4.0)),
                face("b.png", 0, Some(0.5), None),
            ],
            vec![NotRestored {
                input: "a.png".into(),
                bbox: [0.0, 0.0, 10.0, 10.0],
                score: 0.99,
                reason: "10 px, smaller than the minimum 64 px".into(),
                found_by: Some("mtcnn".into()),
            }],
        );
        assert_eq!(first.mean_identity_similarity, Some(0.7));
        assert_eq!(first.mean_niqe, Some(4.0));
        assert_eq!(
            first.summary_line(),
            "identity similarity: mean 0.700, worst 0.500 (b.png face 0); NIQE mean 4.000"
        );
        first.clone().write(dir.path()).unwrap();
        // A second run, with another detector, touches b.png only: a.png's entry stays, and
        // says how it was made.
        let second = Report::new(
            None,
            1,
            vec![face("b.png", 0, Some(0.7), Some(6.0)).in_photo("retinaface", "face outline")],
            Vec::new(),
        );
        second.write(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(REPORT)).unwrap();
        let merged: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(merged.faces.len(), 2);
        assert_eq!(merged.not_restored.len(), 1, "a.png's record is kept");
        assert_eq!(merged.faces[1].identity_similarity, Some(0.7));
        assert_eq!(merged.faces[0].found_by, None);
        assert_eq!(merged.faces[1].found_by.as_deref(), Some("retinaface"));
        assert_eq!(merged.faces[1].pasted_with.as_deref(), Some("face outline"));
        assert_eq!(merged.not_restored[0].found_by.as_deref(), Some("mtcnn"));
        assert!((merged.mean_identity_similarity.unwrap() - 0.8).abs() < 1e-12);
        // A run without faces leaves the report alone.
        let before = std::fs::read(dir.path().join(REPORT)).unwrap();
        Report::new(None, 1, Vec::new(), Vec::new())
            .write(dir.path())
            .unwrap();
        assert_eq!(std::fs::read(dir.path().join(REPORT)).unwrap(), before);
        let none = Report::new(None, 1, vec![face("c.png", 0, None, None)], Vec::new());
        assert_eq!(
            none.summary_line(),
            "identity similarity and NIQE: not measured"
        );
    }
}
