//! Loading images the way a batch tool must: limits checked before decoding, EXIF orientation
//! applied, every colour type (8/16-bit, grey, alpha, CMYK JPEG) turned into RGB f32 in [0, 1],
//! and what was changed reported rather than hidden.

use std::path::Path;

use image::{
    ColorType, DynamicImage, ImageBuffer, ImageDecoder, ImageFormat, ImageReader, Limits, Luma,
    Rgb32FImage,
};

use crate::error::{IoError, Result};
use crate::save::Storage;

/// Default pixel limit: 64 megapixels (an 8000×8000 photo), well above any face crop.
pub const DEFAULT_MAX_PIXELS: u64 = 64 * 1024 * 1024;

/// A grey f32 plane, used for alpha.
pub type Alpha32FImage = ImageBuffer<Luma<f32>, Vec<f32>>;

/// An image ready for the pipeline, with a description of what conversion it needed.
#[derive(Clone, Debug)]
pub struct LoadedImage {
    /// RGB, f32 in [0, 1], orientation applied.
    pub rgb: Rgb32FImage,
    /// Opacity in [0, 1], same size and orientation, when the file has an alpha channel.
    /// The colours are not premultiplied; consumers that have no use for alpha ignore it.
    pub alpha: Option<Alpha32FImage>,
    /// The colour type stored in the file.
    pub source_color: ColorType,
    /// Human-readable notes on conversions (dropped alpha, grey expanded, 16-bit reduced...).
    pub notes: Vec<String>,
}

impl LoadedImage {
    /// Whether the file stored more than 8 bits per channel.
    pub fn is_high_bit_depth(&self) -> bool {
        self.source_color.bytes_per_pixel() / self.source_color.channel_count() > 1
    }

    /// Whether the file stored one grey channel (with or without alpha).
    pub fn is_grey(&self) -> bool {
        !self.source_color.has_color()
    }

    /// How to save a result so that it is stored as this image was: bit depth and grey.
    pub fn storage(&self) -> Storage {
        Storage {
            high_bit_depth: self.is_high_bit_depth(),
            grey: self.is_grey(),
        }
    }
}

/// Reads and decodes `path`, refusing images with more than `max_pixels` pixels before any
/// pixel memory is allocated.
pub fn load_image(path: &Path, max_pixels: u64) -> Result<LoadedImage> {
    let io_err = |source| IoError::Io {
        path: path.to_owned(),
        source,
    };
    let decode_err = |source| IoError::Decode {
        path: path.to_owned(),
        source,
    };
    // No legitimate encoding of `max_pixels` pixels needs more than 16 bytes a pixel; refuse
    // bigger files before reading them.
    let max_bytes = max_pixels.saturating_mul(16).saturating_add(1 << 20);
    let bytes_on_disk = std::fs::metadata(path).map_err(io_err)?.len();
    if bytes_on_disk > max_bytes {
        return Err(IoError::FileTooLarge {
            path: path.to_owned(),
            bytes: bytes_on_disk,
            max_bytes,
        });
    }
    let bytes = std::fs::read(path).map_err(io_err)?;
    // Trust the content, not the extension: a text file named `.png` is not an image.
    let format = image::guess_format(&bytes).map_err(|_| IoError::NotAnImage {
        path: path.to_owned(),
    })?;
    if format == ImageFormat::Jpeg && !jpeg_is_complete(&bytes) {
        return Err(IoError::Truncated {
            path: path.to_owned(),
        });
    }
    let reader = ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut decoder = reader.into_decoder().map_err(decode_err)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(IoError::TooLarge {
            path: path.to_owned(),
            width,
            height,
            max_pixels,
        });
    }
    let mut limits = Limits::default();
    limits.max_alloc = Some(max_pixels.saturating_mul(16).max(1 << 20));
    decoder.set_limits(limits).map_err(decode_err)?;
    let orientation = decoder.orientation().map_err(decode_err)?;
    let source_color = decoder.color_type();
    let original_color = decoder.original_color_type();
    let mut decoded = DynamicImage::from_decoder(decoder).map_err(decode_err)?;
    decoded.apply_orientation(orientation);

    let alpha = source_color.has_alpha().then(|| {
        let rgba = decoded.to_rgba32f();
        Alpha32FImage::from_fn(rgba.width(), rgba.height(), |x, y| {
            Luma([rgba.get_pixel(x, y)[3]])
        })
    });
    let mut notes = Vec::new();
    if !source_color.has_color() {
        notes.push("grayscale expanded to RGB".to_owned());
    }
    if source_color.bytes_per_pixel() / source_color.channel_count() > 1 {
        notes.push(format!("{source_color:?} read at full precision as f32"));
    }
    if original_color != image::ExtendedColorType::from(source_color) {
        notes.push(format!(
            "{original_color:?} converted to {source_color:?} by the decoder"
        ));
    }
    Ok(LoadedImage {
        rgb: decoded.to_rgb32f(),
        alpha,
        source_color,
        notes,
    })
}

/// Whether a JPEG has its end-of-image marker after its last scan. The decoder fills a cut-off
/// scan with grey and reports success, so truncation has to be caught here. Inside entropy-coded
/// data every 0xFF byte is stuffed (`FF 00`), so `FF D9` after the last `FF DA` is the real end.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_scan = bytes
        .windows(2)
        .rposition(|w| w == [0xFF, 0xDA])
        .unwrap_or(0);
    bytes[last_scan..].windows(2).any(|w| w == [0xFF, 0xD9])
}
