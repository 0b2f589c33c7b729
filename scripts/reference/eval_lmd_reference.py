#!/usr/bin/env python3
"""Reference 5-point landmark distance (LMD) for diffmac-eval's binary test
(bins/tests/eval_cli.rs), from facenet-pytorch's own MTCNN (the model diffmac-face ports):
`MTCNN(keep_all=True).detect(img, landmarks=True)` with its default thresholds
[0.6, 0.7, 0.7], factor 0.709, minimum face 20; the most confident face of each image; LMD =
mean Euclidean distance of the 5 corresponding points in pixels.

Pairs: crates/diffmac-eval/tests/data/astronaut_lq.png (restored) vs examples/faces/astronaut.png.

Pinned: torch==2.15.0 torchvision==0.29.2 facenet-pytorch==2.6.0 numpy pillow
(the environment of scripts/reference/mtcnn_reference.py).
Usage: /tmp/mtcnn-venv/bin/python scripts/reference/eval_lmd_reference.py
"""
import json
import os

import numpy as np
import torch
from facenet_pytorch import MTCNN
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates", "diffmac-eval", "tests", "data", "lmd_reference.json")


def landmarks(mtcnn, rel):
    img = Image.open(os.path.join(ROOT, rel)).convert("RGB")
    boxes, probs, points = mtcnn.detect(img, landmarks=True)
    best = int(np.argmax(probs))
    return points[best].astype(np.float64)


def main():
    torch.set_num_threads(2)
    mtcnn = MTCNN(keep_all=True, device="cpu")
    restored = "crates/diffmac-eval/tests/data/astronaut_lq.png"
    gt = "examples/faces/astronaut.png"
    a, b = landmarks(mtcnn, restored), landmarks(mtcnn, gt)
    lmd = float(np.mean(np.linalg.norm(a - b, axis=1)))
    out = {
        "generator": "scripts/reference/eval_lmd_reference.py",
        "versions": {"facenet-pytorch": "2.6.0", "torch": torch.__version__, "numpy": np.__version__},
        "restored": restored, "gt": gt,
        "restored_landmarks": a.tolist(), "gt_landmarks": b.tolist(),
        "lmd": lmd,
    }
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(lmd)


if __name__ == "__main__":
    main()
