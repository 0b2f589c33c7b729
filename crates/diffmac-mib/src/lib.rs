//! The manifold information bottleneck of DiffMAC Stage II.
//!
//! **Status: skeleton.** This crate reserves its place in the workspace; nothing is implemented
//! yet. It will hold the normalisation of the 8-channel QC manifold, the identity modulation, the information filter and the L_info / L_rec losses (paper eqs. 6-11, Algorithm 1 lines 16-25).
//!
//! See `docs/architecture.md` for where it fits and `docs/paper-to-code.md` for the
//! equations it will own.
