//! The face's outline from the mesh, and the soft mask inside it that paste-back uses.

/// The outline of a face: the convex hull of its mesh landmarks, counter-clockwise in image
/// coordinates. On a frontal face it runs along MediaPipe's face oval (hairline, temples,
/// jaw); on a face turned to the side it also takes in the nose and lips that stand out past
/// the oval.
pub fn face_outline(landmarks: &[[f32; 2]]) -> Vec<[f32; 2]> {
    // Andrew's monotone chain.
    let mut points = landmarks.to_vec();
    points.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    points.dedup();
    if points.len() < 3 {
        return points;
    }
    let cross = |o: [f32; 2], a: [f32; 2], b: [f32; 2]| {
        (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
    };
    let mut hull: Vec<[f32; 2]> = Vec::with_capacity(2 * points.len());
    for pass in [false, true] {
        let start = hull.len();
        let sweep: Box<dyn Iterator<Item = &[f32; 2]>> = if pass {
            Box::new(points.iter().rev())
        } else {
            Box::new(points.iter())
        };
        for &p in sweep {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0
            {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

/// How far the mask reaches past the outline, as fractions of the outline's extent about its
/// centroid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Growth {
    /// All around.
    pub around: f32,
    /// Upwards on top of `around` (the mesh stops mid-forehead; the skin goes on to the
    /// hairline).
    pub forehead: f32,
}

/// A `size × size` mask, row-major: 1 inside `polygon` grown by `grow` (about its centroid),
/// 0 outside, then feathered by a Gaussian of radius `feather` pixels so that the weight falls
/// to zero across the outline rather than at it. The polygon is in upright crop coordinates
/// (y down).
pub fn outline_mask(polygon: &[[f32; 2]], size: usize, grow: Growth, feather: usize) -> Vec<f32> {
    let n = polygon.len() as f32;
    let (mx, my) = polygon
        .iter()
        .fold((0.0, 0.0), |(x, y), p| (x + p[0] / n, y + p[1] / n));
    let poly: Vec<[f32; 2]> = polygon
        .iter()
        .map(|p| {
            [
                mx + (p[0] - mx) * (1.0 + grow.around),
                my + (p[1] - my)
                    * (1.0 + grow.around + if p[1] < my { grow.forehead } else { 0.0 }),
            ]
        })
        .collect();
    let mut mask = vec![0.0f32; size * size];
    for y in 0..size {
        let py = y as f32;
        // Even-odd rule along the row: crossings of the polygon's edges at height py.
        let mut xs: Vec<f32> = poly
            .iter()
            .zip(poly.iter().cycle().skip(1))
            .filter(|(a, b)| (a[1] <= py) != (b[1] <= py))
            .map(|(a, b)| a[0] + (py - a[1]) / (b[1] - a[1]) * (b[0] - a[0]))
            .collect();
        xs.sort_by(f32::total_cmp);
        for span in xs.chunks_exact(2) {
            let x0 = span[0].ceil().max(0.0) as usize;
            let x1 = (span[1].floor() as i64).min(size as i64 - 1);
            if x1 < x0 as i64 {
                continue;
            }
            mask[y * size + x0..=y * size + x1 as usize].fill(1.0);
        }
    }
    crate::paste::blur(&mut mask, size, size, feather);
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outline_is_the_convex_hull() {
        let pts = [
            [0.0, 0.0],
            [4.0, 0.0],
            [4.0, 4.0],
            [0.0, 4.0],
            [2.0, 2.0],
            [1.0, 3.0],
        ];
        let hull = face_outline(&pts);
        assert_eq!(hull.len(), 4);
        for corner in &pts[..4] {
            assert!(hull.contains(corner));
        }
        // A point standing out (a nose past the oval) joins the outline.
        let mut nose = pts.to_vec();
        nose.push([6.0, 2.0]);
        assert!(face_outline(&nose).contains(&[6.0, 2.0]));
    }

    #[test]
    fn square_outline_fills_its_inside_and_feathers_its_edge() {
        let square = [[10.0, 10.0], [30.0, 10.0], [30.0, 30.0], [10.0, 30.0]];
        let none = Growth {
            around: 0.0,
            forehead: 0.0,
        };
        let m = outline_mask(&square, 40, none, 0);
        assert_eq!(m[20 * 40 + 20], 1.0);
        assert_eq!(m[5 * 40 + 5], 0.0);
        assert_eq!(m.iter().filter(|&&v| v == 1.0).count(), 21 * 20);
        let soft = outline_mask(&square, 40, none, 3);
        assert!((soft[20 * 40 + 20] - 1.0).abs() < 1e-5);
        assert!(soft[20 * 40 + 10] > 0.3 && soft[20 * 40 + 10] < 0.8);
        // Growing by a half reaches 5 px further out on each side, the forehead 5 px more up.
        let grow = Growth {
            around: 0.5,
            forehead: 0.5,
        };
        let grown = outline_mask(&square, 40, grow, 0);
        assert_eq!(grown[20 * 40 + 6], 1.0);
        assert_eq!(grown[20 * 40 + 4], 0.0);
        assert_eq!(grown[35 * 40 + 20], 0.0);
        assert_eq!(grown[34 * 40 + 20], 1.0);
        assert_eq!(grown[40 + 20], 1.0); // row 1: the top edge moved from 10 to 0
    }
}
