//! Noise schedules, spaced DDPM and DDIM sampling, and the x0 estimate of DiffMAC (eqs. 1 and 5).
//!
//! **Status: skeleton.** This crate reserves its place in the workspace; nothing is implemented
//! yet. It will hold beta schedules, the forward process q(z_t | z_0), improved-DDPM timestep respacing, and spaced DDPM / DDIM samplers that talk to any denoiser.
//!
//! See `docs/architecture.md` for where it fits and `docs/paper-to-code.md` for the
//! equations it will own.
