//! Non-maximum suppression in the two variants MTCNN uses.
//!
//! Boxes are `[x1, y1, x2, y2]`. Both functions return the indices of the kept boxes in order of
//! decreasing score (ties keep their input order).

/// How overlap between two boxes is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overlap {
    /// Intersection over union with continuous areas `(x2 - x1) (y2 - y1)`, the convention of
    /// torchvision's `nms`; a box is suppressed when its IoU with a kept box is **above** the
    /// threshold.
    Union,
    /// Intersection over the smaller box, with inclusive pixel areas `(x2 - x1 + 1) (y2 - y1 + 1)`
    /// as in the original MTCNN code; a box is kept only while the overlap is **at most** the
    /// threshold.
    Min,
}

/// Greedy non-maximum suppression: keeps the best-scoring box, drops those that overlap it by
/// more than `threshold`, and repeats.
pub fn nms(boxes: &[[f32; 4]], scores: &[f32], threshold: f32, overlap: Overlap) -> Vec<usize> {
    assert_eq!(boxes.len(), scores.len(), "one score per box");
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let plus = match overlap {
        Overlap::Union => 0.0,
        Overlap::Min => 1.0,
    };
    let area = |b: &[f32; 4]| (b[2] - b[0] + plus) * (b[3] - b[1] + plus);
    let mut suppressed = vec![false; boxes.len()];
    let mut keep = Vec::new();
    for (rank, &i) in order.iter().enumerate() {
        if suppressed[i] {
            continue;
        }
        keep.push(i);
        let bi = &boxes[i];
        let area_i = area(bi);
        for &j in &order[rank + 1..] {
            if suppressed[j] {
                continue;
            }
            let bj = &boxes[j];
            let w = (bi[2].min(bj[2]) - bi[0].max(bj[0]) + plus).max(0.0);
            let h = (bi[3].min(bj[3]) - bi[1].max(bj[1]) + plus).max(0.0);
            let inter = w * h;
            match overlap {
                Overlap::Union => {
                    if inter / (area_i + area(bj) - inter) > threshold {
                        suppressed[j] = true;
                    }
                }
                Overlap::Min => {
                    // "Keep while <= threshold": a NaN overlap suppresses, as in the original.
                    let o = inter / area_i.min(area(bj));
                    if o.is_nan() || o > threshold {
                        suppressed[j] = true;
                    }
                }
            }
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_keeps_best_of_overlapping_and_separate_boxes() {
        let boxes = [
            [0.0, 0.0, 10.0, 10.0],
            [1.0, 1.0, 11.0, 11.0],
            [20.0, 20.0, 30.0, 30.0],
        ];
        // IoU of the first two is 81 / 119 = 0.68.
        assert_eq!(
            nms(&boxes, &[0.8, 0.9, 0.5], 0.5, Overlap::Union),
            vec![1, 2]
        );
        assert_eq!(
            nms(&boxes, &[0.8, 0.9, 0.5], 0.7, Overlap::Union),
            vec![1, 0, 2]
        );
    }

    #[test]
    fn min_suppresses_a_box_inside_another() {
        // A small box inside a big one: IoU is small, intersection over the smaller box is 1.
        let boxes = [[0.0, 0.0, 99.0, 99.0], [10.0, 10.0, 19.0, 19.0]];
        assert_eq!(nms(&boxes, &[0.9, 0.95], 0.7, Overlap::Union), vec![1, 0]);
        assert_eq!(nms(&boxes, &[0.9, 0.95], 0.7, Overlap::Min), vec![1]);
    }

    #[test]
    fn empty_input_gives_empty_output() {
        assert!(nms(&[], &[], 0.5, Overlap::Union).is_empty());
    }
}
