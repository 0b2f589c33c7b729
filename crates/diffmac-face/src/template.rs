//! The five-point face template of FFHQ-aligned 512×512 faces, as facexlib uses it for
//! GFPGAN and CodeFormer: where the eyes, nose tip and mouth corners of an aligned face lie.

/// Template for a 512×512 face: left eye, right eye, nose tip, left mouth corner, right mouth
/// corner (left and right as seen in the picture), `[x, y]` in pixels.
pub const FFHQ_512: [[f64; 2]; 5] = [
    [192.98138, 239.94708],
    [318.90277, 240.1936],
    [256.63416, 314.01935],
    [201.26117, 371.41043],
    [313.08905, 371.15118],
];

/// The template scaled to a `face_size × face_size` crop.
pub fn ffhq_template(face_size: u32) -> [[f64; 2]; 5] {
    let s = f64::from(face_size) / 512.0;
    FFHQ_512.map(|[x, y]| [x * s, y * s])
}
