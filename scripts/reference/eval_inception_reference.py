#!/usr/bin/env python3
"""Reference pool3 features of pytorch-fid's FID Inception-v3 for diffmac-eval's Burn port
(crates/diffmac-eval/tests/inception.rs).

pytorch-fid's weights (pt_inception-2015-12-05, 91 MB) are not on a package registry, so both
sides fill the real architecture (pytorch-fid 0.3.0's `fid_inception_v3`: torchvision's
Inception-v3 with FIDInceptionA/C/E_1/E_2) with the same hash-generated values
(`hash_values` below = `diffmac_eval::lpips::hash_values`, seeded per tensor by the FNV-1a
hash of its state-dict prefix). The fixture is only the JSON of features.

Inputs: 64x64 crops (top, left) = (200, 200) and (100, 300) of astronaut.png and of the
degraded astronaut_lq.png, in [0, 1], resized by pytorch-fid's InceptionV3 (bilinear,
align_corners=False, to 299). Also records pytorch-fid's `calculate_frechet_distance` between
the two degraded crops and the two clean ones (the binary's FID test).

Pinned: numpy==2.2.6 torch==2.15.0 torchvision==0.29.2 pytorch-fid==0.3.0 pillow.
Usage: /tmp/evalref/bin/python scripts/reference/eval_inception_reference.py
"""
import json
import os

import numpy as np
import torch
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "diffmac-eval", "tests", "data", "inception_reference.json")
M64 = (1 << 64) - 1


def fnv1a32(text):
    h = 0x811C9DC5
    for b in text.encode():
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def hash_unit(n, seed, kind):
    """Uniform [0, 1) values: the counter hash of diffmac_eval::lpips::hash_values (u64 wrapping)."""
    i = np.arange(n, dtype=np.uint64)
    offset = np.uint64((seed * 0x85EBCA77 + kind * 0xC2B2AE3D + 1) & M64)
    with np.errstate(over="ignore"):
        x = (i * np.uint64(0x9E3779B1) + offset) & np.uint64(0xFFFFFFFF)
        x ^= x >> np.uint64(15)
        x = (x * np.uint64(0x2C1B3C6D)) & np.uint64(0xFFFFFFFF)
        x ^= x >> np.uint64(12)
        x = (x * np.uint64(0x297A2D39)) & np.uint64(0xFFFFFFFF)
        x ^= x >> np.uint64(15)
    return x.astype(np.float64) / 4294967296.0


def hashed_state(model):
    state = model.state_dict()
    out = {}
    for key, value in state.items():
        prefix, field = key.rsplit(".", 1)
        seed = fnv1a32(prefix)
        n = value.numel()
        shape = tuple(value.shape)
        if field == "num_batches_tracked":
            out[key] = value
            continue
        if field == "weight" and value.dim() == 4:
            fan_in = int(np.prod(shape[1:]))
            v = (hash_unit(n, seed, 0) - 0.5) * 2.0 * np.sqrt(6.0 / fan_in)
        elif field == "weight":  # BN gamma (and the unused fc)
            v = 1.0 + (hash_unit(n, seed, 2) - 0.5) * 0.2
        elif field == "bias":
            v = (hash_unit(n, seed, 3) - 0.5) * 0.1
        elif field == "running_mean":
            v = (hash_unit(n, seed, 4) - 0.5) * 0.1
        elif field == "running_var":
            v = 1.0 + hash_unit(n, seed, 5) * 0.5
        else:
            raise KeyError(key)
        out[key] = torch.from_numpy(v.astype(np.float32).reshape(shape))
    return out


CROPS = [("examples/faces/astronaut.png", 200, 200), ("crates/diffmac-eval/tests/data/astronaut_lq.png", 200, 200),
         ("examples/faces/astronaut.png", 100, 300), ("crates/diffmac-eval/tests/data/astronaut_lq.png", 100, 300)]


def load_crop(rel, top, left):
    img = np.asarray(Image.open(os.path.join(ROOT, rel)).convert("RGB"), dtype=np.float32)
    img = img[top:top + 64, left:left + 64] / np.float32(255.0)
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]


def main():
    import pytorch_fid.inception as inc
    import torchvision

    torch.set_num_threads(2)
    holder = {}

    def fake_load(url, progress=True):
        return holder["state"]

    # Build the architecture once to learn its keys, then hand it the hashed state.
    skeleton = inc._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    skeleton.Mixed_5b = inc.FIDInceptionA(192, pool_features=32)
    skeleton.Mixed_5c = inc.FIDInceptionA(256, pool_features=64)
    skeleton.Mixed_5d = inc.FIDInceptionA(288, pool_features=64)
    skeleton.Mixed_6b = inc.FIDInceptionC(768, channels_7x7=128)
    skeleton.Mixed_6c = inc.FIDInceptionC(768, channels_7x7=160)
    skeleton.Mixed_6d = inc.FIDInceptionC(768, channels_7x7=160)
    skeleton.Mixed_6e = inc.FIDInceptionC(768, channels_7x7=192)
    skeleton.Mixed_7b = inc.FIDInceptionE_1(1280)
    skeleton.Mixed_7c = inc.FIDInceptionE_2(2048)
    holder["state"] = hashed_state(skeleton)
    inc.load_state_dict_from_url = fake_load
    model = inc.InceptionV3([3], resize_input=True, normalize_input=True, use_fid_inception=True).eval()

    from pytorch_fid.fid_score import calculate_frechet_distance

    batch = torch.cat([load_crop(*c) for c in CROPS])
    with torch.no_grad():
        feats = model(batch)[0].squeeze(-1).squeeze(-1)
    f = feats.numpy().astype(np.float64)
    clean, degraded = f[[0, 2]], f[[1, 3]]
    fid = calculate_frechet_distance(degraded.mean(0), np.cov(degraded, rowvar=False),
                                     clean.mean(0), np.cov(clean, rowvar=False))
    out = {
        "generator": "scripts/reference/eval_inception_reference.py",
        "versions": {"pytorch-fid": "0.3.0", "torch": torch.__version__,
                     "torchvision": torchvision.__version__, "numpy": np.__version__},
        "crops": [{"image": r, "top": t, "left": l, "side": 64} for r, t, l in CROPS],
        "features": [[round(float(v), 7) for v in row] for row in feats],
        "fid_degraded_vs_clean": float(fid),
    }
    with open(OUT, "w") as f:
        json.dump(out, f)
        f.write("\n")
    print(feats.shape, float(feats.abs().max()), float(feats.mean()), "FID", float(fid))


if __name__ == "__main__":
    main()
