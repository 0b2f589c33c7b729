#!/usr/bin/env python3
"""Reference LPIPS distances for diffmac-eval's Burn port (crates/diffmac-eval/tests/lpips.rs).

The real ImageNet backbones are not redistributable from a package registry, and AlexNet alone
is 9.9 MB of f32 (VGG16 59 MB), too big for a fixture. So both sides generate the *same*
full-size random backbone from a shared counter-based hash (`hash_weights` below, repeated
bit for bit by `diffmac_eval::lpips::hashed_backbone` in Rust), with the real layer shapes and
torchvision key names, while the linear heads are the real ones shipped in lpips 0.1.4.
The fixture is then only this JSON of distances.

Inputs: two 64x64 crops of real images (examples/faces/astronaut.png and the degraded
crates/diffmac-eval/tests/data/astronaut_lq.png, rows/cols 200..264), as x/255*2-1 in float32.

Pinned environment:
    /tmp/evalref/bin/pip install numpy==2.2.6 torch==2.15.0 torchvision==0.29.2 lpips==0.1.4 pillow
Usage:
    /tmp/evalref/bin/python scripts/reference/eval_lpips_reference.py
writes crates/diffmac-eval/tests/data/lpips_reference.json.
"""
import json
import os

import numpy as np
import torch
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "diffmac-eval", "tests", "data", "lpips_reference.json")
CROP = (200, 200, 64)  # top, left, side


def hash_weights(shape, layer, kind):
    """Uniform values in (-a, a), a = sqrt(6 / fan_in) for weights, 0.05 for biases, from a
    32-bit hash of (layer, kind, flat index). kind: 0 weight, 1 bias."""
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.uint64)
    x = (i * np.uint64(0x9E3779B1) + np.uint64(layer * 0x85EBCA77 + kind * 0xC2B2AE3D + 1)) & np.uint64(0xFFFFFFFF)
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x2C1B3C6D)) & np.uint64(0xFFFFFFFF)
    x ^= x >> np.uint64(12)
    x = (x * np.uint64(0x297A2D39)) & np.uint64(0xFFFFFFFF)
    x ^= x >> np.uint64(15)
    u = x.astype(np.float64) / 4294967296.0
    if kind == 0:
        fan_in = int(np.prod(shape[1:]))
        a = np.sqrt(6.0 / fan_in)
    else:
        a = 0.05
    return ((u - 0.5) * 2.0 * a).astype(np.float32).reshape(shape)


def load_crop(rel):
    img = np.asarray(Image.open(os.path.join(ROOT, rel)).convert("RGB"), dtype=np.float32)
    t, l, s = CROP
    img = img[t:t + s, l:l + s]
    x = img / np.float32(255.0) * np.float32(2.0) - np.float32(1.0)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


def main():
    import lpips
    import torchvision

    torch.set_num_threads(2)
    a = load_crop("examples/faces/astronaut.png")
    b = load_crop("crates/diffmac-eval/tests/data/astronaut_lq.png")
    out = {
        "generator": "scripts/reference/eval_lpips_reference.py",
        "versions": {"lpips": "0.1.4", "torch": torch.__version__, "torchvision": torchvision.__version__,
                     "numpy": np.__version__},
        "crop": {"top": CROP[0], "left": CROP[1], "side": CROP[2]},
        "images": ["examples/faces/astronaut.png", "crates/diffmac-eval/tests/data/astronaut_lq.png"],
        "nets": {},
    }
    for net in ("alex", "vgg"):
        model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False).eval()
        state = model.state_dict()
        layer = 0
        for key in sorted((k for k in state if k.startswith("net.") and k.endswith(".weight")),
                          key=lambda k: int(k.split(".")[2])):
            idx = int(key.split(".")[2])
            prefix = key[: -len(".weight")]
            state[prefix + ".weight"] = torch.from_numpy(hash_weights(tuple(state[key].shape), idx, 0))
            state[prefix + ".bias"] = torch.from_numpy(hash_weights(tuple(state[prefix + ".bias"].shape), idx, 1))
            layer += 1
        model.load_state_dict(state)
        with torch.no_grad():
            d_ab, per_layer = model(a, b, retPerLayer=True)
            d_aa = model(a, a)
            d_batch = model(torch.cat([a, b]), torch.cat([b, b]))
        out["nets"][net] = {
            "distance": float(d_ab.flatten()[0]),
            "per_layer": [float(v.flatten()[0]) for v in per_layer],
            "self_distance": float(d_aa.flatten()[0]),
            "batch": [float(v) for v in d_batch.flatten()],
            "conv_layers": layer,
        }
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
