//! NaN and infinities: a bundle holding one is refused when it loads, naming the file and the
//! tensor; a face whose stage output is not finite fails with its own error and is never
//! pasted into the photo.

use burn::backend::Flex;
use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{FloatDType, Tensor};
use diffmac_face::paste::PasteOptions;
use diffmac_face::{FaceOptions, Mtcnn};
use diffmac_io::{DEFAULT_MAX_PIXELS, SafetensorsFile, load_image, save_safetensors};
use diffmac_restore::bundle::write_tiny_bundle;
use diffmac_restore::faces::{FaceRun, PhotoSetup, restore_aligned_each, restore_photo};
use diffmac_restore::{ModelBundle, Quiet, RestoreError, RestoreOptions, Restorer};

type B = Flex;

fn options() -> RestoreOptions {
    RestoreOptions {
        stage1_steps: 2,
        stage2_steps: 2,
        ..RestoreOptions::default()
    }
}

#[test]
fn a_bundle_with_a_nan_weight_does_not_load() {
    let dir = tempfile::tempdir().unwrap();
    let device = Default::default();
    write_tiny_bundle::<B>(dir.path(), 1, false, &device).unwrap();
    let path = dir.path().join("unet.safetensors");
    let file = SafetensorsFile::open(&path).unwrap();
    let key = "conv_in.bias";
    let mut tensors: std::collections::BTreeMap<_, _> = file
        .keys()
        .map(|k| (k.to_string(), file.data(k).unwrap()))
        .collect();
    let shape = file.shape(key).unwrap().to_vec();
    let mut bias = tensors[key].to_vec::<f32>().unwrap();
    bias[3] = f32::NAN;
    tensors.insert(key.into(), burn::tensor::TensorData::new(bias, shape));
    drop(file);
    save_safetensors(&path, &tensors).unwrap();
    let err = ModelBundle::<B>::load(dir.path(), &device, FloatDType::F32)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unet.safetensors") && err.contains(key) && err.contains("index 3"),
        "{err}"
    );
}

/// Multiplies every float parameter by NaN.
struct Poison;

impl<B: Backend> ModuleMapper<B> for Poison {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        Param::from_mapped_value(id, tensor.mul_scalar(f32::NAN), mapper)
    }
}

#[test]
fn a_face_with_a_non_finite_output_fails_and_is_not_pasted() {
    let dir = tempfile::tempdir().unwrap();
    let device = Default::default();
    write_tiny_bundle::<B>(dir.path(), 1, false, &device).unwrap();
    let mut bundle = ModelBundle::<B>::load(dir.path(), &device, FloatDType::F32).unwrap();
    // As a weight that overflowed at run time would: Stage II's control computes NaN.
    let stage2 = bundle.stage2.as_mut().unwrap();
    stage2.control = stage2.control.clone().map(&mut Poison);
    let restorer = Restorer::new(&bundle, options()).unwrap();

    let faces = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/faces/");
    let face = load_image(format!("{faces}astronaut.png").as_ref(), DEFAULT_MAX_PIXELS)
        .unwrap()
        .rgb;
    let outcome = restore_aligned_each(&restorer, &[face], None, &[1], &mut Quiet).unwrap();
    let err = outcome[0].as_ref().unwrap_err();
    assert!(
        matches!(
            err,
            RestoreError::NonFinite {
                face: 0,
                stage: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("not written"), "{err}");

    let photo = load_image(format!("{faces}obama.jpg").as_ref(), DEFAULT_MAX_PIXELS).unwrap();
    let detector = Mtcnn::<B>::pretrained(&device).unwrap();
    let setup = PhotoSetup {
        detector: &detector,
        outline: None,
        face_options: &FaceOptions::default(),
        paste_options: &PasteOptions::default(),
    };
    let restored = restore_photo(
        &restorer,
        &setup,
        &photo,
        &FaceRun::default(),
        0,
        "obama.jpg",
        &mut Quiet,
    )
    .unwrap();
    assert_eq!(restored.faces.len(), 1);
    assert!(restored.restored[0].is_err());
    assert_eq!(restored.photo.rgb, photo.rgb, "nothing was pasted");
}
