//! Face restoration metrics of the DiffMAC paper (Tables 1–2).
//!
//! **Status: skeleton.** See `docs/architecture.md`.
