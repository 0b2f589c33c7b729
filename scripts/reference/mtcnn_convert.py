#!/usr/bin/env python3
"""Converts facenet-pytorch's MTCNN weights (legacy PyTorch pickles) to safetensors, once.

The pickles ship in the PyPI wheel of facenet-pytorch 2.6.0 (MIT licence) as
`facenet_pytorch/data/{pnet,rnet,onet}.pt`. They are read with `torch.load(weights_only=True)`,
which refuses arbitrary objects, and written as `{pnet,rnet,onet}.safetensors` with the original
state-dict keys (`conv1.weight`, `prelu1.weight`, `dense4.bias`, ...), f32, so that the Rust crate
never touches a pickle.

Usage (versions used for the committed files: torch 2.15.0, facenet-pytorch 2.6.0,
safetensors 0.8.0):

    python -m venv venv && . venv/bin/activate
    pip install torch torchvision tqdm safetensors numpy pillow && pip install --no-deps facenet-pytorch==2.6.0
    python scripts/reference/mtcnn_convert.py crates/diffmac-face/weights
"""

import hashlib
import os
import sys

import facenet_pytorch
import torch
from safetensors.torch import save_file

NETS = ("pnet", "rnet", "onet")


def main() -> None:
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "crates/diffmac-face/weights"
    os.makedirs(out_dir, exist_ok=True)
    data_dir = os.path.join(os.path.dirname(facenet_pytorch.__file__), "data")
    for net in NETS:
        src = os.path.join(data_dir, f"{net}.pt")
        with open(src, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        state = torch.load(src, map_location="cpu", weights_only=True)
        tensors = {k: v.detach().to(torch.float32).contiguous() for k, v in state.items()}
        dst = os.path.join(out_dir, f"{net}.safetensors")
        save_file(tensors, dst, metadata={"source": f"facenet-pytorch 2.6.0 data/{net}.pt", "sha256": digest})
        print(f"{dst}: {len(tensors)} tensors from {src} (sha256 {digest})")
        for k, v in tensors.items():
            print(f"  {k}: {tuple(v.shape)}")


if __name__ == "__main__":
    main()
