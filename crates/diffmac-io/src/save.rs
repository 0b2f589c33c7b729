//! Writing images: the format named by the file's extension, 8 or 16 bits per channel, alpha
//! kept where the format holds it, written atomically.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageBuffer, ImageFormat, Rgb, Rgb32FImage, Rgba};

use crate::error::{IoError, Result};
use crate::load::Alpha32FImage;
use crate::write::write_atomically;

fn codec_err(path: &Path, source: image::ImageError) -> IoError {
    IoError::Encode {
        path: path.to_owned(),
        source,
    }
}

/// How an image is stored: bit depth and colour, usually those of the file it came from
/// ([`LoadedImage::storage`](crate::LoadedImage::storage)), so that a restored photo goes back
/// out as it came in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Storage {
    /// 16 bits per channel (PNG and TIFF; other formats have 8).
    pub high_bit_depth: bool,
    /// One grey channel: the luma of the colours (ITU-R BT.601, as OpenCV's `BGR2GRAY`).
    pub grey: bool,
}

impl Storage {
    /// 8-bit colour, the default.
    pub const RGB8: Self = Self {
        high_bit_depth: false,
        grey: false,
    };
}

/// BT.601 luma of an RGB pixel in [0, 1].
fn luma(p: [f32; 3]) -> f32 {
    (0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]).clamp(0.0, 1.0)
}

/// Encodes `rgb` (and `alpha`, where the format can hold it) in the format named by `path`'s
/// extension and writes it atomically. PNG and TIFF are written with 16 bits per channel when
/// `storage.high_bit_depth`, grey formats hold the luma when `storage.grey`; JPEG drops alpha.
pub fn save_image(
    path: &Path,
    rgb: &Rgb32FImage,
    alpha: Option<&Alpha32FImage>,
    storage: Storage,
    overwrite: bool,
) -> Result<()> {
    let format = ImageFormat::from_path(path).map_err(|e| codec_err(path, e))?;
    if let Some(a) = alpha
        && a.dimensions() != rgb.dimensions()
    {
        return Err(IoError::Shape(format!(
            "{}: alpha is {:?}, colours are {:?}",
            path.display(),
            a.dimensions(),
            rgb.dimensions()
        )));
    }
    let alpha = alpha.filter(|_| format != ImageFormat::Jpeg);
    let deep = storage.high_bit_depth && matches!(format, ImageFormat::Png | ImageFormat::Tiff);
    let (w, h) = rgb.dimensions();
    let colour = |x: u32, y: u32| rgb.get_pixel(x, y).0;
    let opacity = |x: u32, y: u32| alpha.map_or(1.0, |a| a.get_pixel(x, y).0[0]);
    let image = match (storage.grey, alpha.is_some()) {
        (true, true) => DynamicImage::ImageRgba32F(ImageBuffer::from_fn(w, h, |x, y| {
            let l = luma(colour(x, y));
            Rgba([l, l, l, opacity(x, y)])
        })),
        (true, false) => DynamicImage::ImageRgb32F(ImageBuffer::from_fn(w, h, |x, y| {
            Rgb([luma(colour(x, y)); 3])
        })),
        (false, true) => DynamicImage::ImageRgba32F(ImageBuffer::from_fn(w, h, |x, y| {
            let p = colour(x, y);
            Rgba([p[0], p[1], p[2], opacity(x, y)])
        })),
        (false, false) => DynamicImage::ImageRgb32F(rgb.clone()),
    };
    let image = match (storage.grey, alpha.is_some(), deep) {
        (true, true, true) => DynamicImage::ImageLumaA16(image.to_luma_alpha16()),
        (true, true, false) => DynamicImage::ImageLumaA8(image.to_luma_alpha8()),
        (true, false, true) => DynamicImage::ImageLuma16(image.to_luma16()),
        (true, false, false) => DynamicImage::ImageLuma8(image.to_luma8()),
        (false, true, true) => DynamicImage::ImageRgba16(image.to_rgba16()),
        (false, true, false) => DynamicImage::ImageRgba8(image.to_rgba8()),
        (false, false, true) => DynamicImage::ImageRgb16(image.to_rgb16()),
        (false, false, false) => DynamicImage::ImageRgb8(image.to_rgb8()),
    };
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), format)
        .map_err(|e| codec_err(path, e))?;
    write_atomically(path, &bytes, overwrite)?;
    Ok(())
}
