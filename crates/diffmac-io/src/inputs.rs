//! The image files of a command-line input: one file, a folder, or a folder tree, sorted so that
//! a batch is processed (and seeded) in the same order on every machine.

use std::path::{Path, PathBuf};

use crate::error::{IoError, Result};

/// File extensions taken from an input folder; other files there are listed as skipped.
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp", "gif"];

/// The image files of an input, and the folder entries passed over.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// Image files, sorted by path.
    pub images: Vec<PathBuf>,
    /// Folder entries without an image extension.
    pub skipped: Vec<PathBuf>,
}

/// Lists the images of a file or a folder (not recursive, hidden files ignored).
pub fn collect_inputs(input: &Path) -> Result<Inputs> {
    collect_images(input, false)
}

/// [`collect_inputs`], descending into sub-folders when `recursive` (hidden ones are skipped).
pub fn collect_images(input: &Path, recursive: bool) -> Result<Inputs> {
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| IoError::Io { path, source }
    };
    let meta = std::fs::metadata(input).map_err(io_err(input))?;
    if !meta.is_dir() {
        return Ok(Inputs {
            images: vec![input.to_owned()],
            skipped: Vec::new(),
        });
    }
    let mut inputs = Inputs::default();
    let mut folders = vec![input.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).map_err(io_err(&folder))? {
            let path = entry.map_err(io_err(&folder))?.path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                if recursive {
                    folders.push(path);
                }
                continue;
            }
            let is_image = path
                .extension()
                .map(|e| e.to_string_lossy().to_lowercase())
                .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str()));
            if is_image {
                inputs.images.push(path)
            } else {
                inputs.skipped.push(path)
            }
        }
    }
    inputs.images.sort();
    inputs.skipped.sort();
    Ok(inputs)
}
