//! Writing images: the format named by the file's extension, 8 or 16 bits per channel, alpha
//! kept where the format holds it, written atomically.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageBuffer, ImageFormat, Rgb32FImage, Rgba};

use crate::error::{IoError, Result};
use crate::load::Alpha32FImage;
use crate::write::write_atomically;

fn codec_err(path: &Path, source: image::ImageError) -> IoError {
    IoError::Encode {
        path: path.to_owned(),
        source,
    }
}

/// Encodes `rgb` (and `alpha`, where the format can hold it) in the format named by `path`'s
/// extension and writes it atomically. PNG and TIFF are written with 16 bits per channel when
/// `high_bit_depth`; JPEG drops alpha.
pub fn save_image(
    path: &Path,
    rgb: &Rgb32FImage,
    alpha: Option<&Alpha32FImage>,
    high_bit_depth: bool,
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
    let deep = high_bit_depth && matches!(format, ImageFormat::Png | ImageFormat::Tiff);
    let image = match alpha {
        Some(a) => {
            let rgba = ImageBuffer::from_fn(rgb.width(), rgb.height(), |x, y| {
                let p = rgb.get_pixel(x, y).0;
                Rgba([p[0], p[1], p[2], a.get_pixel(x, y).0[0]])
            });
            let d = DynamicImage::ImageRgba32F(rgba);
            if deep {
                DynamicImage::ImageRgba16(d.to_rgba16())
            } else {
                DynamicImage::ImageRgba8(d.to_rgba8())
            }
        }
        None => {
            let d = DynamicImage::ImageRgb32F(rgb.clone());
            if deep {
                DynamicImage::ImageRgb16(d.to_rgb16())
            } else {
                DynamicImage::ImageRgb8(d.to_rgb8())
            }
        }
    };
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), format)
        .map_err(|e| codec_err(path, e))?;
    write_atomically(path, &bytes, overwrite)?;
    Ok(())
}
