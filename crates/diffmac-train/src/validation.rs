//! Validation sheets `RUN_DIR/validation/step-XXXXXXX.png`: one row per validation image,
//! columns LQ | (Stage II: X_D1 |) output | HQ. The output is the cheap one-step estimate:
//! the HQ latent noised to `logging.validation_timestep` by eq. 1, one UNet evaluation
//! through the control, x̂₀ by eq. 5, decoded by the VAE — not a full 50-step sampling.

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorData};
use diffmac_ldm::ControlModulation;
use diffmac_sampler::{NoiseRng, add_noise, x0_from_eps};
use image::{Rgb32FImage, RgbImage};

use crate::error::{Result, TrainError};
use crate::models::FrozenModels;
use crate::trainable::Trainable;

/// The one-step x̂₀ image `[N, 3, S, S]` in [-1, 1] for HQ faces `hq` at training timestep
/// `t` with the control modulation `modulation`.
///
/// # Errors
/// Sampler errors.
pub fn one_step_output<B: Backend>(
    model: &Trainable<B>,
    frozen: &FrozenModels<B>,
    modulation: &ControlModulation<B>,
    hq: Tensor<B, 4>,
    t: usize,
    rng: &mut NoiseRng,
) -> Result<Tensor<B, 4>> {
    let FrozenModels {
        vae,
        context,
        schedule,
        ..
    } = frozen;
    let n = hq.dims()[0];
    let z0 = vae.encode(hq).mean.mul_scalar(vae.scaling_factor);
    let eps = rng.gaussian_like(&z0);
    let ts = vec![t; n];
    let z_t = add_noise(schedule, z0, eps, &ts)?;
    let device = z_t.device();
    let timesteps = Tensor::<B, 1>::from_data(
        TensorData::new(vec![t as f32; n], [n]),
        (&device, DType::F32),
    );
    let eps_hat = model.unet.forward_modulated(
        z_t.clone(),
        timesteps,
        context.clone().repeat_dim(0, n),
        modulation,
    );
    let x0 = x0_from_eps(z_t, eps_hat, schedule.alpha_cumprod(t)?)?;
    Ok(vae
        .decode(x0.div_scalar(vae.scaling_factor))
        .clamp(-1.0, 1.0))
}

/// Writes a sheet: `columns[c][r]` is the image of row `r`, column `c`.
///
/// # Errors
/// Ragged columns, I/O errors naming the file.
pub fn write_sheet(path: &Path, columns: &[Vec<Rgb32FImage>]) -> Result<PathBuf> {
    let rows = columns.first().map_or(0, Vec::len);
    let Some(first) = columns.first().and_then(|c| c.first()) else {
        return Err(TrainError::Data {
            path: path.to_path_buf(),
            message: "empty validation sheet".into(),
        });
    };
    let (w, h) = first.dimensions();
    let mut sheet = RgbImage::new(w * columns.len() as u32, h * rows as u32);
    for (c, column) in columns.iter().enumerate() {
        for (r, img) in column.iter().enumerate() {
            for (x, y, p) in img.enumerate_pixels() {
                if x < w && y < h {
                    let px = image::Rgb(p.0.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8));
                    sheet.put_pixel(c as u32 * w + x, r as u32 * h + y, px);
                }
            }
        }
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(TrainError::io(parent))?;
    }
    let mut bytes = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(sheet)
        .write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(|e| TrainError::Data {
            path: path.to_path_buf(),
            message: format!("cannot encode the sheet: {e}"),
        })?;
    diffmac_io::write_atomically(path, bytes.get_ref(), true)?;
    Ok(path.to_path_buf())
}
