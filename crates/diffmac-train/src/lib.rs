//! Datasets and the Stage I / Stage II training steps of DiffMAC.
//!
//! **Status: skeleton.** This crate reserves its place in the workspace; nothing is implemented
//! yet. It will hold the on-the-fly degraded face dataset, the two training steps, optimiser settings and atomic checkpoints.
//!
//! See `docs/architecture.md` for where it fits and `docs/paper-to-code.md` for the
//! equations it will own.
