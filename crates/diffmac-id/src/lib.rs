//! Identity encoder (F_ID) for DiffMAC and its face preprocessing.
//!
//! **Status: skeleton.** This crate reserves its place in the workspace; nothing is implemented
//! yet. It will hold the identity embedding network used to inject identity into the MIB, with its preprocessing and weight loading.
//!
//! See `docs/architecture.md` for where it fits and `docs/paper-to-code.md` for the
//! equations it will own.
