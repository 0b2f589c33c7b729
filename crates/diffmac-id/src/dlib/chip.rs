//! From a 512×512 FFHQ-aligned face to dlib's 150×150 face chip.
//!
//! dlib (and `face_recognition`) cut the chip out of the photo with
//! `get_face_chip_details(shape, 150, 0.25)`: the similarity transform that puts the face's
//! landmarks on dlib's mean face shape, a normalised template in which the face spans
//! [0, 1]², placed in the chip at `(p + padding) / (1 + 2·padding) · 150`, i.e.
//! `chip = 100 · (p + 0.25)` for a 150 chip with padding 0.25.
//!
//! Our faces are aligned to the FFHQ template (`diffmac_face::template::FFHQ_512`: eye
//! centres, nose tip, mouth corners, from MTCNN). The same five points of dlib's mean face are
//! [`DLIB_MEAN_FACE`] (eye centres as the mean of the six eye-contour points 36–41 and 42–47 of
//! the 68-point shape, nose tip 30, mouth corners 48 and 54, values from dlib's
//! `get_face_chip_details`). Both templates are upright and symmetric, so, as for ArcFace
//! ([`crate::preprocess`]), the map is fitted as scale + shift by least squares: for a 512
//! face the scale is 0.42558, i.e. the square of side ≈ 352.5 px with top-left corner
//! ≈ (82.7, 130.7) becomes the chip; it lies inside the 512 face (bottom edge at ≈ 483), a
//! tighter crop than FFHQ's with the eyes nearer the top. The five points land within 1.5
//! chip pixels of dlib's template.
//!
//! The approximation: dlib's own chip is placed by its 5-point shape predictor (eye corners
//! and the base of the nose), ours by MTCNN's landmarks through the FFHQ template, and dlib
//! resamples bilinearly (with a pyramid for large reductions) where we use an anti-aliased
//! triangle filter. docs/identity.md gives the measured effect on descriptors.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::error::Result;
use crate::preprocess::FaceCrop;

/// Side of dlib's face chip.
pub const DLIB_CHIP_SIZE: usize = 150;

/// dlib's chip padding in `compute_face_descriptor` (`get_face_chip_details(.., 150, 0.25)`).
pub const DLIB_CHIP_PADDING: f64 = 0.25;

/// Left eye centre, right eye centre, nose tip, left and right mouth corner (left and right as
/// seen in the picture) of dlib's mean face shape, in its normalised [0, 1] coordinates.
pub const DLIB_MEAN_FACE: [[f64; 2]; 5] = [
    // mean of points 36..41: x 0.121737 0.187122 0.265825 0.334606 0.260918 0.182743,
    // y 0.216423 0.178758 0.179852 0.231733 0.245099 0.244077
    [0.225_491_833, 0.215_990_333],
    // mean of points 42..47
    [0.754_761_333, 0.215_990_333],
    // point 30
    [0.490_127, 0.515_625],
    // point 48
    [0.254_149, 0.780_233],
    // point 54
    [0.726_104, 0.780_233],
];

/// [`DLIB_MEAN_FACE`] in the pixels of a `size × size` chip with dlib's padding 0.25.
pub fn dlib_chip_template(size: usize) -> [[f64; 2]; 5] {
    let k = size as f64 / (1.0 + 2.0 * DLIB_CHIP_PADDING);
    DLIB_MEAN_FACE.map(|[x, y]| [(x + DLIB_CHIP_PADDING) * k, (y + DLIB_CHIP_PADDING) * k])
}

/// The least-squares scale and shift from the FFHQ template of a `face_size` face to dlib's
/// chip template of side `chip_size` (150).
pub fn ffhq_to_dlib_crop(face_size: usize, chip_size: usize) -> Result<FaceCrop> {
    FaceCrop::fit_ffhq(face_size, &dlib_chip_template(chip_size), chip_size)
}

/// Square FFHQ-aligned faces `[N, 3, S, S]` in [-1, 1] → dlib chips `[N, 3, chip_size,
/// chip_size]` in [-1, 1], through [`ffhq_to_dlib_crop`].
pub fn ffhq_to_dlib_chip<B: Backend>(
    faces: Tensor<B, 4>,
    chip_size: usize,
) -> Result<Tensor<B, 4>> {
    let [_, _, h, _] = faces.dims();
    ffhq_to_dlib_crop(h, chip_size)?.forward(faces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use diffmac_face::template::FFHQ_512;

    #[test]
    fn chip_box_and_landmark_fit() {
        let crop = ffhq_to_dlib_crop(512, DLIB_CHIP_SIZE).unwrap();
        assert!((crop.scale - 0.425_58).abs() < 1e-4, "scale {}", crop.scale);
        let [x0, y0, x1, y1] = crop.source_box();
        assert!(
            (x0 - 82.66).abs() < 0.05 && (y0 - 130.74).abs() < 0.05,
            "{x0} {y0}"
        );
        assert!(
            x1 < 512.0 && y1 < 512.0,
            "the chip lies inside the face: {x1} {y1}"
        );
        let template = dlib_chip_template(DLIB_CHIP_SIZE);
        for (p, q) in FFHQ_512.iter().zip(&template) {
            let [x, y] = crop.apply(*p);
            let d = (x - q[0]).hypot(y - q[1]);
            assert!(d < 1.5, "landmark {p:?} lands {d} px from dlib's {q:?}");
        }
        // Eyes at chip row ≈ 46.6, mouth at ≈ 103.0 (dlib's template, padding 0.25).
        assert!((template[0][1] - 46.599).abs() < 1e-3);
        assert!((template[3][1] - 103.023).abs() < 1e-3);
    }
}
