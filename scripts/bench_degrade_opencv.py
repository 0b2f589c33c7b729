#!/usr/bin/env python3
"""The eq. 14 pipeline as basicsr implements it (OpenCV + numpy), timed on one thread, to compare
with `cargo bench --bench degrade` (pipeline_paper_defaults). Same face, same parameter ranges,
same number of draws.

    python3 -m venv .venv && .venv/bin/pip install numpy==2.2.6 opencv-python-headless==4.11.0.86
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python scripts/bench_degrade_opencv.py
"""

import math
import pathlib
import time

import cv2
import numpy as np

cv2.setNumThreads(1)
DRAWS = 32
FACE = pathlib.Path(__file__).resolve().parents[1] / "examples/faces/astronaut.png"


def kernel(size, sx, sy, theta):
    ax = np.arange(-size // 2 + 1.0, size // 2 + 1.0)
    xx, yy = np.meshgrid(ax, ax)
    grid = np.stack([xx, yy], axis=-1)
    u = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    inv = np.linalg.inv(u @ np.diag([sx**2, sy**2]) @ u.T)
    k = np.exp(-0.5 * np.sum((grid @ inv) * grid, axis=-1))
    return k / k.sum()


def draw(rng):
    sx = rng.uniform(1, 15)
    if rng.uniform() < 0.5:
        blur = (sx, sx, 0.0)
    else:
        blur = (sx, rng.uniform(1, 15), rng.uniform(-math.pi, math.pi))
    return blur, rng.uniform(0.8, 8), rng.uniform(0, 20), int(rng.uniform(60, 100))


def degrade(img, params, rng):
    (sx, sy, theta), scale, sigma, quality = params
    h, w = img.shape[:2]
    out = cv2.filter2D(img, -1, kernel(41, sx, sy, theta))
    out = cv2.resize(out, (int(w // scale), int(h // scale)), interpolation=cv2.INTER_LINEAR)
    out = np.clip(out + np.float32(rng.standard_normal(out.shape)) * sigma / 255.0, 0, 1)
    _, enc = cv2.imencode(".jpg", out * 255.0, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    out = np.float32(cv2.imdecode(enc, 1)) / 255.0
    return cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)


def main():
    img = cv2.imread(str(FACE)).astype(np.float32) / 255.0
    rng = np.random.default_rng(0)
    draws = [draw(rng) for _ in range(DRAWS)]
    for p in draws[:4]:
        degrade(img, p, rng)  # warm-up
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for p in draws:
            degrade(img, p, rng)
        times.append(time.perf_counter() - start)
    best, median = min(times), sorted(times)[len(times) // 2]
    print(f"opencv {cv2.__version__} numpy {np.__version__}: {DRAWS} images of 512x512, one thread")
    print(f"median {median * 1000:.1f} ms -> {DRAWS / median:.1f} images/s (best {DRAWS / best:.1f})")
    k = kernel(41, 12.0, 2.0, 0.8)
    start = time.perf_counter()
    for _ in range(10):
        cv2.filter2D(img, -1, k)
    print(f"filter2D anisotropic 41x41: {(time.perf_counter() - start) * 100:.2f} ms")
    k = kernel(41, 15.0, 15.0, 0.0)
    start = time.perf_counter()
    for _ in range(10):
        cv2.filter2D(img, -1, k)
    print(f"filter2D isotropic 41x41: {(time.perf_counter() - start) * 100:.2f} ms")


if __name__ == "__main__":
    main()
