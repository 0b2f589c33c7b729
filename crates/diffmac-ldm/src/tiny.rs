//! Toy-size configs of the latent diffusion model: every block type of SD 2.1 at a few
//! channels, so that the tests, the `tiny` model bundle and new users run the whole pipeline
//! (training and restoring) on a CPU in seconds. Models built from them restore nothing.

/// Side of the tiny models' images (the VAE down-samples by 4, so latents are 16×16).
pub const TINY_IMAGE_SIZE: usize = 64;

/// The tiny UNet's config (diffusers `config.json`): 3 levels of 16, 32, 32 channels.
pub const TINY_UNET: &str = r#"{
  "_class_name": "UNet2DConditionModel",
  "act_fn": "silu",
  "attention_head_dim": [2, 4, 4],
  "block_out_channels": [16, 32, 32],
  "center_input_sample": false,
  "cross_attention_dim": 24,
  "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
  "downsample_padding": 1,
  "flip_sin_to_cos": true,
  "freq_shift": 0,
  "in_channels": 4,
  "layers_per_block": 1,
  "mid_block_scale_factor": 1,
  "norm_eps": 1e-05,
  "norm_num_groups": 4,
  "out_channels": 4,
  "sample_size": 16,
  "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
  "upcast_attention": false,
  "use_linear_projection": true
}"#;

/// The tiny VAE's config: 3 levels (down-sampling by 4).
pub const TINY_VAE: &str = r#"{
  "_class_name": "AutoencoderKL",
  "act_fn": "silu",
  "block_out_channels": [16, 32, 32],
  "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
  "in_channels": 3,
  "latent_channels": 4,
  "layers_per_block": 1,
  "norm_num_groups": 8,
  "out_channels": 3,
  "sample_size": 64,
  "scaling_factor": 0.18215,
  "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"]
}"#;
