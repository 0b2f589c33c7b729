//! DiffMAC's Diffusion-Information-Diffusion restoration pipeline (Algorithm 1, inference)
//! and model bundles.
//!
//! **Status: skeleton.** See `docs/architecture.md`.
