//! Images ↔ Burn tensors: layout, range and round trip.

mod common;

use burn::backend::Flex;
use diffmac_io::{images_to_tensor, tensor_to_images};

use common::{max_abs_diff, textured};

#[test]
fn images_become_nchw_in_minus_one_to_one_and_back() {
    let device = Default::default();
    let images = vec![textured(6, 4), textured(6, 4)];
    let tensor = images_to_tensor::<Flex>(&images, &device).unwrap();
    assert_eq!(tensor.dims(), [2, 3, 4, 6]);
    // Pixel (x=5, y=2), green channel of the second image.
    let value: f32 = tensor.clone().slice([1..2, 1..2, 2..3, 5..6]).into_scalar();
    assert_eq!(value, images[1].get_pixel(5, 2)[1] * 2.0 - 1.0);
    let min: f32 = tensor.clone().min().into_scalar();
    assert!(min >= -1.0);

    let back = tensor_to_images(tensor).unwrap();
    assert_eq!(back.len(), 2);
    assert!(max_abs_diff(back[1].as_raw(), images[1].as_raw()) < 1e-6);
}

#[test]
fn mismatched_batches_are_errors() {
    let device = Default::default();
    assert!(images_to_tensor::<Flex>(&[], &device).is_err());
    let err = images_to_tensor::<Flex>(&[textured(4, 4), textured(5, 4)], &device).unwrap_err();
    assert!(err.to_string().contains("image 1"), "{err}");
}
