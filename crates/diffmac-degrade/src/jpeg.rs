//! The JPEG round trip `[·]_JPEG_q` of eq. 14: a real encode at quality q and a real decode,
//! as basicsr's `cv2.imencode` / `cv2.imdecode` do it with libjpeg's defaults: baseline, IJG
//! quality scaling of the standard tables, and 4:2:0 chroma (each 2×2 block of Cb and Cr
//! averaged) at every quality. The `image` crate's own encoder keeps full-resolution chroma
//! (4:4:4), which blurs colour far less than the paper's training data was blurred; the
//! `jpeg-encoder` crate lets us choose both the sampling factors and libjpeg's averaging.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgb32FImage};
use jpeg_encoder::{ChromaSubsamplingMethod, ColorType, Encoder, SamplingFactor};

use crate::error::{DegradeError, Result};

/// Encodes `image` (clipped to [0, 1], rounded to 8 bits) as a 4:2:0 baseline JPEG at
/// `quality` (clamped to 1..=100), as libjpeg does by default.
///
/// # Errors
/// [`DegradeError::Jpeg`] if the image is empty or larger than JPEG's 65,535-pixel sides.
pub fn encode_jpeg_420(image: &Rgb32FImage, quality: u8) -> Result<Vec<u8>> {
    let rgb8 = DynamicImage::ImageRgb32F(image.clone()).to_rgb8();
    let side = |v: u32| {
        u16::try_from(v).map_err(|_| {
            DegradeError::Jpeg(format!(
                "a {}x{} image is larger than JPEG's 65535-pixel limit",
                image.width(),
                image.height()
            ))
        })
    };
    let (width, height) = (side(rgb8.width())?, side(rgb8.height())?);
    let mut bytes = Vec::new();
    let mut encoder = Encoder::new(&mut bytes, quality.clamp(1, 100));
    encoder.set_sampling_factor(SamplingFactor::R_4_2_0);
    encoder.set_chroma_subsampling_method(ChromaSubsamplingMethod::Average);
    encoder
        .encode(rgb8.as_raw(), width, height, ColorType::Rgb)
        .map_err(|e| DegradeError::Jpeg(e.to_string()))?;
    Ok(bytes)
}

/// The round trip: [`encode_jpeg_420`] at `quality`, then a real decode back to RGB f32.
///
/// # Errors
/// As [`encode_jpeg_420`], or a decoder error.
pub fn jpeg_round_trip(image: &Rgb32FImage, quality: u8) -> Result<Rgb32FImage> {
    let bytes = encode_jpeg_420(image, quality)?;
    let decoded = image::load(Cursor::new(bytes), ImageFormat::Jpeg)?;
    Ok(decoded.to_rgb32f())
}
