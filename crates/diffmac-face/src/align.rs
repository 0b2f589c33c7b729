//! Similarity transforms (rotation, uniform scale, translation) and their least-squares fit to
//! point pairs (Umeyama 1991, closed form in 2-D), used to map five landmarks onto the template.

use serde::{Deserialize, Serialize};

use crate::error::{FaceError, Result};

/// `p ↦ [a -b; b a] p + t`: a rotation by `atan2(b, a)` and scaling by `hypot(a, b)` followed
/// by a translation. Pixel centres sit at integer coordinates (OpenCV's convention).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Similarity {
    /// `scale · cos θ`.
    pub a: f64,
    /// `scale · sin θ`.
    pub b: f64,
    /// Translation in x.
    pub tx: f64,
    /// Translation in y.
    pub ty: f64,
}

impl Similarity {
    /// The identity transform.
    pub const IDENTITY: Self = Self {
        a: 1.0,
        b: 0.0,
        tx: 0.0,
        ty: 0.0,
    };

    /// Builds the transform from scale, rotation angle (radians; positive turns the x axis
    /// towards the y axis, which is clockwise on screen where y points down) and translation.
    pub fn from_parts(scale: f64, angle: f64, tx: f64, ty: f64) -> Self {
        Self {
            a: scale * angle.cos(),
            b: scale * angle.sin(),
            tx,
            ty,
        }
    }

    /// Maps a point.
    pub fn apply(&self, [x, y]: [f64; 2]) -> [f64; 2] {
        [
            self.a * x - self.b * y + self.tx,
            self.b * x + self.a * y + self.ty,
        ]
    }

    /// The scale factor.
    pub fn scale(&self) -> f64 {
        self.a.hypot(self.b)
    }

    /// The rotation angle in radians.
    pub fn angle(&self) -> f64 {
        self.b.atan2(self.a)
    }

    /// The inverse transform (the scale must be non-zero).
    pub fn inverse(&self) -> Self {
        let d = self.a * self.a + self.b * self.b;
        let (a, b) = (self.a / d, -self.b / d);
        Self {
            a,
            b,
            tx: -(a * self.tx - b * self.ty),
            ty: -(b * self.tx + a * self.ty),
        }
    }

    /// `self ∘ other`: first `other`, then `self`.
    pub fn compose(&self, other: &Self) -> Self {
        Self {
            a: self.a * other.a - self.b * other.b,
            b: self.b * other.a + self.a * other.b,
            tx: self.a * other.tx - self.b * other.ty + self.tx,
            ty: self.b * other.tx + self.a * other.ty + self.ty,
        }
    }

    /// The 2×3 matrix `[[a, -b, tx], [b, a, ty]]` (the layout of OpenCV's affine matrices).
    pub fn matrix(&self) -> [[f64; 3]; 2] {
        [[self.a, -self.b, self.tx], [self.b, self.a, self.ty]]
    }

    /// Least-squares similarity mapping `src[i]` onto `dst[i]`: minimises
    /// `Σ |s R src_i + t - dst_i|²` over scale, rotation (no reflection) and translation
    /// (Umeyama's method; in 2-D its SVD reduces to the closed form used here).
    pub fn estimate(src: &[[f64; 2]], dst: &[[f64; 2]]) -> Result<Self> {
        if src.len() != dst.len() || src.len() < 2 {
            return Err(FaceError::Shape(format!(
                "need at least two point pairs, got {} source and {} target points",
                src.len(),
                dst.len()
            )));
        }
        let n = src.len() as f64;
        let mean = |pts: &[[f64; 2]]| {
            let (sx, sy) = pts
                .iter()
                .fold((0.0, 0.0), |(x, y), p| (x + p[0], y + p[1]));
            [sx / n, sy / n]
        };
        let (ms, md) = (mean(src), mean(dst));
        let (mut var, mut dot, mut cross) = (0.0, 0.0, 0.0);
        for (s, d) in src.iter().zip(dst) {
            let (sx, sy) = (s[0] - ms[0], s[1] - ms[1]);
            let (dx, dy) = (d[0] - md[0], d[1] - md[1]);
            var += sx * sx + sy * sy;
            dot += sx * dx + sy * dy;
            cross += sx * dy - sy * dx;
        }
        if var.is_nan() || var <= 1e-12 || !var.is_finite() {
            return Err(FaceError::DegenerateLandmarks(format!(
                "the source points coincide (spread {var})"
            )));
        }
        let (a, b) = (dot / var, cross / var);
        if a.hypot(b).is_nan() || a.hypot(b) <= 1e-12 {
            return Err(FaceError::DegenerateLandmarks(
                "the target points coincide".into(),
            ));
        }
        Ok(Self {
            a,
            b,
            tx: md[0] - (a * ms[0] - b * ms[1]),
            ty: md[1] - (b * ms[0] + a * ms[1]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: [f64; 2], b: [f64; 2], tol: f64) -> bool {
        (a[0] - b[0]).abs() < tol && (a[1] - b[1]).abs() < tol
    }

    #[test]
    fn estimate_recovers_an_exact_similarity() {
        let t = Similarity::from_parts(1.7, 0.4, 12.0, -30.0);
        let src = [
            [10.0, 20.0],
            [50.0, 22.0],
            [31.0, 40.0],
            [15.0, 60.0],
            [48.0, 61.0],
        ];
        let dst: Vec<_> = src.iter().map(|&p| t.apply(p)).collect();
        let e = Similarity::estimate(&src, &dst).unwrap();
        for (x, y) in [(e.a, t.a), (e.b, t.b), (e.tx, t.tx), (e.ty, t.ty)] {
            assert!((x - y).abs() < 1e-9, "{e:?} vs {t:?}");
        }
    }

    #[test]
    fn inverse_and_compose_round_trip() {
        let t = Similarity::from_parts(0.3, -2.0, 5.0, 7.0);
        let id = t.compose(&t.inverse());
        assert!(close(id.apply([3.0, -4.0]), [3.0, -4.0], 1e-9));
        assert!(close(
            t.inverse().apply(t.apply([100.0, 2.0])),
            [100.0, 2.0],
            1e-9
        ));
    }

    #[test]
    fn estimate_minimises_the_squared_error_for_noisy_points() {
        let src = [
            [0.0, 0.0],
            [10.0, 0.0],
            [0.0, 10.0],
            [10.0, 10.0],
            [5.0, 7.0],
        ];
        let dst = [
            [3.0, 1.5],
            [22.0, 6.0],
            [-2.0, 21.0],
            [17.5, 25.0],
            [9.0, 17.0],
        ];
        let cost = |t: &Similarity| -> f64 {
            src.iter()
                .zip(&dst)
                .map(|(s, d)| {
                    let p = t.apply(*s);
                    (p[0] - d[0]).powi(2) + (p[1] - d[1]).powi(2)
                })
                .sum()
        };
        let e = Similarity::estimate(&src, &dst).unwrap();
        let best = cost(&e);
        for k in 0..4 {
            for delta in [-1e-3, 1e-3] {
                let mut t = e;
                match k {
                    0 => t.a += delta,
                    1 => t.b += delta,
                    2 => t.tx += delta,
                    _ => t.ty += delta,
                }
                assert!(
                    cost(&t) > best,
                    "moving parameter {k} by {delta} lowers the cost"
                );
            }
        }
    }

    #[test]
    fn degenerate_points_are_an_error() {
        let p = [[1.0, 1.0]; 5];
        assert!(matches!(
            Similarity::estimate(&p, &p),
            Err(FaceError::DegenerateLandmarks(_))
        ));
    }
}
