//! The CLIP text encoder against transformers' `CLIPTextModel` (fixture written by
//! `scripts/reference/ldm_reference.py`).

mod common;

use burn::tensor::FloatDType;
use common::{Io, TOL, assert_close, device, fixture};
use diffmac_ldm::{ClipTextConfig, ClipTextModel};

#[test]
fn clip_text_matches_transformers() {
    let model =
        ClipTextModel::<common::B>::from_dir(fixture("text_encoder"), &device(), FloatDType::F32)
            .expect("load text encoder");
    let io = Io::open("text_encoder");
    let out = model.forward(io.int::<2>("input_ids")).expect("forward");
    assert_close(
        "text last_hidden_state",
        out.last_hidden_state,
        io.float("last_hidden_state"),
        TOL,
    );
    assert_close(
        "text penultimate_hidden_state",
        out.penultimate_hidden_state,
        io.float("penultimate_hidden_state"),
        TOL,
    );
}

#[test]
fn out_of_range_token_ids_are_an_error() {
    let model =
        ClipTextModel::<common::B>::from_dir(fixture("text_encoder"), &device(), FloatDType::F32)
            .expect("load text encoder");
    let ids = burn::tensor::Tensor::<common::B, 2, burn::tensor::Int>::from_data(
        [[0i64, 5000]],
        (&device(), burn::tensor::DType::I64),
    );
    let err = model.forward(ids).expect_err("id beyond the vocabulary");
    assert!(err.to_string().contains("vocabulary"), "{err}");
}

#[test]
fn empty_prompt_ids_are_sd2s() {
    let ids = diffmac_ldm::sd2_empty_prompt_ids();
    assert_eq!(&ids[..3], &[49406, 49407, 0]);
    assert!(ids[2..].iter().all(|&i| i == 0));
    assert_eq!(ids.len(), 77);
}

#[test]
fn sd21_base_text_config_reads() {
    let c =
        ClipTextConfig::from_file(fixture("sd21_base/text_encoder/config.json")).expect("config");
    assert_eq!(
        (c.hidden_size, c.num_hidden_layers, c.num_attention_heads),
        (1024, 23, 16)
    );
    assert_eq!(c.hidden_act, "gelu");
    let n = ClipTextModel::<common::B>::parameter_count(&c, &device()).expect("count");
    // transformers' CLIPTextModel on this config (scripts/reference/ldm_reference.py).
    assert_eq!(n, 340_387_840);
}
