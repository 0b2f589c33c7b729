//! Images as the metrics see them: `f64` samples on the 0–255 scale, row-major, channels
//! interleaved (RGB or one grey/Y channel), the layout basicsr's NumPy functions work on.

use crate::error::{EvalError, Result};

/// An image of `channels` interleaved `f64` planes with values on the 0–255 scale.
#[derive(Clone, Debug, PartialEq)]
pub struct Image255 {
    width: usize,
    height: usize,
    channels: usize,
    data: Vec<f64>,
}

impl Image255 {
    /// Wraps `data` (row-major, channels interleaved, RGB order for 3 channels).
    pub fn new(width: usize, height: usize, channels: usize, data: Vec<f64>) -> Result<Self> {
        if channels == 0 || data.len() != width * height * channels {
            return Err(EvalError::BadBuffer {
                len: data.len(),
                width,
                height,
                channels,
            });
        }
        Ok(Self {
            width,
            height,
            channels,
            data,
        })
    }

    /// Converts an RGB image in [0, 1] (what `diffmac_io::load_image` returns) to the
    /// 0–255 scale. With `quantize`, values are rounded to integers, which gives back the exact
    /// 8-bit samples of an 8-bit file (the `uint8` arrays that `cv2.imread` hands basicsr);
    /// leave it off for 16-bit or computed images.
    pub fn from_rgb32f(image: &image::Rgb32FImage, quantize: bool) -> Self {
        let data = image
            .as_raw()
            .iter()
            .map(|&v| {
                let v = f64::from(v) * 255.0;
                if quantize {
                    v.round().clamp(0.0, 255.0)
                } else {
                    v
                }
            })
            .collect();
        Self {
            width: image.width() as usize,
            height: image.height() as usize,
            channels: 3,
            data,
        }
    }

    /// Converts an 8-bit RGB image.
    pub fn from_rgb8(image: &image::RgbImage) -> Self {
        Self {
            width: image.width() as usize,
            height: image.height() as usize,
            channels: 3,
            data: image.as_raw().iter().map(|&v| f64::from(v)).collect(),
        }
    }

    /// Back to an RGB image in [0, 1] (`x / 255`, clamped); a one-channel image is repeated
    /// into R, G and B.
    pub fn to_rgb32f(&self) -> image::Rgb32FImage {
        let mut out = image::Rgb32FImage::new(self.width as u32, self.height as u32);
        for (i, px) in out.pixels_mut().enumerate() {
            for c in 0..3 {
                let src = if self.channels == 3 { c } else { 0 };
                let v = self.data[i * self.channels + src] / 255.0;
                px.0[c] = v.clamp(0.0, 1.0) as f32;
            }
        }
        out
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Number of interleaved channels.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The samples, row-major with channels interleaved.
    pub fn data(&self) -> &[f64] {
        &self.data
    }

    /// Channel `c` as a contiguous row-major plane.
    pub fn plane(&self, c: usize) -> Vec<f64> {
        self.data
            .iter()
            .skip(c)
            .step_by(self.channels)
            .copied()
            .collect()
    }

    /// The image without `border` pixels on each edge (basicsr's `crop_border`). A border that
    /// leaves nothing gives an empty image.
    pub fn crop_border(&self, border: usize) -> Self {
        if border == 0 {
            return self.clone();
        }
        let width = self.width.saturating_sub(2 * border);
        let height = self.height.saturating_sub(2 * border);
        let mut data = Vec::with_capacity(width * height * self.channels);
        for y in border..border + height {
            let start = (y * self.width + border) * self.channels;
            data.extend_from_slice(&self.data[start..start + width * self.channels]);
        }
        Self {
            width,
            height,
            channels: self.channels,
            data,
        }
    }
}
