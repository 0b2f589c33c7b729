//! Writing a run's images: each face's restored_faces/, stage1_faces/ and cmp/ files, and the
//! whole photo in final_results/ (the input's own bytes when nothing changed).

use std::path::Path;

use diffmac_io::{LoadedImage, Storage, save_image, write_atomically};
use image::Rgb32FImage;

use crate::error::{RestoreError, Result};
use crate::faces::RestoredFace;
use crate::layout::{CMP, FINAL_RESULTS, InputImage, RESTORED_FACES, STAGE1_FACES, output_path};
use crate::run::RunOptions;

/// How the face images of `input` are written: 8-bit, and grey when the input is grey
/// (unless colorizing).
pub(crate) fn face_storage(options: &RunOptions, input: &LoadedImage) -> Storage {
    Storage {
        high_bit_depth: false,
        grey: input.is_grey() && !options.colorize,
    }
}

/// restored_faces/, and on request stage1_faces/ and cmp/ (`input | output`) of face
/// `suffix` of `name`, stored as `storage` says.
pub(crate) fn write_face_outputs(
    options: &RunOptions,
    name: &str,
    suffix: &str,
    input: &Rgb32FImage,
    restored: &RestoredFace,
    storage: Storage,
) -> Result<()> {
    let out = &options.output;
    let path = |folder| output_path(out, folder, name, suffix);
    save(&path(RESTORED_FACES), &restored.output, storage, options)?;
    if options.save_stage1 {
        save(&path(STAGE1_FACES), &restored.stage1, storage, options)?;
    }
    if options.save_cmp {
        let (w, h) = input.dimensions();
        let mut sheet = Rgb32FImage::new(2 * w, h);
        image::imageops::replace(&mut sheet, input, 0, 0);
        image::imageops::replace(&mut sheet, &restored.output, i64::from(w), 0);
        save(&path(CMP), &sheet, storage, options)?;
    }
    Ok(())
}

/// Writes the photo into final_results/: with no face restored, no upscale and a PNG input,
/// the input's own bytes; else `result` stored as the photo was (bit depth, alpha, and grey
/// unless colorizing).
pub(crate) fn write_photo(
    options: &RunOptions,
    image: &InputImage,
    photo: &LoadedImage,
    result: &LoadedImage,
    unchanged: bool,
) -> Result<()> {
    let final_path = output_path(&options.output, FINAL_RESULTS, &image.name, "");
    create_parent(&final_path)?;
    if unchanged && options.upscale == 1 && is_png(&image.path) {
        // Nothing to change: the photo itself, byte for byte.
        let bytes = std::fs::read(&image.path)
            .map_err(|e| RestoreError::output(&image.path, "cannot read", e))?;
        write_atomically(&final_path, &bytes, options.overwrite())?;
    } else {
        let storage = Storage {
            grey: photo.is_grey() && !options.colorize,
            ..photo.storage()
        };
        save_image(
            &final_path,
            &result.rgb,
            result.alpha.as_ref(),
            storage,
            options.overwrite(),
        )?;
    }
    Ok(())
}

/// Saves one face image, creating its folder.
pub(crate) fn save(
    path: &Path,
    image: &Rgb32FImage,
    storage: Storage,
    options: &RunOptions,
) -> Result<()> {
    create_parent(path)?;
    save_image(path, image, None, storage, options.overwrite())?;
    Ok(())
}

fn create_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| RestoreError::output(parent, "cannot create the folder", e))?;
    }
    Ok(())
}

/// Whether the file at `path` is a PNG (by its content, not its name).
fn is_png(path: &Path) -> bool {
    let mut head = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok_and(|()| head == *b"\x89PNG\r\n\x1a\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_is_told_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("photo.jpg");
        image::RgbImage::new(2, 2)
            .save_with_format(&png, image::ImageFormat::Png)
            .unwrap();
        assert!(is_png(&png));
        let text = dir.path().join("photo.png");
        std::fs::write(&text, b"not an image").unwrap();
        assert!(!is_png(&text));
        assert!(!is_png(&dir.path().join("missing.png")));
    }
}
