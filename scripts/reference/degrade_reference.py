#!/usr/bin/env python3
"""Reference values for diffmac-degrade, from OpenCV and a numpy re-implementation of basicsr's
blur kernel (basicsr/data/degradations.py: mesh_grid, sigma_matrix2, pdf2, bivariate_Gaussian).

Writes crates/diffmac-degrade/tests/fixtures/opencv_reference.json. Pinned versions:

    python3 -m venv .venv && .venv/bin/pip install numpy==2.2.6 opencv-python-headless==4.11.0.86
    .venv/bin/python scripts/reference/degrade_reference.py
"""

import json
import pathlib

import cv2
import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/diffmac-degrade/tests/fixtures/opencv_reference.json"


def bivariate_gaussian(size, sig_x, sig_y, theta):
    """basicsr's normalised bivariate Gaussian on the grid -(size//2)..size//2."""
    ax = np.arange(-size // 2 + 1.0, size // 2 + 1.0)
    xx, yy = np.meshgrid(ax, ax)
    grid = np.stack([xx, yy], axis=-1)
    d = np.diag([sig_x**2, sig_y**2])
    u = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    inv = np.linalg.inv(u @ d @ u.T)
    k = np.exp(-0.5 * np.sum((grid @ inv) * grid, axis=-1))
    return k / k.sum()


def flat(a, digits=9):
    """Row-major values, rounded to `digits` significant digits (9 keep every float32 bit)."""
    return [float(f"{v:.{digits}g}") for v in np.asarray(a, dtype=np.float64).ravel()]


def main():
    rng = np.random.RandomState(0)
    # A smooth ramp plus texture, RGB, HWC, float32 in [0, 1]; odd sizes catch off-by-one errors.
    h, w = 29, 37
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx / w, yy / h, (xx + yy) / (w + h)], axis=-1)
    image = np.clip(0.7 * base + 0.3 * rng.rand(h, w, 3), 0, 1).astype(np.float32)

    cases = []
    for name, (size, sx, sy, theta) in {
        "iso_21_sigma2.5": (21, 2.5, 2.5, 0.0),
        "aniso_41_3.1_1.3_0.7": (41, 3.1, 1.3, 0.7),
        "aniso_41_9.0_2.0_-2.2": (41, 9.0, 2.0, -2.2),
    }.items():
        kernel = bivariate_gaussian(size, sx, sy, theta)
        # cv2.filter2D correlates with BORDER_REFLECT_101, as basicsr calls it.
        blurred = cv2.filter2D(image, -1, kernel.astype(np.float32))
        cases.append({"name": name, "kernel_size": size, "sigma_x": sx, "sigma_y": sy,
                      "rotation": theta, "kernel": flat(kernel, 12), "blurred": flat(blurred)})

    resizes = []
    for interp_name, interp in [("bilinear", cv2.INTER_LINEAR), ("bicubic", cv2.INTER_CUBIC)]:
        for scale in [2.7, 0.8, 2.0]:
            sw, sh = int(w // scale), int(h // scale)
            small = cv2.resize(image, (sw, sh), interpolation=interp)
            back = cv2.resize(small, (w, h), interpolation=interp)
            resizes.append({"interpolation": interp_name, "scale": scale, "small_width": sw,
                            "small_height": sh, "small": flat(small), "back": flat(back)})

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "generator": "scripts/reference/degrade_reference.py",
        "versions": {"numpy": np.__version__, "opencv": cv2.__version__},
        "width": w, "height": h, "image": flat(image),
        "blur": cases, "resize": resizes,
    }))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
