//! The dlib ResNet port on a tiny random-weight network of the same kind (44×44 input, blocks
//! 4 / 6↓ / 8↓, 5-D output), computed by the NumPy port in `scripts/reference/dlib_reference.py`
//! that matches dlib itself on the real network to 2.9e-7. Runs without the fetched weights.

use std::path::Path;

use burn::backend::Flex;
use burn::tensor::{Tensor, TensorData};
use diffmac_id::dlib::DlibArchitecture;
use diffmac_id::{
    DlibResNet, IdError, IdentityEncoder, IdentityNetwork, IdentityNetworkKind,
    load_identity_encoder,
};
use diffmac_io::{IoError, SafetensorsFile};
use safetensors::SafeTensors;

type B = Flex;

static TINY: &[u8] = include_bytes!("fixtures/dlib_tiny.safetensors");
static IRESNET: &[u8] = include_bytes!("fixtures/iresnet_tiny.safetensors");

fn tensor(name: &str) -> (Vec<usize>, Vec<f32>) {
    let st = SafeTensors::deserialize(TINY).expect("fixture is safetensors");
    let view = st.tensor(name).expect("fixture tensor");
    let values = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (view.shape().to_vec(), values)
}

fn tiny() -> DlibResNet<B> {
    DlibResNet::from_bytes(
        TINY,
        Path::new("dlib_tiny.safetensors"),
        &Default::default(),
    )
    .expect("tiny dlib network loads")
}

#[test]
fn architecture_is_read_from_the_metadata() {
    let arch = DlibArchitecture::from_file(
        &SafetensorsFile::from_bytes("dlib_tiny.safetensors", TINY).unwrap(),
    )
    .unwrap();
    assert_eq!(arch.input_size, 44);
    assert_eq!(arch.embedding_dim, 5);
    let blocks: Vec<(usize, usize)> = arch.blocks.iter().map(|b| (b.channels, b.stride)).collect();
    assert_eq!(blocks, vec![(4, 1), (6, 2), (8, 2)]);
    assert_eq!(arch.input_mean_rgb, [122.782, 117.001, 104.298]);
}

#[test]
fn tiny_network_matches_numpy_port() {
    let net = tiny();
    assert_eq!(net.input_size(), 44);
    assert_eq!(net.embedding_dim(), 5);
    let (shape, input) = tensor("test.input");
    let shape: [usize; 4] = shape.try_into().unwrap();
    let x = Tensor::<B, 4>::from_data(TensorData::new(input, shape), &Default::default());
    let got = net.try_forward(x).unwrap();
    let (want_shape, want) = tensor("test.output");
    assert_eq!(got.dims().to_vec(), want_shape);
    let got = got.into_data().into_vec::<f32>().unwrap();
    let err = got
        .iter()
        .zip(&want)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    println!("tiny dlib ResNet: max abs error {err:.3e}, max |value| {scale:.3}");
    assert!(scale > 0.05, "the reference output is not degenerate");
    assert!(err <= 1e-5, "max abs error {err} > 1e-5");
}

#[test]
fn auto_kind_detects_dlib_and_iresnet() {
    let file = |bytes: &'static [u8]| SafetensorsFile::from_bytes("x.safetensors", bytes).unwrap();
    assert_eq!(
        IdentityNetworkKind::detect(&file(TINY)).unwrap(),
        IdentityNetworkKind::DlibResNetV1
    );
    assert_eq!(
        IdentityNetworkKind::detect(&file(IRESNET)).unwrap(),
        IdentityNetworkKind::ArcFaceIResNet
    );
    assert_eq!(
        "dlib_resnet_v1".parse::<IdentityNetworkKind>().unwrap(),
        IdentityNetworkKind::DlibResNetV1
    );
    assert_eq!(
        IdentityNetworkKind::ArcFaceIResNet.to_string(),
        "arcface_iresnet"
    );
}

#[test]
fn load_identity_encoder_reads_the_fixture_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let device = Default::default();
    let dlib =
        load_identity_encoder::<B>("auto", &dir.join("dlib_tiny.safetensors"), &device).unwrap();
    assert!(matches!(dlib, IdentityNetwork::Dlib(_)));
    assert_eq!(dlib.embedding_dim(), 5);
    let faces = Tensor::<B, 4>::zeros([2, 3, 128, 128], &device);
    assert_eq!(
        dlib.prepare_ffhq(faces.clone()).unwrap().dims(),
        [2, 3, 44, 44]
    );
    assert_eq!(dlib.embed_ffhq(faces).unwrap().dims(), [2, 5]);
    let arc = load_identity_encoder::<B>(
        "arcface_iresnet",
        &dir.join("iresnet_tiny.safetensors"),
        &device,
    )
    .unwrap();
    assert_eq!(arc.kind(), IdentityNetworkKind::ArcFaceIResNet);
    assert_eq!((arc.input_size(), arc.embedding_dim()), (32, 16));
}

#[test]
fn errors_name_the_file_and_the_problem() {
    let device = Default::default();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let missing =
        load_identity_encoder::<B>("dlib_resnet_v1", Path::new("nowhere.st"), &device).unwrap_err();
    assert!(matches!(missing, IdError::File(IoError::Io { .. })));
    assert!(missing.to_string().contains("nowhere.st"), "{missing}");
    let unknown = load_identity_encoder::<B>("facenet", Path::new("x"), &device).unwrap_err();
    assert!(matches!(unknown, IdError::UnknownKind(_)), "{unknown}");
    // An IResNet file read as dlib's network: no architecture metadata.
    let wrong = load_identity_encoder::<B>(
        "dlib_resnet_v1",
        &dir.join("iresnet_tiny.safetensors"),
        &device,
    )
    .unwrap_err()
    .to_string();
    assert!(
        wrong.contains("iresnet_tiny.safetensors") && wrong.contains("dlib_architecture"),
        "{wrong}"
    );
    let garbage = DlibResNet::<B>::from_bytes(b"not safetensors", Path::new("g.st"), &device)
        .unwrap_err()
        .to_string();
    assert!(garbage.starts_with("g.st: "), "{garbage}");
}

#[test]
fn wrong_input_shape_is_an_error_not_a_panic() {
    let net = tiny();
    let x = Tensor::<B, 4>::zeros([1, 3, 45, 44], &Default::default());
    let err = net.try_forward(x).unwrap_err().to_string();
    assert!(err.contains("[N, 3, 44, 44]"), "{err}");
}
