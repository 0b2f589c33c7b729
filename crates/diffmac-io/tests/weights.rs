//! The safetensors reader: non-finite weights are found in every float type, by key and index.

use std::collections::BTreeMap;

use burn::tensor::{TensorData, bf16, f16};
use diffmac_io::{IoError, SafetensorsFile};

fn file(data: TensorData) -> SafetensorsFile {
    let tensors = BTreeMap::from([
        ("ok".to_string(), TensorData::new(vec![1.0f32, -2.0], [2])),
        ("w".to_string(), data),
    ]);
    SafetensorsFile::from_tensors("weights.safetensors".into(), &tensors).unwrap()
}

#[test]
fn nan_and_infinity_are_found_in_every_float_type() {
    let cases = [
        TensorData::new(vec![0.5f32, f32::NAN, 1.0], [3]),
        TensorData::new(vec![0.5f64, f64::INFINITY, 1.0], [3]),
        TensorData::new(vec![f16::from_f32(0.5), f16::NEG_INFINITY, f16::ONE], [3]),
        TensorData::new(vec![bf16::from_f32(0.5), bf16::NAN, bf16::ONE], [3]),
    ];
    for data in cases {
        let dtype = data.dtype;
        let err = file(data).check_finite().unwrap_err();
        assert!(
            matches!(&err, IoError::NonFinite { key, index: 1, .. } if key == "w"),
            "{dtype:?}: {err}"
        );
        assert!(err.to_string().contains("weights.safetensors"), "{err}");
    }
    // Large but finite values, and integer tensors, pass.
    let finite = [
        TensorData::new(vec![f16::MAX, f16::MIN, f16::from_f32(-0.0)], [3]),
        TensorData::new(vec![bf16::MAX, bf16::MIN_POSITIVE, bf16::ONE], [3]),
        TensorData::new(vec![i64::MAX, 0, -1], [3]),
    ];
    for data in finite {
        file(data).check_finite().unwrap();
    }
}
