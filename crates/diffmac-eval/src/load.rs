//! Reading an image file into an [`Image255`] through `diffmac_io::load_image` (limits
//! checked before decoding, EXIF orientation applied, 16-bit/grey/alpha/CMYK converted to RGB).

use std::path::Path;

use diffmac_io::load_image;

use crate::error::Result;
use crate::image::Image255;

/// Loads `path` as RGB on the 0–255 scale. Files with 8 bits per channel keep their exact
/// integer samples (what `cv2.imread` gives basicsr); deeper files keep their fractional
/// values. Alpha is ignored.
pub fn load_image255(path: &Path, max_pixels: u64) -> Result<Image255> {
    let loaded = load_image(path, max_pixels)?;
    let color = loaded.source_color;
    let eight_bit = color.bits_per_pixel() / u16::from(color.channel_count()) <= 8;
    Ok(Image255::from_rgb32f(&loaded.rgb, eight_bit))
}
