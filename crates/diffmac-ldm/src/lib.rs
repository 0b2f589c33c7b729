//! Stable Diffusion 2.1 latent diffusion modules for DiffMAC: AutoencoderKL, UNet2DCondition, the CLIP text encoder and the Stage I AdaIN control.
//!
//! **Status: skeleton.** This crate reserves its place in the workspace; nothing is implemented
//! yet. It will hold the SD 2.1 VAE (encoder, quant_conv, DiagonalGaussian, decoder), the UNet with a per-encoder-block modulation hook, the CLIP text tower for the empty prompt, and diffusers-layout safetensors loading, all generic over a Burn backend.
//!
//! See `docs/architecture.md` for where it fits and `docs/paper-to-code.md` for the
//! equations it will own.
