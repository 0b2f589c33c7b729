//! The manifold information bottleneck (MIB) of DiffMAC Stage II (paper §3.2, eqs. 6–11 and
//! 13; Algorithm 1 lines 16–25), generic over a Burn backend.
//!
//! Given the QC output `R` of the VAE on the Stage I result `X_D1` (8 channels):
//!
//! ```text
//! F_R = (R − μ_QC) / max(σ_QC, o)            line 17          ManifoldBottleneck::normalise
//! σ_ID, μ_ID = FC(F_ID(X_D1)), FC(F_ID(X_D1)) line 18          IdentityModulation::forward
//! F_N = F_R · σ_ID + μ_ID                    line 19, eq. 8   IdentityModulation::modulate
//! λ = Sigmoid(Conv(F_R))                     line 20          InformationFilter
//! Z = λ · R + (1 − λ) · F_N                  line 21, eq. 9   ManifoldBottleneck::forward
//! L_info = KL[p(Z|R) ‖ p(Z)]                 line 22, eq. 11  info_loss
//! L_rec = ‖Z − E(X_HQ)‖²                     line 25, eq. 10  rec_loss
//! L = L_ldm + λ_info L_info + λ_rec L_rec    eq. 13           stage2_loss
//! ```
//!
//! `μ_QC`, `σ_QC` are accumulated by [`QcStatsAccumulator`] (the trainer decides over which
//! images: `diffmac_train::qc_stats`) and are stored as JSON
//! ([`QcStats::save`]) and inside the module (as frozen parameters). The identity enters as a
//! plain embedding tensor `[N, D]` (or `[1, D]` for one reference face), so this crate does
//! not depend on the identity network. The injection variants of the paper's ablations are
//! [`InjectionKind`] / [`Injection`]. Every reading of an ambiguous passage of the paper is
//! listed in `docs/mib.md`.

pub mod bottleneck;
pub mod config;
pub mod error;
pub mod filter;
pub mod identity;
mod init;
pub mod loss;
pub mod stats;

pub use bottleneck::{Injection, ManifoldBottleneck, MibOutput};
pub use config::{InjectionKind, MibConfig};
pub use error::{MibError, Result};
pub use filter::InformationFilter;
pub use identity::IdentityModulation;
pub use loss::{Stage2Loss, info_loss, kl_elements, rec_loss, stage2_loss};
pub use stats::{QC_STATS_FILE, QcStats, QcStatsAccumulator};
