#!/usr/bin/env python3
"""Reference values for diffmac-face's MTCNN port, from facenet-pytorch itself.

Writes to the given folder (default `crates/diffmac-face/tests/fixtures`):

- `mtcnn_nets.safetensors`: for each of P-, R- and O-Net a fixed input (seeded uniform values in
  the network's input range [-1, 1]) and the outputs of facenet-pytorch's module with its shipped
  weights (`pnet.in`, `pnet.reg`, `pnet.prob`, `rnet.in`, ..., `onet.landmarks`, ...).
- `mtcnn_detections.json`: `MTCNN(keep_all=True).detect(photo, landmarks=True)` on the sample
  photos in `examples/faces/` (boxes x1 y1 x2 y2, probabilities, five landmarks each), with the
  default thresholds [0.6, 0.7, 0.7], factor 0.709 and minimum face size 20, together with the
  sum of the decoded 8-bit pixels (PIL), so that a test can tell decoder differences apart from
  detector differences; also on `collage.png`, written here (both portraits, lossless).

Versions used for the committed fixtures: torch 2.15.0, torchvision 0.29.2, facenet-pytorch
2.6.0, numpy 2.4.6, pillow 13.0.0, safetensors 0.8.0 (install as in mtcnn_convert.py).

    python scripts/reference/mtcnn_reference.py crates/diffmac-face/tests/fixtures
"""

import json
import os
import sys

import numpy as np
import torch
from facenet_pytorch import MTCNN
from facenet_pytorch.models.mtcnn import ONet, PNet, RNet
from PIL import Image, ImageOps
from safetensors.torch import save_file

PHOTOS = ("astronaut.png", "obama.jpg", "biden.jpg")
# Lossless multi-face photo for exact parity (a JPEG decoder other than libjpeg may differ from
# PIL's by a level here and there): both portraits shrunk to 360 pixels high, side by side.
COLLAGE = "collage.png"


def main() -> None:
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "crates/diffmac-face/tests/fixtures"
    photo_dir = sys.argv[2] if len(sys.argv) > 2 else "examples/faces"
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(20261126)

    tensors = {}
    with torch.no_grad():
        pnet, rnet, onet = PNet().eval(), RNet().eval(), ONet().eval()
        x = torch.rand(2, 3, 37, 45) * 2 - 1
        reg, prob = pnet(x)
        tensors.update({"pnet.in": x, "pnet.reg": reg, "pnet.prob": prob})
        x = torch.rand(5, 3, 24, 24) * 2 - 1
        reg, prob = rnet(x)
        tensors.update({"rnet.in": x, "rnet.reg": reg, "rnet.prob": prob})
        x = torch.rand(3, 3, 48, 48) * 2 - 1
        reg, landmarks, prob = onet(x)
        tensors.update({"onet.in": x, "onet.reg": reg, "onet.landmarks": landmarks, "onet.prob": prob})
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    save_file(tensors, os.path.join(out_dir, "mtcnn_nets.safetensors"))

    parts = [ImageOps.exif_transpose(Image.open(os.path.join(photo_dir, n))).convert("RGB")
             for n in ("obama.jpg", "biden.jpg")]
    parts = [p.resize((round(p.width * 360 / p.height), 360), Image.BILINEAR) for p in parts]
    collage = Image.new("RGB", (sum(p.width for p in parts), 360))
    collage.paste(parts[0], (0, 0))
    collage.paste(parts[1], (parts[0].width, 0))
    collage.save(os.path.join(out_dir, COLLAGE), optimize=True)

    mtcnn = MTCNN(keep_all=True, device="cpu")
    results = {}
    for name in PHOTOS + (COLLAGE,):
        folder = out_dir if name == COLLAGE else photo_dir
        # exif_transpose: the same orientation handling as the Rust loader (all three are upright).
        image = ImageOps.exif_transpose(Image.open(os.path.join(folder, name))).convert("RGB")
        pixels = np.asarray(image)
        boxes, probs, points = mtcnn.detect(image, landmarks=True)
        faces = []
        if boxes is not None:
            for box, prob, pts in zip(boxes, probs, points):
                faces.append({
                    "box": [float(v) for v in box],
                    "score": float(prob),
                    "landmarks": [[float(v) for v in p] for p in pts],
                })
        results[name] = {
            "width": image.width,
            "height": image.height,
            "pixel_sum": int(pixels.astype(np.int64).sum()),
            "faces": faces,
        }
        print(name, json.dumps(results[name]["faces"]))
    with open(os.path.join(out_dir, "mtcnn_detections.json"), "w") as f:
        json.dump({"thresholds": [0.6, 0.7, 0.7], "factor": 0.709, "min_face_size": 20,
                   "photos": results}, f, indent=1)


if __name__ == "__main__":
    main()
