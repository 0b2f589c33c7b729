//! insightface-style `.pth` state dicts load to the same network as the converted
//! safetensors file (fixtures from scripts/reference/iresnet_pth.py).

use std::path::{Path, PathBuf};

use burn::backend::Flex;
use burn::tensor::{Distribution, Tensor};
use diffmac_id::{IResNet, IdentityEncoder};

type B = Flex;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn pth_files_give_the_same_embeddings_as_safetensors() {
    let device = Default::default();
    let reference = IResNet::<B>::load(&fixture("iresnet_tiny.safetensors"), &device).unwrap();
    let size = reference.input_size();
    let faces = Tensor::<B, 4>::random(
        [2, 3, size, size],
        Distribution::Uniform(-1.0, 1.0),
        &device,
    );
    let want = reference.embed(faces.clone());
    for name in ["iresnet_tiny.pth", "iresnet_tiny_legacy.pth"] {
        let net = IResNet::<B>::load_pth(&fixture(name), &device).unwrap();
        let diff = (net.embed(faces.clone()) - want.clone())
            .abs()
            .max()
            .into_scalar();
        assert_eq!(diff, 0.0, "{name}");
    }
}

#[test]
fn files_that_are_not_state_dicts_are_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("backbone.pth");
    std::fs::write(&bad, b"PK\x03\x04 definitely not a zip").unwrap();
    let err = IResNet::<B>::load_pth(&bad, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("backbone.pth") && err.contains("state dict"),
        "{err}"
    );
}
