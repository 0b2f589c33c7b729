//! Options shared by the full-reference metrics (PSNR, SSIM).

use crate::error::{EvalError, Result};
use crate::image::Image255;

/// How a full-reference metric looks at a pair, with basicsr's parameter names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FullReferenceOptions {
    /// Pixels dropped from each edge before measuring (basicsr `crop_border`; 0 for faces).
    pub crop_border: usize,
    /// Measure on the BT.601 Y channel instead of RGB (basicsr `test_y_channel`).
    pub test_y_channel: bool,
}

/// Refuses pairs whose sizes or channel counts differ.
pub(crate) fn check_pair(restored: &Image255, reference: &Image255) -> Result<()> {
    if restored.width() != reference.width()
        || restored.height() != reference.height()
        || restored.channels() != reference.channels()
    {
        return Err(EvalError::SizeMismatch {
            restored_w: restored.width(),
            restored_h: restored.height(),
            reference_w: reference.width(),
            reference_h: reference.height(),
        });
    }
    Ok(())
}
