"""Writes a Stable Diffusion 2.1-base diffusers folder with random weights at full size.

For measuring what needs real sizes but not real weights (memory and time of
`diffmac-convert sd` and `diffmac-restore`); the configs are the project's copies of SD 2.1-base's
(crates/diffmac-restore/configs/sd21_base), saved as safetensors in the diffusers layout with
the scheduler config. Nothing is downloaded.

Usage: python3 scripts/reference/random_sd_folder.py OUT   (torch, diffusers 0.42.1, transformers)
"""
import json
import pathlib
import sys

import torch
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "crates/diffmac-restore/configs/sd21_base"


def config(name):
    cfg = json.loads((CONFIGS / f"{name}.json").read_text())
    return {k: v for k, v in cfg.items() if not k.startswith("_")}


def main():
    out = pathlib.Path(sys.argv[1])
    torch.manual_seed(0)
    UNet2DConditionModel(**config("unet")).save_pretrained(out / "unet", safe_serialization=True)
    AutoencoderKL(**config("vae")).save_pretrained(out / "vae", safe_serialization=True)
    text = CLIPTextModel(CLIPTextConfig(**config("text_encoder")))
    text.save_pretrained(out / "text_encoder", safe_serialization=True)
    DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                  num_train_timesteps=1000, prediction_type="epsilon",
                  clip_sample=False).save_pretrained(out / "scheduler")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
