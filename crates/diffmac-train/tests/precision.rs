//! Half-precision training on the CPU backend (its own test binary: the precision config
//! fixes the device's default float dtype for the whole process).

use std::path::Path;

use burn::backend::{Autodiff, Flex};
use burn::tensor::{DType, Tensor};

use diffmac_io::SafetensorsFile;
use diffmac_train::config::Precision;
use diffmac_train::metrics::read_metrics;
use diffmac_train::{Stage, TrainConfig, TrainOptions, train};

#[test]
fn f16_config_trains_in_f16() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = TrainConfig::tiny(Stage::One);
    c.data.hq_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/faces");
    c.steps = Some(2);
    c.precision = Precision::F16;
    c.logging.validate_every = 0;
    let options = TrainOptions {
        run_dir: dir.path().to_path_buf(),
        resume: false,
    };
    let device = Default::default();
    let s = train::<Autodiff<Flex>>(c, &options, &device, &mut |_| {}).unwrap();
    assert!(s.last_loss.unwrap().is_finite());
    // The device default follows the config (Burn 0.21 pitfall: set before the first tensor).
    assert_eq!(Tensor::<Flex, 1>::zeros([1], &device).dtype(), DType::F16);
    let ck = s.checkpoint.unwrap();
    for file in ["control.safetensors", "unet.safetensors"] {
        let f = SafetensorsFile::open(ck.join(file)).unwrap();
        let key = f.keys().next().unwrap().to_string();
        let data = f.data(&key).unwrap();
        assert_eq!(data.dtype, DType::F16, "{file}: {key}");
    }
    // Optimiser moments stay f32.
    let f = SafetensorsFile::open(ck.join("optimizer.safetensors")).unwrap();
    let key = f.keys().find(|k| k.starts_with("m.")).unwrap().to_string();
    assert_eq!(f.data(&key).unwrap().dtype, DType::F32);
    assert_eq!(
        read_metrics(&dir.path().join("metrics.jsonl"))
            .unwrap()
            .len(),
        2
    );
}
