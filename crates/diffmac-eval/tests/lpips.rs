//! LPIPS (AlexNet and VGG16) against PyPI `lpips` 0.1.4 with the real linear heads and a
//! full-size backbone whose weights both sides derive from the same hash (see
//! `scripts/reference/eval_lpips_reference.py`), on two 64×64 crops of real images.

use std::path::{Path, PathBuf};

use burn::backend::Flex;
use burn::module::Module;
use burn::tensor::{Tensor, TensorData};
use diffmac_eval::load_image255;
use diffmac_eval::lpips::{Lpips, LpipsNet, hashed_backbone};
use diffmac_io::SafetensorsFile;

type B = Flex;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn reference() -> serde_json::Value {
    let text =
        std::fs::read_to_string(root().join("crates/diffmac-eval/tests/data/lpips_reference.json"))
            .expect("reference file");
    serde_json::from_str(&text).expect("reference JSON")
}

/// The crop as `[1, 3, S, S]` in [-1, 1], computed as the script does (x/255·2-1 in f32).
fn crop(rel: &str, reference: &serde_json::Value) -> Tensor<B, 4> {
    let c = &reference["crop"];
    let (top, left, side) = (
        c["top"].as_u64().unwrap() as usize,
        c["left"].as_u64().unwrap() as usize,
        c["side"].as_u64().unwrap() as usize,
    );
    let image = load_image255(&root().join(rel), u64::MAX).expect("image");
    let mut values = vec![0.0_f32; 3 * side * side];
    for ch in 0..3 {
        for y in 0..side {
            for x in 0..side {
                let v = image.data()[((top + y) * image.width() + left + x) * 3 + ch] as f32;
                values[(ch * side + y) * side + x] = v / 255.0 * 2.0 - 1.0;
            }
        }
    }
    Tensor::from_data(
        TensorData::new(values, [1, 3, side, side]),
        &Default::default(),
    )
}

fn check(net: LpipsNet) {
    let reference = reference();
    let want = &reference["nets"][net.name()];
    let device = Default::default();
    let model = Lpips::<B>::from_bytes(net, &hashed_backbone(net), Path::new("<hashed>"), &device)
        .expect("backbone loads");
    let a = crop(reference["images"][0].as_str().unwrap(), &reference);
    let b = crop(reference["images"][1].as_str().unwrap(), &reference);
    let rel = |ours: f32, theirs: f64| ((f64::from(ours) - theirs) / theirs).abs();

    let layers = model.per_layer(a.clone(), b.clone());
    for (i, (t, w)) in layers
        .iter()
        .zip(want["per_layer"].as_array().unwrap())
        .enumerate()
    {
        let ours = t.clone().into_scalar();
        let theirs = w.as_f64().unwrap();
        assert!(
            // A layer's term is a sum of squares over a whole feature map
            // in f32; the small deep-layer terms carry ~2e-6 of rounding.
            rel(ours, theirs) < 1e-5,
            "{} layer {i}: {ours} vs lpips {theirs}",
            net.name()
        );
    }
    let d = model.distance(a.clone(), b.clone()).into_scalar();
    let theirs = want["distance"].as_f64().unwrap();
    eprintln!(
        "{}: LPIPS {d} vs lpips {theirs}, relative error {:e}",
        net.name(),
        rel(d, theirs)
    );
    assert!(
        rel(d, theirs) < 2e-6,
        "{}: {d} vs lpips {theirs}",
        net.name()
    );
    // Batched: (a, b) and (b, b).
    let batch = model.distance(
        Tensor::cat(vec![a, b.clone()], 0),
        Tensor::cat(vec![b.clone(), b], 0),
    );
    let values: Vec<f32> = batch.into_data().to_vec().unwrap();
    assert!(rel(values[0], theirs) < 2e-6);
    assert_eq!(values[1], 0.0);
}

#[test]
fn lpips_alex_matches_the_lpips_package() {
    check(LpipsNet::Alex);
}

#[test]
fn lpips_vgg_matches_the_lpips_package() {
    check(LpipsNet::Vgg);
}

#[test]
fn module_parameters_are_the_backbone_and_the_heads() {
    let device = Default::default();
    let size = |file: &SafetensorsFile| -> usize {
        file.keys()
            .map(|k| file.shape(k).unwrap().iter().product::<usize>())
            .sum()
    };
    for net in [LpipsNet::Alex, LpipsNet::Vgg] {
        let bytes = hashed_backbone(net);
        let backbone = SafetensorsFile::from_bytes("<hashed>", bytes.clone()).unwrap();
        let heads = SafetensorsFile::from_bytes("<heads>", net.heads().to_vec()).unwrap();
        let model = Lpips::<B>::from_bytes(net, &bytes, Path::new("<hashed>"), &device).unwrap();
        assert_eq!(
            model.num_params(),
            size(&backbone) + size(&heads),
            "{net:?}"
        );
        assert_eq!(model.net(), net);
    }
}

#[test]
fn wrong_backbone_is_an_error_naming_the_tensor() {
    let device = Default::default();
    let err = Lpips::<B>::from_bytes(
        LpipsNet::Vgg,
        &hashed_backbone(LpipsNet::Alex),
        Path::new("alex.safetensors"),
        &device,
    )
    .expect_err("AlexNet weights are not VGG weights");
    let msg = err.to_string();
    assert!(
        msg.contains("alex.safetensors") && msg.contains("features."),
        "{msg}"
    );
    let err = Lpips::<B>::from_bytes(
        LpipsNet::Alex,
        b"not safetensors",
        Path::new("junk.bin"),
        &device,
    )
    .expect_err("garbage");
    assert!(err.to_string().contains("junk.bin"));
}
