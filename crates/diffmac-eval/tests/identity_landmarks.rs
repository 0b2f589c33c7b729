//! Identity angle and landmark distance on cases with known answers.

use diffmac_eval::{identity_score, landmark_distance};

#[test]
fn identity_angle_of_known_vectors() {
    // 60° apart: cos = 0.5.
    let s = identity_score(&[1.0, 0.0], &[0.5, 3.0_f32.sqrt() / 2.0]).unwrap();
    assert!(
        (s.cosine - 0.5).abs() < 1e-7 && (s.degrees - 60.0).abs() < 1e-5,
        "{s:?}"
    );
    // Scale does not matter; identical directions give 0°.
    let s = identity_score(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]).unwrap();
    assert!((s.cosine - 1.0).abs() < 1e-12 && s.degrees.abs() < 1e-4);
    // Opposite: 180°.
    let s = identity_score(&[1.0, -1.0], &[-1.0, 1.0]).unwrap();
    assert!((s.degrees - 180.0).abs() < 1e-5);
    assert!(identity_score(&[0.0, 0.0], &[1.0, 0.0]).is_err());
    assert!(identity_score(&[1.0], &[1.0, 0.0]).is_err());
}

#[test]
fn landmark_distance_is_the_mean_point_distance() {
    // Distances 5 (3-4-5 triangle) and 0 → mean 2.5.
    let d = landmark_distance(&[[0.0, 0.0], [1.0, 1.0]], &[[3.0, 4.0], [1.0, 1.0]]).unwrap();
    assert!((d - 2.5).abs() < 1e-12);
    assert!(landmark_distance(&[], &[]).is_err());
    assert!(landmark_distance(&[[0.0, 0.0]], &[]).is_err());
}
