//! The JPEG round trip `[·]_JPEG_q` of eq. 14: a real encode at quality q and a real decode,
//! through the `image` crate's codecs (baseline, 4:2:0 chroma subsampling as libjpeg's default).

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageFormat, Rgb32FImage};

use crate::error::Result;

/// Encodes `image` (clipped to [0, 1], rounded to 8 bits) as JPEG at `quality` and decodes it.
pub fn jpeg_round_trip(image: &Rgb32FImage, quality: u8) -> Result<Rgb32FImage> {
    let rgb8 = DynamicImage::ImageRgb32F(image.clone()).to_rgb8();
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality.clamp(1, 100)).encode_image(&rgb8)?;
    let decoded = image::load(Cursor::new(bytes), ImageFormat::Jpeg)?;
    Ok(decoded.to_rgb32f())
}
