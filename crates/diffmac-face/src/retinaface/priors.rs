//! RetinaFace's anchors ("priors"): on the stride-8, -16 and -32 feature maps, two square
//! anchors per position (16 and 32, 64 and 128, 256 and 512 pixels), in the order of the
//! network's output rows: level, then row, column, anchor size.

/// Feature-map strides of the three levels.
pub const STRIDES: [usize; 3] = [8, 16, 32];
/// Anchor sides (pixels) of each level.
pub const ANCHOR_SIZES: [[usize; 2]; 3] = [[16, 32], [64, 128], [256, 512]];
/// Variances of the centre and size offsets (the box encoding of SSD).
pub const VARIANCES: [f32; 2] = [0.1, 0.2];

/// One anchor, in fractions of the image width and height: centre and size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prior {
    /// Centre x / width.
    pub cx: f32,
    /// Centre y / height.
    pub cy: f32,
    /// Side / width.
    pub w: f32,
    /// Side / height.
    pub h: f32,
}

/// All anchors of a `height × width` input (feature maps of `⌈side / stride⌉`).
pub fn priors(height: usize, width: usize) -> Vec<Prior> {
    let mut out = Vec::new();
    for (stride, sizes) in STRIDES.into_iter().zip(ANCHOR_SIZES) {
        let (rows, cols) = (height.div_ceil(stride), width.div_ceil(stride));
        for i in 0..rows {
            for j in 0..cols {
                for size in sizes {
                    out.push(Prior {
                        cx: ((j as f64 + 0.5) * stride as f64 / width as f64) as f32,
                        cy: ((i as f64 + 0.5) * stride as f64 / height as f64) as f32,
                        w: (size as f64 / width as f64) as f32,
                        h: (size as f64 / height as f64) as f32,
                    });
                }
            }
        }
    }
    out
}

impl Prior {
    /// Decodes box offsets into `[x1, y1, x2, y2]` fractions of the image.
    pub fn decode_box(&self, loc: [f32; 4]) -> [f32; 4] {
        let cx = self.cx + loc[0] * VARIANCES[0] * self.w;
        let cy = self.cy + loc[1] * VARIANCES[0] * self.h;
        let w = self.w * (loc[2] * VARIANCES[1]).exp();
        let h = self.h * (loc[3] * VARIANCES[1]).exp();
        let (x1, y1) = (cx - w / 2.0, cy - h / 2.0);
        [x1, y1, w + x1, h + y1]
    }

    /// Decodes one landmark's offsets into an `[x, y]` fraction of the image.
    pub fn decode_point(&self, offset: [f32; 2]) -> [f32; 2] {
        [
            self.cx + offset[0] * VARIANCES[0] * self.w,
            self.cy + offset[1] * VARIANCES[0] * self.h,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_count_and_order_follow_the_feature_maps() {
        // 100 × 60: maps 13×8, 7×4, 4×2, two anchors each.
        let p = priors(100, 60);
        assert_eq!(p.len(), 2 * (13 * 8 + 7 * 4 + 4 * 2));
        // First two: the first cell of stride 8, sizes 16 and 32.
        assert_eq!(p[0].cx, (4.0f64 / 60.0) as f32);
        assert_eq!(p[0].w, (16.0f64 / 60.0) as f32);
        assert_eq!(p[1].w, (32.0f64 / 60.0) as f32);
        // The second cell moves along the row (x) first.
        assert_eq!(p[2].cx, (12.0f64 / 60.0) as f32);
        assert_eq!(p[2].cy, p[0].cy);
        // Zero offsets decode to the anchor itself.
        let b = p[0].decode_box([0.0; 4]);
        assert!((b[2] - b[0] - p[0].w).abs() < 1e-7 && (b[0] + b[2] - 2.0 * p[0].cx).abs() < 1e-7);
        assert_eq!(p[0].decode_point([0.0, 0.0]), [p[0].cx, p[0].cy]);
    }
}
