//! IResNet against insightface's own code: a tiny random-weight network built from
//! `backbones/iresnet.py` of deepinsight/insightface at commit 873e94c (its `IBasicBlock`,
//! `_make_layer` and `forward`, loaded unchanged by
//! `scripts/reference/iresnet_upstream_reference.py`), its weights in insightface's key layout
//! and loaded through the same loader as real checkpoints.

use std::path::Path;

use burn::backend::Flex;
use burn::tensor::{Tensor, TensorData};
use diffmac_id::{IResNet, IResNetConfig, IdError, IdentityEncoder, cosine_similarity};
use diffmac_io::{IoError, SafetensorsFile};
use safetensors::SafeTensors;

type B = Flex;

static FIXTURE: &[u8] = include_bytes!("fixtures/iresnet_tiny.safetensors");

fn fixture(name: &str) -> (Vec<usize>, Vec<f32>) {
    let st = SafeTensors::deserialize(FIXTURE).expect("fixture is safetensors");
    let view = st.tensor(name).expect("fixture tensor");
    let values = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (view.shape().to_vec(), values)
}

fn tiny() -> IResNet<B> {
    IResNet::from_bytes(
        FIXTURE,
        Path::new("iresnet_tiny.safetensors"),
        &Default::default(),
    )
    .expect("tiny IResNet loads")
}

#[test]
fn config_is_read_off_the_keys() {
    let weights = SafetensorsFile::from_bytes("iresnet_tiny.safetensors", FIXTURE).unwrap();
    let config = IResNetConfig::infer(&weights).unwrap();
    assert_eq!(
        config,
        IResNetConfig {
            layers: [2, 1, 2, 1],
            widths: [8, 12, 16, 20],
            stem: 8,
            num_features: 16,
            input_size: 32,
        }
    );
}

#[test]
fn tiny_iresnet_matches_insightface() {
    let net = tiny();
    assert_eq!(net.input_size(), 32);
    assert_eq!(net.embedding_dim(), 16);
    let (shape, input) = fixture("test.input");
    let shape: [usize; 4] = shape.try_into().unwrap();
    let x = Tensor::<B, 4>::from_data(TensorData::new(input, shape), &Default::default());
    let got = net.embed(x);
    let (want_shape, want) = fixture("test.output");
    assert_eq!(got.dims().to_vec(), want_shape);
    let got = got.into_data().convert::<f32>().into_vec::<f32>().unwrap();
    let err = got
        .iter()
        .zip(&want)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    println!("tiny IResNet: max abs error {err:.3e}, max |value| {scale:.3}");
    assert!(err <= 2e-6 * scale, "max abs error {err} > 2e-6 x {scale}");
}

#[test]
fn identical_faces_have_similarity_one() {
    let net = tiny();
    let (shape, input) = fixture("test.input");
    let shape: [usize; 4] = shape.try_into().unwrap();
    let x = Tensor::<B, 4>::from_data(TensorData::new(input, shape), &Default::default());
    let e = net.embed_normalized(x);
    let sims = cosine_similarity(e.clone(), e)
        .into_data()
        .into_vec::<f32>()
        .unwrap();
    for s in sims {
        assert!((s - 1.0).abs() < 1e-5, "{s}");
    }
}

#[test]
fn published_configs_have_insightfaces_parameter_counts() {
    // Counts of the PyTorch modules (parameters, no BatchNorm buffers), as printed by the
    // reference module of scripts/reference/iresnet_reference.py at full size.
    assert_eq!(IResNetConfig::iresnet50().num_parameters(), 43_590_848);
    assert_eq!(IResNetConfig::iresnet100().num_parameters(), 65_156_160);
    assert_eq!(IResNetConfig::iresnet50().fc_inputs(), 512 * 7 * 7);
}

#[test]
fn errors_name_the_file_and_the_key() {
    let err = IResNet::<B>::from_bytes(
        b"not safetensors",
        Path::new("x.safetensors"),
        &Default::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, IdError::File(IoError::Safetensors { .. })),
        "{err}"
    );
    assert!(err.to_string().starts_with("x.safetensors:"), "{err}");

    let weights = SafetensorsFile::from_bytes("tiny.safetensors", FIXTURE).unwrap();
    let mut config = IResNetConfig::infer(&weights).unwrap();
    config.widths[1] = 13;
    let err = IResNet::<B>::from_weights(&weights, &config, &Default::default()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("tiny.safetensors: tensor `layer2.0.downsample.0.weight`: shape"),
        "{message}"
    );

    let err = IResNet::<B>::load(Path::new("does-not-exist.safetensors"), &Default::default())
        .unwrap_err();
    assert!(matches!(err, IdError::File(IoError::Io { .. })), "{err}");
}
