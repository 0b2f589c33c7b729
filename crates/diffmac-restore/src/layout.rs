//! Inputs and outputs of a restoration run, laid out as CodeFormer and GFPGAN users expect:
//!
//! ```text
//! OUTPUT/cropped_faces/<name>_00.png   aligned crops of each face (whole-photo mode)
//! OUTPUT/restored_faces/<name>_00.png  the restored faces (<name>.png in aligned mode)
//! OUTPUT/final_results/<name>.png      the photo with restored faces pasted back
//! OUTPUT/cmp/<name>_00.png             input | output side by side (on request)
//! ```
//!
//! `<name>` is the input's path relative to the input folder, without extension, so the
//! sub-folders of a recursive run are kept. Inputs are never written: the output folder may
//! not be the input folder or lie inside it.

use std::path::{Path, PathBuf};

use crate::error::{RestoreError, Result};

/// Sub-folder of the aligned input crops.
pub const CROPPED_FACES: &str = "cropped_faces";
/// Sub-folder of the restored faces.
pub const RESTORED_FACES: &str = "restored_faces";
/// Sub-folder of the pasted-back photos.
pub const FINAL_RESULTS: &str = "final_results";
/// Sub-folder of the side-by-side comparisons.
pub const CMP: &str = "cmp";
/// Sub-folder of Stage I's outputs `X_D1` (on request).
pub const STAGE1_FACES: &str = "stage1_faces";

/// One input image and the name its outputs take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputImage {
    /// The file.
    pub path: PathBuf,
    /// Relative path without extension, `/`-separated (e.g. `family/mum`).
    pub name: String,
}

/// What a run reads.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// Image files, sorted by name.
    pub images: Vec<InputImage>,
    /// Files skipped for not having an image extension.
    pub skipped: Vec<PathBuf>,
}

/// The images of `input` (a file, or a folder, descended into when `recursive`). Hidden
/// files and folders are ignored.
///
/// # Errors
/// [`RestoreError::File`] if `input` cannot be read, [`RestoreError::InvalidOption`] if two
/// inputs would write the same outputs (`a.png` and `a.jpg`).
pub fn collect_inputs(input: &Path, recursive: bool) -> Result<Inputs> {
    let found = diffmac_io::collect_images(input, recursive)?;
    let base = if input.is_dir() {
        input
    } else {
        input.parent().unwrap_or(input)
    };
    let mut images: Vec<InputImage> = found
        .images
        .into_iter()
        .map(|path| InputImage {
            name: stem(path.strip_prefix(base).unwrap_or(&path)),
            path,
        })
        .collect();
    images.sort_by(|a, b| a.name.cmp(&b.name).then(a.path.cmp(&b.path)));
    for pair in images.windows(2) {
        if pair[0].name == pair[1].name {
            return Err(RestoreError::InvalidOption(format!(
                "{} and {} would write the same outputs ({}); rename one",
                pair[0].path.display(),
                pair[1].path.display(),
                pair[0].name
            )));
        }
    }
    Ok(Inputs {
        images,
        skipped: found.skipped,
    })
}

/// `a/b/c.jpg` → `a/b/c`.
fn stem(relative: &Path) -> String {
    let parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

/// Checks that `output` is usable for inputs read from `input`.
///
/// # Errors
/// [`RestoreError::InvalidOption`] if `output` is the input folder or lies inside it (a
/// second run would read the outputs back).
pub fn check_output(input: &Path, output: &Path) -> Result<()> {
    let input_dir = if input.is_dir() {
        input.to_path_buf()
    } else {
        input
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf()
    };
    let canon = |p: &Path| {
        // The output folder may not exist yet: resolve its nearest existing ancestor.
        let mut existing = p.to_path_buf();
        let mut rest = Vec::new();
        while !existing.exists() {
            match (existing.file_name(), existing.parent()) {
                (Some(name), Some(parent)) => {
                    rest.push(name.to_os_string());
                    existing = if parent.as_os_str().is_empty() {
                        PathBuf::from(".")
                    } else {
                        parent.to_path_buf()
                    };
                }
                _ => break,
            }
        }
        let mut full = existing.canonicalize().unwrap_or(existing);
        full.extend(rest.iter().rev());
        full
    };
    let (i, o) = (canon(&input_dir), canon(output));
    if o.starts_with(&i) {
        return Err(RestoreError::InvalidOption(format!(
            "output folder {} is inside the input folder {}: pick another, inputs are never \
             written to",
            output.display(),
            input_dir.display()
        )));
    }
    Ok(())
}

/// Where one kind of output of `name` goes: `output/<folder>/<name><suffix>.png`.
pub fn output_path(output: &Path, folder: &str, name: &str, suffix: &str) -> PathBuf {
    let mut path = output.join(folder);
    path.extend(name.split('/'));
    let file = format!(
        "{}{suffix}.png",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    path.set_file_name(file);
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recursive_inputs_keep_their_sub_folders_in_output_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub/.hidden")).unwrap();
        for f in ["a.png", "sub/b.JPG", "sub/.hidden/c.png", "notes.txt"] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        let flat = collect_inputs(dir.path(), false).unwrap();
        assert_eq!(flat.images.len(), 1);
        assert_eq!(flat.skipped.len(), 1);
        let deep = collect_inputs(dir.path(), true).unwrap();
        let names: Vec<&str> = deep.images.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["a", "sub/b"]);
        let out = output_path(Path::new("out"), RESTORED_FACES, "sub/b", "_00");
        assert_eq!(out, Path::new("out/restored_faces/sub/b_00.png"));
    }

    #[test]
    fn clashing_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["a.png", "a.jpg"] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        let err = collect_inputs(dir.path(), false).unwrap_err().to_string();
        assert!(err.contains("same outputs"), "{err}");
    }

    #[test]
    fn outputs_inside_the_input_folder_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_output(dir.path(), dir.path()).is_err());
        assert!(check_output(dir.path(), &dir.path().join("new/out")).is_err());
        let other = tempfile::tempdir().unwrap();
        check_output(dir.path(), &other.path().join("out")).unwrap();
        let file = dir.path().join("a.png");
        assert!(check_output(&file, dir.path()).is_err());
    }
}
