//! The one module a run optimises: the AdaIN control, the bottleneck (Stage II) and the UNet,
//! whose frozen parts do not require gradients ([`diffmac_ldm::TrainableParts`]). The
//! optimiser updates exactly the parameters that require gradients; the VAE, the text
//! encoder and `F_ID` live outside it and never train.

use burn::module::Module;
use burn::tensor::backend::Backend;
use diffmac_ldm::{AdaInControl, UNet2DConditionModel};
use diffmac_mib::ManifoldBottleneck;

/// The modules a run trains (and the UNet's frozen parts, which it only runs).
#[derive(Module, Debug)]
pub struct Trainable<B: Backend> {
    /// The AdaIN control (eqs. 2–4).
    pub control: AdaInControl<B>,
    /// The manifold information bottleneck (Stage II; `None` in Stage I and "2AdaIN").
    pub mib: Option<ManifoldBottleneck<B>>,
    /// The UNet, parts trainable per the config.
    pub unet: UNet2DConditionModel<B>,
}
