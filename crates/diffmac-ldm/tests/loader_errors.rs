//! Every way a checkpoint can fail to fit gives an error naming the file and the key.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::{FloatDType, TensorData};

use common::{B, device, fixture};
use diffmac_io::{IoError, SafetensorsFile, save_safetensors};
use diffmac_ldm::{AutoencoderKL, LdmError, UNetConfig, VaeConfig};

const WEIGHTS: &str = "diffusion_pytorch_model.safetensors";

fn fixture_tensors() -> BTreeMap<String, TensorData> {
    let file = SafetensorsFile::open(fixture("vae").join(WEIGHTS)).expect("fixture");
    file.keys()
        .map(|k| (k.to_string(), file.data(k).expect("tensor")))
        .collect()
}

/// A VAE folder with the fixture's config and `tensors` as weights.
fn vae_dir(tensors: &BTreeMap<String, TensorData>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(fixture("vae/config.json"), dir.path().join("config.json")).expect("copy config");
    save_safetensors(dir.path().join(WEIGHTS), tensors).expect("write weights");
    dir
}

fn load(dir: &Path) -> Result<AutoencoderKL<B>, LdmError> {
    AutoencoderKL::from_dir(dir, &device(), FloatDType::F32)
}

#[test]
fn saving_round_trips_bit_for_bit() {
    let tensors = fixture_tensors();
    let dir = vae_dir(&tensors);
    let again = SafetensorsFile::open(dir.path().join(WEIGHTS)).expect("reopen");
    for (k, v) in &tensors {
        assert_eq!(
            again.data(k).expect("tensor").as_bytes(),
            v.as_bytes(),
            "{k}"
        );
    }
    load(dir.path()).expect("loads");
}

#[test]
fn missing_key_is_named() {
    let mut tensors = fixture_tensors();
    tensors.remove("decoder.mid_block.attentions.0.to_k.bias");
    let dir = vae_dir(&tensors);
    let err = load(dir.path()).expect_err("missing key");
    assert!(
        matches!(err, LdmError::MissingKey { ref key, .. } if key == "decoder.mid_block.attentions.0.to_k.bias")
    );
    let msg = err.to_string();
    assert!(
        msg.contains(WEIGHTS) && msg.contains("decoder.mid_block.attentions.0.to_k.bias"),
        "{msg}"
    );
}

#[test]
fn unexpected_key_is_named() {
    let mut tensors = fixture_tensors();
    tensors.insert(
        "encoder.extra.weight".into(),
        TensorData::new(vec![0f32; 3], [3]),
    );
    let dir = vae_dir(&tensors);
    let err = load(dir.path()).expect_err("unexpected key");
    assert!(
        matches!(err, LdmError::UnexpectedKeys { count: 1, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("encoder.extra.weight") && msg.contains(WEIGHTS),
        "{msg}"
    );
}

#[test]
fn wrong_shape_is_named() {
    let mut tensors = fixture_tensors();
    tensors.insert(
        "quant_conv.bias".into(),
        TensorData::new(vec![0f32; 4], [4]),
    );
    let dir = vae_dir(&tensors);
    let err = load(dir.path()).expect_err("wrong shape");
    match &err {
        LdmError::ShapeMismatch {
            key,
            expected,
            found,
            ..
        } => {
            assert_eq!(key, "quant_conv.bias");
            assert_eq!(
                (expected.as_slice(), found.as_slice()),
                (&[8][..], &[4][..])
            );
        }
        other => panic!("expected a shape error, got {other}"),
    }
}

#[test]
fn truncated_file_is_reported() {
    let dir = vae_dir(&fixture_tensors());
    let path = dir.path().join(WEIGHTS);
    let bytes = std::fs::read(&path).expect("read");
    for cut in [4, 100, bytes.len() - 10] {
        std::fs::write(&path, &bytes[..cut]).expect("truncate");
        let err = load(dir.path()).expect_err("truncated");
        assert!(
            matches!(err, LdmError::File(IoError::Safetensors { .. })),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains(WEIGHTS), "{msg}");
    }
}

#[test]
fn missing_file_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(fixture("vae/config.json"), dir.path().join("config.json")).expect("copy config");
    let err = load(dir.path()).expect_err("no weights");
    assert!(
        matches!(err, LdmError::File(IoError::Io { .. })) && err.to_string().contains(WEIGHTS),
        "{err}"
    );
}

#[test]
fn f16_file_loads_into_f32() {
    let tensors: BTreeMap<_, _> = fixture_tensors()
        .into_iter()
        .map(|(k, v)| (k, v.convert_dtype(burn::tensor::DType::F16)))
        .collect();
    let dir = vae_dir(&tensors);
    let vae = load(dir.path()).expect("f16 weights");
    assert_eq!(
        vae.quant_conv.expect("quant_conv").weight.val().dtype(),
        burn::tensor::DType::F32
    );
}

#[test]
fn unsupported_configs_are_refused() {
    let base = std::fs::read_to_string(fixture("sd21_base/unet/config.json")).expect("config");
    let bad = base.replace("\"num_class_embeds\": null", "\"num_class_embeds\": 10");
    let err = UNetConfig::from_json(&bad).expect_err("class embeddings");
    assert!(err.to_string().contains("num_class_embeds"), "{err}");
    let bad = base.replace("\"DownBlock2D\"", "\"SimpleCrossAttnDownBlock2D\"");
    assert!(UNetConfig::from_json(&bad).is_err());

    let dir = tempfile::tempdir().expect("temp dir");
    let vae = std::fs::read_to_string(fixture("vae/config.json")).expect("config");
    let p = dir.path().join("config.json");
    std::fs::write(&p, vae.replace("\"silu\"", "\"gelu\"")).expect("write");
    let err = VaeConfig::from_file(&p).expect_err("act_fn");
    assert!(err.to_string().contains("config.json"), "{err}");
}

/// A loaded module written back with `export` gives the original file's tensors bit for bit,
/// and the written file loads again.
#[test]
fn exported_module_round_trips() {
    use diffmac_ldm::VarBuilder;
    use diffmac_ldm::loader::export;
    let config = VaeConfig::from_file(fixture("vae/config.json")).expect("config");
    let file = SafetensorsFile::open(fixture("vae").join(WEIGHTS)).expect("fixture");
    let vb = VarBuilder::<B>::from_file(file, &device(), FloatDType::F32);
    let vae = AutoencoderKL::load(&config, &vb).expect("load");
    let exported = export(&vae, &vb.key_map()).expect("export");
    let original = fixture_tensors();
    assert_eq!(
        exported.keys().collect::<Vec<_>>(),
        original.keys().collect::<Vec<_>>()
    );
    for (k, v) in &original {
        assert_eq!(exported[k].shape, v.shape, "{k}");
        assert_eq!(exported[k].as_bytes(), v.as_bytes(), "{k}");
    }
    let dir = vae_dir(&exported);
    load(dir.path()).expect("reloads");
}

#[test]
fn absurd_shapes_in_a_corrupt_header_are_errors_not_overflows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("corrupt.safetensors");
    let header =
        r#"{"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,0]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    std::fs::write(&path, bytes).expect("write");
    let Err(err) = SafetensorsFile::open(&path) else {
        panic!("a corrupt header must not open");
    };
    let message = err.to_string();
    assert!(
        message.contains("corrupt.safetensors") && message.contains("too large"),
        "{message}"
    );
}

/// A PyTorch `nn.Linear` weight `[out, in]` loads as Burn's `[in, out]` in every precision.
#[test]
fn linear_weights_load_transposed_in_every_precision() {
    use diffmac_ldm::VarBuilder;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("linear.safetensors");
    let weight = TensorData::new((0..6).map(|v| v as f32).collect::<Vec<_>>(), [2, 3]);
    save_safetensors(&path, &BTreeMap::from([("w".to_string(), weight)])).expect("write");
    for dtype in [FloatDType::F32, FloatDType::F16, FloatDType::BF16] {
        let file = SafetensorsFile::open(&path).expect("open");
        let vb = VarBuilder::<B>::from_file(file, &device(), dtype);
        let w = vb.linear_weight("w", [2, 3]).expect("loads").val();
        assert_eq!(w.dims(), [3, 2], "{dtype:?}");
        let values = w
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .expect("values");
        assert_eq!(values, [0.0, 3.0, 1.0, 4.0, 2.0, 5.0], "{dtype:?}");
        vb.finish().expect("every tensor used");
    }
}
