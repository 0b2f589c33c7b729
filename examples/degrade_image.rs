//! Embedding `diffmac-degrade` in your own code: degrade one image, once with parameters drawn
//! from the paper's ranges and once with parameters of your choosing.
//!
//! ```sh
//! cargo run --release --example degrade_image -- examples/faces/astronaut.png out/example
//! ```

use diffmac::io::{load_image, stream_rng};
use std::path::PathBuf;

use anyhow::Context;
use diffmac::degrade::{
    BlurParams, DegradationConfig, DegradationParams, DownsampleParams, Interpolation, degrade,
    degrade_random,
};
use image::DynamicImage;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let input = PathBuf::from(
        args.next()
            .context("usage: degrade_image INPUT OUTPUT_DIR")?,
    );
    let out_dir = PathBuf::from(
        args.next()
            .context("usage: degrade_image INPUT OUTPUT_DIR")?,
    );
    std::fs::create_dir_all(&out_dir)?;

    let hq = load_image(&input, 64 * 1024 * 1024)?.rgb;

    // 1. Parameters drawn from the paper's ranges; the seed and a key make it reproducible.
    let mut rng = stream_rng(7, b"example");
    let (lq, params) = degrade_random(&hq, &DegradationConfig::default(), &mut rng)?;
    println!("random draw: {}", serde_json::to_string(&params)?);
    DynamicImage::ImageRgb32F(lq)
        .to_rgb8()
        .save(out_dir.join("random.png"))?;

    // 2. Explicit parameters: strong blur, 4x down-sampling, mild noise, JPEG at 70.
    let params = DegradationParams {
        blur: Some(BlurParams::isotropic(41, 4.0)),
        downsample: Some(DownsampleParams {
            scale: 4.0,
            interpolation: Interpolation::Bilinear,
        }),
        noise_sigma: Some(5.0),
        jpeg_quality: Some(70),
    };
    let lq = degrade(&hq, &params, &mut rng)?;
    DynamicImage::ImageRgb32F(lq)
        .to_rgb8()
        .save(out_dir.join("explicit.png"))?;
    println!("wrote {}", out_dir.display());
    Ok(())
}
