#!/usr/bin/env python3
"""NIQE from basicsr 1.4.2 as released and installed from PyPI, imported the normal way
(`from basicsr.metrics.niqe import calculate_niqe`, which runs basicsr's package `__init__`),
compared with the values committed in crates/diffmac-eval/tests/data/eval_reference.json
(written by eval_reference.py, which loads the same sdist modules through stub packages).

basicsr 1.4.2 imports `torchvision.transforms.functional_tensor`, which torchvision removed in
0.17; the one name it takes from there (`rgb_to_grayscale`) lives in
`torchvision.transforms.functional`, so that module is registered under the old name before the
import. Nothing in basicsr is changed. No torchvision build exists yet for torch 2.15, so
torchvision 0.29.2 is installed without its deps: only its Python code is used here.

    python3 -m venv .venv-ref
    .venv-ref/bin/pip install numpy==2.2.6 opencv-python-headless==4.11.0.86 scipy==1.16.3 \
        torch==2.15.0 scikit-image==0.26.0 addict future lmdb pyyaml requests tqdm yapf
    .venv-ref/bin/pip install --no-deps torchvision==0.29.2
    .venv-ref/bin/pip install --no-deps --no-build-isolation basicsr==1.4.2
    .venv-ref/bin/python scripts/reference/niqe_basicsr_released.py [OUT.json]
"""
import json
import os
import sys
import warnings

import cv2
import numpy as np
import scipy
import torch
import torchvision
import torchvision.transforms.functional as tvf

sys.modules.setdefault("torchvision.transforms.functional_tensor", tvf)
warnings.filterwarnings("ignore")

import basicsr  # noqa: E402
from basicsr.metrics.niqe import calculate_niqe  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = os.path.join(ROOT, "crates", "diffmac-eval", "tests", "data", "eval_reference.json")


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else "niqe_basicsr_released.json"
    with open(REFERENCE) as f:
        committed = json.load(f)
    rows = []
    worst = {"vs_niqe": 0.0, "vs_niqe_f64_resize": 0.0}
    for entry in committed["niqe"]:
        img = cv2.imread(os.path.join(ROOT, entry["image"]), cv2.IMREAD_COLOR)
        for crop, key in ((0, "niqe"), (4, "niqe_crop4")):
            value = float(calculate_niqe(img, crop, input_order="HWC", convert_to="y"))
            d_run = abs(value - entry[key])
            d_f64 = abs(value - entry[key + "_f64_resize"])
            worst["vs_niqe"] = max(worst["vs_niqe"], d_run)
            worst["vs_niqe_f64_resize"] = max(worst["vs_niqe_f64_resize"], d_f64)
            rows.append({"image": entry["image"], "crop_border": crop, "basicsr_released": value,
                         "committed_" + key: entry[key], "committed_" + key + "_f64_resize": entry[key + "_f64_resize"],
                         "abs_diff_vs_committed": d_run, "abs_diff_vs_committed_f64_resize": d_f64})
            print(f"{entry['image']:52s} crop {crop}: {value:.9f}  |d| {d_run:.2e} (as run)  {d_f64:.2e} (f64 resize)")
    out = {
        "generator": "scripts/reference/niqe_basicsr_released.py",
        "versions": {"basicsr": basicsr.__version__,
                     "numpy": np.__version__, "opencv": cv2.__version__, "scipy": scipy.__version__,
                     "torch": torch.__version__, "torchvision": torchvision.__version__,
                     "torch_mkl": torch.backends.mkl.is_available(), "cpu_threads": torch.get_num_threads()},
        "rows": rows,
        "worst_abs_diff": worst,
    }
    with open(out_path, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps(out["worst_abs_diff"]), "->", out_path)


if __name__ == "__main__":
    main()
