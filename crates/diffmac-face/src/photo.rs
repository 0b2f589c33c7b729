//! Whole photos in and out: loading through `diffmac_degrade::io` (limits, EXIF orientation,
//! grey / 16-bit / CMYK handling, alpha kept apart for the paste-back); writing PNG (8- or 16-bit, with alpha), JPEG or other formats
//! atomically.

use std::io::Cursor;
use std::path::Path;

use diffmac_degrade::io::{load_image, write_atomically};
use image::{ColorType, DynamicImage, ImageBuffer, ImageFormat, Rgb32FImage, Rgba};

use crate::error::{FaceError, Result};

pub use diffmac_degrade::io::Alpha32FImage;

/// A photo: RGB in [0, 1] with orientation applied, and its alpha channel if it has one.
#[derive(Clone, Debug)]
pub struct Photo {
    /// The colours.
    pub rgb: Rgb32FImage,
    /// Opacity in [0, 1], same size, if the file has an alpha channel.
    pub alpha: Option<Alpha32FImage>,
    /// The colour type stored in the file.
    pub source_color: ColorType,
    /// What the loader had to convert (grey expanded, 16-bit read as f32, ...).
    pub notes: Vec<String>,
}

impl Photo {
    /// Whether the file stored more than 8 bits per channel.
    pub fn is_high_bit_depth(&self) -> bool {
        self.source_color.bytes_per_pixel() / self.source_color.channel_count() > 1
    }
}

fn decode_err(path: &Path, source: image::ImageError) -> FaceError {
    FaceError::Decode {
        path: path.to_owned(),
        source,
    }
}

/// Loads a photo with at most `max_pixels` pixels (see `diffmac_degrade::io::load_image`),
/// keeping its alpha channel.
pub fn load_photo(path: &Path, max_pixels: u64) -> Result<Photo> {
    let loaded = load_image(path, max_pixels)?;
    Ok(Photo {
        rgb: loaded.image,
        alpha: loaded.alpha,
        source_color: loaded.source_color,
        notes: loaded.notes,
    })
}

/// Encodes `rgb` (and `alpha`, where the format can hold it) in the format named by `path`'s
/// extension and writes it atomically. PNG and TIFF are written with 16 bits per channel when
/// `high_bit_depth`; JPEG drops alpha.
pub fn save_photo(
    path: &Path,
    rgb: &Rgb32FImage,
    alpha: Option<&Alpha32FImage>,
    high_bit_depth: bool,
    overwrite: bool,
) -> Result<()> {
    let format = ImageFormat::from_path(path).map_err(|e| decode_err(path, e))?;
    if let Some(a) = alpha
        && a.dimensions() != rgb.dimensions()
    {
        return Err(FaceError::Shape(format!(
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
        .map_err(|e| decode_err(path, e))?;
    write_atomically(path, &bytes, overwrite)?;
    Ok(())
}
