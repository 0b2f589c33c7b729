#!/usr/bin/env python3
"""Converts an insightface `arcface_torch` IResNet state dict (`.pth`) to safetensors, once.

insightface publishes its ArcFace models (e.g. `ms1mv3_arcface_r50_fp16/backbone.pth`,
`glint360k_cosface_r100_fp16_0.1/backbone.pth`) as plain PyTorch state dicts of
`backbones/iresnet.py`. This script reads one with `torch.load(weights_only=True)`, which refuses
arbitrary pickled objects, drops the BatchNorm counters (`*.num_batches_tracked`), casts every
tensor to f32 (the fp16 checkpoints hold f16 tensors), keeps the original key names
(`conv1.weight`, `layer2.0.downsample.1.running_var`, `fc.weight`, `features.bias`, ...) and
writes a safetensors file that `diffmac_id::IResNet::load` reads, so the Rust side never touches a
pickle.

Versions: torch 2.15.0, safetensors 0.8.0 (`pip install torch==2.15.0 safetensors==0.8.0`).

    python scripts/reference/iresnet_convert.py backbone.pth arcface_r50.safetensors
"""

import hashlib
import sys

import torch
from safetensors.torch import save_file


def to_safetensors_dict(state: dict) -> dict:
    """The f32 tensors of an IResNet state dict, without BatchNorm counters."""
    out = {}
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        out[key] = value.detach().to(torch.float32).contiguous()
    return out


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: iresnet_convert.py BACKBONE.pth OUT.safetensors")
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    state = torch.load(src, map_location="cpu", weights_only=True)
    if "state_dict" in state:
        state = state["state_dict"]
    tensors = to_safetensors_dict(state)
    save_file(tensors, dst, metadata={"source": src.rsplit("/", 1)[-1], "sha256": digest})
    print(f"{dst}: {len(tensors)} tensors from {src} (sha256 {digest})")


if __name__ == "__main__":
    main()
