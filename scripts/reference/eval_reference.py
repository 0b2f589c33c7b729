#!/usr/bin/env python3
"""Reference values for diffmac-eval's PSNR, SSIM and NIQE tests, computed by basicsr's own
functions (basicsr 1.4.2, `basicsr/metrics/psnr_ssim.py`, `niqe.py`, `metric_util.py`,
`utils/color_util.py`, `utils/matlab_functions.py`) and scikit-image's.

basicsr's package `__init__` imports its whole training framework (and its sdist compiles
extensions), so this script imports the metric modules straight from the unpacked sdist
through stub parent packages; the metric code that runs is basicsr's, unmodified.

Pinned environment:
    python -m venv /tmp/evalref
    /tmp/evalref/bin/pip install numpy==2.2.6 opencv-python-headless==4.11.0.86 scipy==1.16.3 \
        torch==2.15.0 scikit-image==0.26.0
    # basicsr 1.4.2 sdist (sha256 b89b595a...1e87), see scripts/convert_eval_weights.py
    tar xzf basicsr-1.4.2.tar.gz -C /tmp/evaldl

Images (read with cv2.imread as basicsr's scripts do, BGR uint8):
    examples/faces/*.png|jpg                      ground truth / real photos
    crates/diffmac-eval/tests/data/*_lq.png       made with
        cargo run --release --bin diffmac-degrade -- --input examples/faces --output /tmp/deg --seed 7
        cp /tmp/deg/astronaut.png crates/diffmac-eval/tests/data/astronaut_lq.png
        cp /tmp/deg/biden.png     crates/diffmac-eval/tests/data/biden_lq.png

Usage:
    /tmp/evalref/bin/python scripts/reference/eval_reference.py --basicsr /tmp/evaldl/basicsr-1.4.2
writes crates/diffmac-eval/tests/data/eval_reference.json.
"""
import argparse
import importlib
import importlib.util
import json
import os
import sys
import types

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "crates", "diffmac-eval", "tests", "data")
FACES = os.path.join(ROOT, "examples", "faces")


def load_basicsr_metrics(basicsr_root):
    """Import basicsr.metrics.{psnr_ssim,niqe} without running basicsr/__init__.py."""
    pkg_dir = os.path.join(basicsr_root, "basicsr")
    import scipy.ndimage

    # niqe.py imports scipy.ndimage.filters, a deprecated alias of scipy.ndimage.
    if "scipy.ndimage.filters" not in sys.modules:
        try:
            importlib.import_module("scipy.ndimage.filters")
        except ImportError:
            sys.modules["scipy.ndimage.filters"] = scipy.ndimage
    for name, path in (("basicsr", pkg_dir), ("basicsr.utils", os.path.join(pkg_dir, "utils")),
                       ("basicsr.metrics", os.path.join(pkg_dir, "metrics"))):
        mod = types.ModuleType(name)
        mod.__path__ = [path]
        sys.modules[name] = mod

    def load(name, file):
        spec = importlib.util.spec_from_file_location(name, file)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        return mod

    load("basicsr.utils.registry", os.path.join(pkg_dir, "utils", "registry.py"))
    color_util = load("basicsr.utils.color_util", os.path.join(pkg_dir, "utils", "color_util.py"))
    sys.modules["basicsr.utils"].bgr2ycbcr = color_util.bgr2ycbcr
    load("basicsr.utils.matlab_functions", os.path.join(pkg_dir, "utils", "matlab_functions.py"))
    load("basicsr.metrics.metric_util", os.path.join(pkg_dir, "metrics", "metric_util.py"))
    psnr_ssim = load("basicsr.metrics.psnr_ssim", os.path.join(pkg_dir, "metrics", "psnr_ssim.py"))
    niqe = load("basicsr.metrics.niqe", os.path.join(pkg_dir, "metrics", "niqe.py"))
    return psnr_ssim, niqe


def imresize_f64(matlab_functions):
    """basicsr's `imresize` with its two matrix-vector passes accumulated in float64 (rounded
    to float32 after each pass) instead of torch's float32 `mv`, whose rounding depends on the
    BLAS kernel (MKL picks one per CPU). Same weights, indices and padding (taken from
    basicsr's own `calculate_weights_indices`)."""
    import numpy as np

    def imresize(img, scale, antialiasing=True):
        h, w = img.shape
        oh, ow = int(np.ceil(h * scale)), int(np.ceil(w * scale))
        wh, ih, sh, eh = matlab_functions.calculate_weights_indices(h, oh, scale, "cubic", 4, antialiasing)
        ww, iw, sw, ew = matlab_functions.calculate_weights_indices(w, ow, scale, "cubic", 4, antialiasing)
        x = img.astype(np.float32).astype(np.float64)
        aug = np.concatenate([x[:sh][::-1], x, x[-eh:][::-1]], 0)
        wh, ih = wh.numpy().astype(np.float64), ih.numpy().astype(int)
        o1 = np.stack([wh[i] @ aug[ih[i, 0]:ih[i, 0] + wh.shape[1]] for i in range(oh)])
        o1 = o1.astype(np.float32).astype(np.float64)
        aug = np.concatenate([o1[:, :sw][:, ::-1], o1, o1[:, -ew:][:, ::-1]], 1)
        ww, iw = ww.numpy().astype(np.float64), iw.numpy().astype(int)
        o2 = np.stack([aug[:, iw[i, 0]:iw[i, 0] + ww.shape[1]] @ ww[i] for i in range(ow)], 1)
        return o2.astype(np.float32)

    return imresize


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--basicsr", required=True, help="unpacked basicsr-1.4.2 sdist")
    args = ap.parse_args()

    import cv2
    import numpy as np
    import scipy
    import skimage
    import torch
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    psnr_ssim, niqe = load_basicsr_metrics(args.basicsr)

    def read(rel):
        img = cv2.imread(os.path.join(ROOT, rel), cv2.IMREAD_COLOR)
        assert img is not None, rel
        return img

    pairs = [
        ("crates/diffmac-eval/tests/data/astronaut_lq.png", "examples/faces/astronaut.png"),
        ("crates/diffmac-eval/tests/data/biden_lq.png", "crates/diffmac-eval/tests/data/astronaut_lq.png"),
    ]
    full_reference = []
    for restored, gt in pairs:
        a, b = read(restored), read(gt)
        entry = {"restored": restored, "reference": gt, "values": []}
        for crop in (0, 4):
            for y in (False, True):
                entry["values"].append({
                    "crop_border": crop,
                    "test_y_channel": y,
                    "psnr": float(psnr_ssim.calculate_psnr(a, b, crop, test_y_channel=y)),
                    "ssim": float(psnr_ssim.calculate_ssim(a, b, crop, test_y_channel=y)),
                })
        # scikit-image defaults (7x7 uniform window, sample covariance), RGB, no crop.
        entry["skimage_psnr"] = float(peak_signal_noise_ratio(b[..., ::-1].astype(np.float64),
                                                              a[..., ::-1].astype(np.float64), data_range=255))
        entry["skimage_ssim"] = float(structural_similarity(a[..., ::-1].astype(np.float64),
                                                            b[..., ::-1].astype(np.float64),
                                                            data_range=255, channel_axis=2))
        full_reference.append(entry)

    # basicsr's NIQE forms the half-scale local deviation in float32 (sqrt of E[x^2] - E[x]^2,
    # values near 255^2), so on images with flat areas its result moves with the last bit of
    # imresize's float32 BLAS products. We record basicsr's value as it runs here (torch
    # 2.15 CPU, MKL) and the value of the same code with imresize accumulated in float64
    # ("niqe_f64_resize"); their gap is the reference's own uncertainty.
    matlab_functions = sys.modules["basicsr.utils.matlab_functions"]
    blas_imresize = niqe.imresize
    no_reference = []
    for rel in ("examples/faces/astronaut.png", "crates/diffmac-eval/tests/data/astronaut_lq.png",
                "crates/diffmac-eval/tests/data/biden_lq.png"):
        # PNG only: OpenCV's libjpeg-turbo and image-rs decode JPEG to slightly different pixels
        # (NIQE of examples/faces/biden.jpg moved by 3e-3), which is not what the test checks.
        img = read(rel)
        entry = {"image": rel}
        for resize, suffix in ((blas_imresize, ""), (imresize_f64(matlab_functions), "_f64_resize")):
            niqe.imresize = resize
            entry["niqe" + suffix] = float(niqe.calculate_niqe(img, 0, input_order="HWC", convert_to="y"))
            entry["niqe_crop4" + suffix] = float(niqe.calculate_niqe(img, 4, input_order="HWC", convert_to="y"))
        niqe.imresize = blas_imresize
        no_reference.append(entry)

    out = {
        "generator": "scripts/reference/eval_reference.py",
        "versions": {
            "basicsr": "1.4.2 (metric modules imported from the sdist)",
            "numpy": np.__version__, "opencv": cv2.__version__, "scipy": scipy.__version__,
            "scikit-image": skimage.__version__, "torch": torch.__version__,
        },
        "full_reference": full_reference,
        "niqe": no_reference,
    }
    dst = os.path.join(DATA, "eval_reference.json")
    with open(dst, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
