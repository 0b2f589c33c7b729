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

/// Files on disk are read lazily: `open` reads the header only, and each tensor is read when
/// asked for. The values, the checks and the errors are those of the in-memory reader.
#[test]
fn files_on_disk_read_tensor_by_tensor_with_the_same_checks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let tensors = BTreeMap::from([
        (
            "a".to_string(),
            TensorData::new(vec![1.5f32, -2.0, 3.25], [3]),
        ),
        (
            "b".to_string(),
            TensorData::new(vec![0.5f32, f32::NAN], [1, 2]),
        ),
    ]);
    diffmac_io::save_safetensors(&path, &tensors).unwrap();
    let bytes = std::fs::read(&path).unwrap();

    let file = SafetensorsFile::open(&path).unwrap();
    assert_eq!(file.f32_values("a", &[3]).unwrap(), vec![1.5, -2.0, 3.25]);
    assert_eq!(file.data("b").unwrap(), tensors["b"]);
    let err = file.check_finite().unwrap_err();
    assert!(
        matches!(&err, IoError::NonFinite { key, index: 1, .. } if key == "b"),
        "{err}"
    );

    // A file cut short is refused at `open`, naming the file and the tensor past its end.
    std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    let err = SafetensorsFile::open(&path).unwrap_err().to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("truncated"),
        "{err}"
    );

    // A header length beyond the file, and one beyond any sane header, are refused before
    // anything of that size is allocated.
    for claimed in [bytes.len() as u64, u64::MAX - 7] {
        let mut lying = claimed.to_le_bytes().to_vec();
        lying.extend_from_slice(&bytes[8..]);
        std::fs::write(&path, &lying).unwrap();
        let err = SafetensorsFile::open(&path).unwrap_err().to_string();
        assert!(err.contains("header claims"), "{err}");
    }
    let mut huge = vec![0u8; 8];
    huge[..8].copy_from_slice(&200_000_000u64.to_le_bytes());
    huge.resize(200_000_100, b' ');
    std::fs::write(&path, &huge).unwrap();
    let err = SafetensorsFile::open(&path).unwrap_err().to_string();
    assert!(err.contains("more than the"), "{err}");
}

/// A view renames, splits and reshapes stored tensors without copying them, and a file or a
/// view written with `save` is byte for byte the file `save_safetensors` writes for the same
/// tensors.
#[test]
fn views_read_renamed_split_and_reshaped_tensors_and_save_streams_them() {
    use diffmac_io::weights::TensorView;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("single.safetensors");
    let fused: Vec<f32> = (0..12).map(|v| v as f32).collect();
    let tensors = BTreeMap::from([
        ("fused".to_string(), TensorData::new(fused, [6, 2])),
        (
            "conv".to_string(),
            TensorData::new(vec![f16::ONE, f16::NEG_ONE], [2, 1, 1, 1]),
        ),
    ]);
    diffmac_io::save_safetensors(&path, &tensors).unwrap();
    let file = SafetensorsFile::open(&path).unwrap();

    let view = file
        .view(
            "single.safetensors (part)",
            [
                TensorView::new("q", "fused").part(0, 3),
                TensorView::new("v", "fused").part(2, 3),
                TensorView::new("proj", "conv").reshaped(vec![2, 1]),
            ],
        )
        .unwrap();
    assert_eq!(view.keys().collect::<Vec<_>>(), ["proj", "q", "v"]);
    assert_eq!(view.f32_values("q", &[2, 2]).unwrap(), [0.0, 1.0, 2.0, 3.0]);
    assert_eq!(
        view.f32_values("v", &[2, 2]).unwrap(),
        [8.0, 9.0, 10.0, 11.0]
    );
    assert_eq!(
        view.data("proj").unwrap(),
        TensorData::new(vec![f16::ONE, f16::NEG_ONE], [2, 1])
    );
    // The source keys are not part of the view, and errors name the view.
    let err = view.data("fused").unwrap_err().to_string();
    assert!(err.contains("(part)"), "{err}");

    // Parts and shapes that do not fit, and a key named twice, are refused.
    for bad in [
        vec![TensorView::new("x", "fused").part(0, 4)],
        vec![TensorView::new("x", "fused").part(3, 3)],
        vec![TensorView::new("x", "conv").reshaped(vec![3])],
        vec![TensorView::new("x", "missing")],
        vec![TensorView::new("x", "conv"), TensorView::new("x", "fused")],
    ] {
        assert!(file.view("bad", bad.clone()).is_err(), "{bad:?}");
    }

    // Saving a view streams exactly what saving its tensors in memory writes.
    let streamed = dir.path().join("streamed.safetensors");
    let in_memory = dir.path().join("in_memory.safetensors");
    view.save(&streamed).unwrap();
    let read: BTreeMap<String, TensorData> = view
        .keys()
        .map(|k| (k.to_string(), view.data(k).unwrap()))
        .collect();
    diffmac_io::save_safetensors(&in_memory, &read).unwrap();
    assert_eq!(
        std::fs::read(&streamed).unwrap(),
        std::fs::read(&in_memory).unwrap()
    );
    // Saving the opened file again reproduces it, and leaves no temporary file behind.
    let copy = dir.path().join("copy.safetensors");
    file.save(&copy).unwrap();
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&path).unwrap());
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

/// On disk, the check reads blocks of a few megabytes: a NaN beyond the first block is found
/// at its index in the tensor, not in the block.
#[test]
fn a_non_finite_value_past_the_first_block_is_found_at_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.safetensors");
    let mut values = vec![0.25f32; 1_200_000];
    values[1_100_003] = f32::INFINITY;
    let tensors = BTreeMap::from([
        ("a".to_string(), TensorData::new(vec![1.0f32; 3], [3])),
        ("large".to_string(), TensorData::new(values, [1_200_000])),
    ]);
    diffmac_io::save_safetensors(&path, &tensors).unwrap();
    for file in [
        SafetensorsFile::open(&path).unwrap(),
        SafetensorsFile::from_tensors(path.clone(), &tensors).unwrap(),
    ] {
        let err = file.check_finite().unwrap_err();
        assert!(
            matches!(&err, IoError::NonFinite { key, index: 1_100_003, .. } if key == "large"),
            "{err}"
        );
    }
}
