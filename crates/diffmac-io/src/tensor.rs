//! The one place where images become Burn tensors and back: RGB in [0, 1] ↔ `[N, 3, H, W]` in
//! [-1, 1], the range the Stable Diffusion VAE expects.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use image::Rgb32FImage;

use crate::error::{IoError, Result};

/// Stacks same-sized images into a `[N, 3, H, W]` tensor with values in [-1, 1].
pub fn images_to_tensor<B: Backend>(
    images: &[Rgb32FImage],
    device: &B::Device,
) -> Result<Tensor<B, 4>> {
    let first = images
        .first()
        .ok_or_else(|| IoError::Shape("empty image batch".into()))?;
    let (width, height) = first.dimensions();
    let plane = (width * height) as usize;
    let mut values = Vec::with_capacity(images.len() * 3 * plane);
    for (i, image) in images.iter().enumerate() {
        if image.dimensions() != (width, height) {
            return Err(IoError::Shape(format!(
                "image {i} is {}x{}, the batch is {width}x{height}",
                image.width(),
                image.height()
            )));
        }
        for channel in 0..3 {
            values.extend(
                image
                    .as_raw()
                    .iter()
                    .skip(channel)
                    .step_by(3)
                    .map(|v| v * 2.0 - 1.0),
            );
        }
    }
    let shape = [images.len(), 3, height as usize, width as usize];
    Ok(Tensor::from_data(TensorData::new(values, shape), device))
}

/// Splits a `[N, 3, H, W]` tensor in [-1, 1] into images in [0, 1] (values clamped).
pub fn tensor_to_images<B: Backend>(tensor: Tensor<B, 4>) -> Result<Vec<Rgb32FImage>> {
    let [n, c, h, w] = tensor.dims();
    if c != 3 {
        return Err(IoError::Shape(format!("expected 3 channels, got {c}")));
    }
    let values = tensor
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .map_err(|e| IoError::Shape(format!("cannot read tensor values: {e:?}")))?;
    let plane = h * w;
    let images = values
        .chunks_exact(3 * plane)
        .take(n)
        .map(|sample| {
            let mut pixels = Vec::with_capacity(3 * plane);
            for p in 0..plane {
                for channel in 0..3 {
                    pixels.push(((sample[channel * plane + p] + 1.0) * 0.5).clamp(0.0, 1.0));
                }
            }
            Rgb32FImage::from_raw(w as u32, h as u32, pixels).expect("buffer has the image's size")
        })
        .collect();
    Ok(images)
}
