//! Which detected faces to restore, and why the others are not: a user whose face was left
//! out (or who sees a restored pattern in the wallpaper) needs the reason, not only the count.

use serde::{Deserialize, Serialize};

use crate::detection::Detection;

/// Which of the detected faces to keep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaceSelection {
    /// Every face (largest first).
    #[default]
    All,
    /// Only the face with the largest box.
    Largest,
    /// Only the face whose box centre is nearest the photo's centre.
    Centre,
}

impl std::str::FromStr for FaceSelection {
    type Err = String;

    /// `all`, `largest`, or `center` (also spelt `centre`), as `diffmac-restore --faces` takes
    /// them.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "all" => Ok(Self::All),
            "largest" => Ok(Self::Largest),
            "center" | "centre" => Ok(Self::Centre),
            other => Err(format!(
                "unknown face selection {other:?}: use all, largest or center"
            )),
        }
    }
}

/// Why a detected face is not kept.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum DropReason {
    /// Its score is below the threshold (`FaceOptions::min_score`).
    LowScore {
        /// The threshold.
        min_score: f32,
    },
    /// Its box is smaller than asked (`FaceOptions::min_face`), in pixels.
    TooSmall {
        /// The box's larger side.
        side: f32,
        /// The smallest side kept.
        min_face: u32,
    },
    /// Another face was chosen (`FaceSelection::Largest` or `Centre`).
    NotSelected {
        /// The selection in force.
        selection: FaceSelection,
    },
    /// More faces than `FaceOptions::max_faces`; the largest were kept.
    OverMaxFaces {
        /// The limit.
        max_faces: usize,
    },
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::LowScore { min_score } => write!(f, "score below {min_score}"),
            Self::TooSmall { side, min_face } => {
                write!(f, "{side:.0} px, smaller than the minimum {min_face} px")
            }
            Self::NotSelected { selection } => {
                let which = match selection {
                    FaceSelection::All => "all",
                    FaceSelection::Largest => "the largest",
                    FaceSelection::Centre => "the centre",
                };
                write!(f, "not {which} face")
            }
            Self::OverMaxFaces { max_faces } => {
                write!(f, "beyond the {max_faces} largest faces")
            }
        }
    }
}

/// A detected face that is not kept, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DroppedFace {
    /// The detection.
    pub detection: Detection,
    /// Why it was dropped.
    #[serde(flatten)]
    pub reason: DropReason,
}

/// The rules of [`select_faces`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SelectionRules {
    /// Faces scoring below this are dropped.
    pub min_score: f32,
    /// Faces whose box's larger side is below this many pixels are dropped (0: none).
    pub min_face: u32,
    /// Which faces to keep of the rest.
    pub selection: FaceSelection,
    /// At most this many faces (the largest ones), if set.
    pub max_faces: Option<usize>,
}

/// Splits `found` (largest first, as the detector returns them) into the faces kept and the
/// ones dropped with their reason, applying the rules in the order above. `photo_size` is
/// `(width, height)`, for [`FaceSelection::Centre`].
pub fn select_faces(
    found: Vec<Detection>,
    photo_size: (u32, u32),
    rules: &SelectionRules,
) -> (Vec<Detection>, Vec<DroppedFace>) {
    let mut dropped = Vec::new();
    let mut drop = |detection: Detection, reason| dropped.push(DroppedFace { detection, reason });
    let mut kept = Vec::new();
    for d in found {
        let side = (d.bbox[2] - d.bbox[0]).max(d.bbox[3] - d.bbox[1]);
        // A NaN score counts as low.
        if d.score.is_nan() || d.score < rules.min_score {
            drop(
                d,
                DropReason::LowScore {
                    min_score: rules.min_score,
                },
            );
        } else if side < rules.min_face as f32 {
            drop(
                d,
                DropReason::TooSmall {
                    side,
                    min_face: rules.min_face,
                },
            );
        } else {
            kept.push(d);
        }
    }
    let chosen = match rules.selection {
        FaceSelection::All => None,
        FaceSelection::Largest => (!kept.is_empty()).then_some(0),
        FaceSelection::Centre => {
            let (cx, cy) = (photo_size.0 as f32 / 2.0, photo_size.1 as f32 / 2.0);
            let dist = |d: &Detection| {
                let (x, y) = ((d.bbox[0] + d.bbox[2]) / 2.0, (d.bbox[1] + d.bbox[3]) / 2.0);
                (x - cx).hypot(y - cy)
            };
            (0..kept.len()).min_by(|&a, &b| dist(&kept[a]).total_cmp(&dist(&kept[b])))
        }
    };
    if let Some(chosen) = chosen {
        let selection = rules.selection;
        for (i, d) in std::mem::take(&mut kept).into_iter().enumerate() {
            if i == chosen {
                kept.push(d);
            } else {
                drop(d, DropReason::NotSelected { selection });
            }
        }
    }
    if let Some(max_faces) = rules.max_faces
        && kept.len() > max_faces
    {
        for d in kept.split_off(max_faces) {
            drop(d, DropReason::OverMaxFaces { max_faces });
        }
    }
    (kept, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, side: f32, score: f32) -> Detection {
        Detection {
            bbox: [x, 10.0, x + side, 10.0 + side],
            score,
            landmarks: [[0.0; 2]; 5],
        }
    }

    #[test]
    fn selections_parse_from_their_flag_names() {
        assert_eq!("all".parse(), Ok(FaceSelection::All));
        assert_eq!("largest".parse(), Ok(FaceSelection::Largest));
        assert_eq!("center".parse(), Ok(FaceSelection::Centre));
        assert_eq!("centre".parse(), Ok(FaceSelection::Centre));
        let err = "biggest".parse::<FaceSelection>().unwrap_err();
        assert!(err.contains("biggest") && err.contains("largest"), "{err}");
    }

    fn rules(selection: FaceSelection) -> SelectionRules {
        SelectionRules {
            min_score: 0.97,
            min_face: 40,
            selection,
            max_faces: None,
        }
    }

    #[test]
    fn a_nan_score_is_a_low_score() {
        let (kept, dropped) = select_faces(
            vec![face(0.0, 120.0, f32::NAN)],
            (400, 400),
            &rules(FaceSelection::All),
        );
        assert!(kept.is_empty());
        assert_eq!(dropped[0].reason, DropReason::LowScore { min_score: 0.97 });
    }

    #[test]
    fn each_dropped_face_has_its_reason() {
        // Largest first: a big face on the left, a medium one in the middle, a weak one and
        // a tiny one.
        let found = vec![
            face(0.0, 120.0, 0.999),
            face(440.0, 80.0, 0.998),
            face(700.0, 60.0, 0.9),
            face(900.0, 20.0, 0.999),
        ];
        let (kept, dropped) = select_faces(found.clone(), (1000, 400), &rules(FaceSelection::All));
        assert_eq!(kept, found[..2].to_vec());
        assert_eq!(dropped[0].reason, DropReason::LowScore { min_score: 0.97 });
        assert_eq!(
            dropped[1].reason,
            DropReason::TooSmall {
                side: 20.0,
                min_face: 40
            }
        );
        assert_eq!(
            dropped[1].reason.to_string(),
            "20 px, smaller than the minimum 40 px"
        );

        let (kept, dropped) =
            select_faces(found.clone(), (1000, 400), &rules(FaceSelection::Largest));
        assert_eq!(kept, vec![found[0].clone()]);
        assert_eq!(dropped.len(), 3);
        assert_eq!(dropped[2].detection, found[1]);
        assert_eq!(dropped[2].reason.to_string(), "not the largest face");

        let (kept, _) = select_faces(found.clone(), (1000, 400), &rules(FaceSelection::Centre));
        assert_eq!(
            kept,
            vec![found[1].clone()],
            "the middle face is nearest the centre"
        );

        let capped = SelectionRules {
            max_faces: Some(1),
            ..rules(FaceSelection::All)
        };
        let (kept, dropped) = select_faces(found.clone(), (1000, 400), &capped);
        assert_eq!(kept, vec![found[0].clone()]);
        assert_eq!(
            dropped.last().unwrap().reason,
            DropReason::OverMaxFaces { max_faces: 1 }
        );
        let json = serde_json::to_value(dropped.last().unwrap()).unwrap();
        assert_eq!(json["reason"], "over_max_faces");
        assert_eq!(json["max_faces"], 1);
    }
}
