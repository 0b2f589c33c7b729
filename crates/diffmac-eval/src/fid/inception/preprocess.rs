//! The input side of the FID Inception-v3: pytorch-fid's resize of an RGB image to the
//! network's 299×299 input and its mapping to [-1, 1].

use crate::error::{EvalError, Result};
use crate::image::Image255;

/// Side of the network's input.
pub const INCEPTION_SIZE: usize = 299;

/// An RGB image (0–255) as planar `[3, out_h, out_w]` values `2·x/255 − 1` after PyTorch's
/// `F.interpolate(mode='bilinear', align_corners=False)` (no antialiasing) of `x/255`.
pub fn resize_bilinear(image: &Image255, out_w: usize, out_h: usize) -> Result<Vec<f32>> {
    if image.channels() != 3 || image.width() == 0 || image.height() == 0 {
        return Err(EvalError::BadBuffer {
            len: image.data().len(),
            width: image.width(),
            height: image.height(),
            channels: 3,
        });
    }
    let (w, h) = (image.width(), image.height());
    let axis = |inp: usize, out: usize| -> Vec<(usize, usize, f32)> {
        let scale = inp as f32 / out as f32;
        (0..out)
            .map(|o| {
                let src = (scale * (o as f32 + 0.5) - 0.5).max(0.0);
                let i0 = (src.floor() as usize).min(inp - 1);
                let i1 = (i0 + 1).min(inp - 1);
                (i0, i1, src - i0 as f32)
            })
            .collect()
    };
    let (ys, xs) = (axis(h, out_h), axis(w, out_w));
    let data = image.data();
    let px = |y: usize, x: usize, c: usize| data[(y * w + x) * 3 + c] as f32 / 255.0;
    let mut out = vec![0.0_f32; 3 * out_h * out_w];
    for c in 0..3 {
        for (oy, &(y0, y1, ly)) in ys.iter().enumerate() {
            for (ox, &(x0, x1, lx)) in xs.iter().enumerate() {
                let top = (1.0 - lx) * px(y0, x0, c) + lx * px(y0, x1, c);
                let bottom = (1.0 - lx) * px(y1, x0, c) + lx * px(y1, x1, c);
                let v = (1.0 - ly) * top + ly * bottom;
                out[(c * out_h + oy) * out_w + ox] = 2.0 * v - 1.0;
            }
        }
    }
    Ok(out)
}
