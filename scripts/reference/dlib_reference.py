#!/usr/bin/env python3
"""Reference values for the tests of `diffmac_id::DlibResNet`: descriptors from dlib itself,
and a tiny random-weight network computed by a NumPy port that is checked against dlib.

Subcommand `faces` (needs dlib):

For each photo, dlib finds the face (HOG frontal detector), places its 5 landmarks
(`shape_predictor_5_face_landmarks.dat` from the same `face_recognition_models` 0.3.0 sdist)
and cuts the 150x150 chip exactly as `compute_face_descriptor` does
(`get_face_chip(img, shape, size=150, padding=0.25)`); then
`face_recognition_model_v1(...).compute_face_descriptor(chip)` gives the descriptor of that
chip. One more chip of uniform random pixels (seed 0) checks the network away from faces.

With `--converted dlib_resnet_v1.safetensors` it also runs `numpy_forward` below on the
converted weights and prints its largest difference from dlib (2.9e-7 when written), which
validates the NumPy port used by `tiny`.

Writes a safetensors fixture (`crates/diffmac-id/tests/fixtures/dlib_reference.safetensors`):

    chips        U8  [N, 150, 150, 3]   RGB chips, row-major
    descriptors  F32 [N, 128]           dlib's descriptors of those chips

with the chip names (photo file names, `random`) in the metadata (`names`, JSON list).

Subcommand `tiny` (NumPy only): a network of the same kind as dlib's but tiny (44x44 input,
stem 4 channels, blocks 4 / 6 (stride 2) / 8 (stride 2), 5-D output; the strided blocks
exercise dlib's zero-padding `add_prev` in channels *and* space), random weights (seed 0), in
the converted file layout (`scripts/reference/dlib_convert.py`) plus `test.input` (2 chips in
[-1, 1], `[2, 3, 44, 44]`) and `test.output` (`[2, 5]`), computed by `numpy_forward`:
`crates/diffmac-id/tests/fixtures/dlib_tiny.safetensors`.

Versions: dlib-bin 20.0.1.post1 (prebuilt dlib 20.0.1), numpy 2.4.6, pillow 13.0.0,
safetensors 0.8.0, in a venv:

    python3 -m venv /tmp/dlibenv
    /tmp/dlibenv/bin/pip install dlib-bin==20.0.1.post1 numpy==2.4.6 pillow==13.0.0 \\
        safetensors==0.8.0
    /tmp/dlibenv/bin/python scripts/reference/dlib_reference.py faces MODELS_DIR \\
        crates/diffmac-id/tests/fixtures/dlib_reference.safetensors \\
        examples/faces/obama.jpg examples/faces/biden.jpg examples/faces/astronaut.png \\
        --converted weights/identity/dlib_resnet_v1.safetensors
    /tmp/dlibenv/bin/python scripts/reference/dlib_reference.py tiny \\
        crates/diffmac-id/tests/fixtures/dlib_tiny.safetensors

MODELS_DIR is the sdist's `face_recognition_models/models` folder
(`scripts/fetch_identity_weights.sh` leaves it in `weights/identity/dlib_models`).
"""

import argparse
import json
import os
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

CHIP = 150
PADDING = 0.25


# ---------------------------------------------------------------------------------------------
# A NumPy port of the converted network (dlib's semantics: cross-correlation, floor-sized
# pooling without padding, add_prev summing over the larger shape with zeros elsewhere).


def _conv(x, w, b, stride, pad):
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, h, wd = x.shape
    k = w.shape[2]
    oh, ow = (h - k) // stride + 1, (wd - k) // stride + 1
    cols = np.empty((n, c, k, k, oh, ow), np.float64)
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = x[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
    return np.einsum("ncijhw,ocij->nohw", cols, w) + b[None, :, None, None]


def _pool(x, k, s, op):
    oh, ow = (x.shape[2] - k) // s + 1, (x.shape[3] - k) // s + 1
    win = [x[:, :, i:i + s * oh:s, j:j + s * ow:s] for i in range(k) for j in range(k)]
    return op(np.stack(win), axis=0)


def _add_prev(a, b):
    out = np.zeros([max(p, q) for p, q in zip(a.shape, b.shape)])
    out[tuple(slice(0, d) for d in a.shape)] += a
    out[tuple(slice(0, d) for d in b.shape)] += b
    return out


def numpy_forward(w, arch, pixels):
    """`pixels`: uint8-valued [N, 3, S, S] RGB → [N, D] descriptors (float64 inside)."""
    aff = lambda x, n: x * w[n + ".gamma"][None, :, None, None] + w[n + ".beta"][None, :, None, None]
    x = (pixels.astype(np.float64) - w["input.mean"][None, :, None, None]) / arch["input_divisor"]
    stem, mp = arch["stem"], arch["max_pool"]
    x = np.maximum(aff(_conv(x, w["conv1.weight"], w["conv1.bias"], stem["stride"],
                             stem["padding"]), "affine1"), 0)
    x = _pool(x, mp["size"], mp["stride"], np.max)
    for i, blk in enumerate(arch["blocks"]):
        p = f"blocks.{i}."
        y = np.maximum(aff(_conv(x, w[p + "conv1.weight"], w[p + "conv1.bias"], blk["stride"],
                                 blk["padding1"]), p + "affine1"), 0)
        y = aff(_conv(y, w[p + "conv2.weight"], w[p + "conv2.bias"], 1, blk["padding2"]),
                p + "affine2")
        shortcut = _pool(x, 2, 2, np.mean) if blk["stride"] == 2 else x
        x = np.maximum(_add_prev(y, shortcut), 0)
    return x.mean(axis=(2, 3)) @ w["fc.weight"]


# ---------------------------------------------------------------------------------------------


def faces(args):
    import dlib  # only this subcommand needs dlib
    from PIL import Image

    models, out, photos = args.models, args.out, args.photos
    detector = dlib.get_frontal_face_detector()
    shapes = dlib.shape_predictor(os.path.join(models, "shape_predictor_5_face_landmarks.dat"))
    net = dlib.face_recognition_model_v1(
        os.path.join(models, "dlib_face_recognition_resnet_model_v1.dat"))
    names, chips = [], []
    for path in photos:
        img = np.array(Image.open(path).convert("RGB"))
        faces = detector(img, 1)
        if not faces:
            sys.exit(f"{path}: dlib finds no face")
        face = max(faces, key=lambda r: r.area())
        chip = dlib.get_face_chip(img, shapes(img, face), size=CHIP, padding=PADDING)
        names.append(os.path.basename(path))
        chips.append(np.ascontiguousarray(chip, dtype=np.uint8))
    rng = np.random.default_rng(0)
    names.append("random")
    chips.append(rng.integers(0, 256, size=(CHIP, CHIP, 3), dtype=np.uint8))
    descriptors = np.stack(
        [np.array(net.compute_face_descriptor(c), dtype=np.float32) for c in chips])
    for name, d in zip(names, descriptors):
        print(f"{name}: |descriptor| = {np.linalg.norm(d):.4f}")
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            dist = np.linalg.norm(descriptors[i] - descriptors[j])
            print(f"{names[i]} vs {names[j]}: distance {dist:.4f}")
    save_file({"chips": np.stack(chips), "descriptors": descriptors}, out,
              metadata={"names": json.dumps(names), "dlib": dlib.__version__,
                        "chip": f"get_face_chip(size={CHIP}, padding={PADDING})"})
    if args.converted:
        with safe_open(args.converted, "np") as f:
            arch = json.loads(f.metadata()["dlib_architecture"])
        ours = numpy_forward(load_file(args.converted), arch,
                             np.stack(chips).transpose(0, 3, 1, 2))
        print(f"NumPy port vs dlib: max abs difference {np.abs(ours - descriptors).max():.2e}")
    print(f"{out}: {len(names)} chips")


def tiny(args):
    rng = np.random.default_rng(0)
    size, stem_c, widths, strides, dim = 44, 4, [4, 6, 8], [1, 2, 2], 5
    w = {"input.mean": np.array([122.782, 117.001, 104.298])}

    def conv(name, c_in, c_out, k):
        w[name + ".weight"] = rng.normal(0, (2.0 / (c_in * k * k)) ** 0.5, (c_out, c_in, k, k))
        w[name + ".bias"] = rng.normal(0, 0.1, c_out)

    def affine(name, c):
        w[name + ".gamma"] = rng.uniform(0.5, 1.5, c)
        w[name + ".beta"] = rng.normal(0, 0.2, c)

    conv("conv1", 3, stem_c, 7)
    affine("affine1", stem_c)
    blocks, c_in = [], stem_c
    for i, (c, s) in enumerate(zip(widths, strides)):
        conv(f"blocks.{i}.conv1", c_in, c, 3)
        affine(f"blocks.{i}.affine1", c)
        conv(f"blocks.{i}.conv2", c, c, 3)
        affine(f"blocks.{i}.affine2", c)
        blocks.append({"channels": c, "stride": s, "padding1": 1 if s == 1 else 0,
                       "padding2": 1, "shortcut": "identity" if s == 1 else
                       "avg_pool_2x2_stride2"})
        c_in = c
    w["fc.weight"] = rng.normal(0, 0.5, (c_in, dim))
    arch = {"format": "diffmac-dlib-resnet-1", "input_size": size,
            "input_mean_rgb": [122.782, 117.001, 104.298], "input_divisor": 256.0,
            "stem": {"channels": stem_c, "kernel": 7, "stride": 2, "padding": 0},
            "max_pool": {"size": 3, "stride": 2, "padding": 0}, "blocks": blocks,
            "embedding_dim": dim, "margin": 0.04, "distance_threshold": 0.6}
    w = {k: v.astype(np.float32) for k, v in w.items()}
    pixels = rng.integers(0, 256, (2, 3, size, size)).astype(np.float32)
    out = numpy_forward({k: v.astype(np.float64) for k, v in w.items()}, arch, pixels)
    w["test.input"] = (pixels / 127.5 - 1.0).astype(np.float32)
    w["test.output"] = out.astype(np.float32)
    save_file(w, args.out, metadata={"kind": "dlib_resnet_v1",
                                     "dlib_architecture": json.dumps(arch)})
    print(f"{args.out}: tiny network, output max |value| {np.abs(out).max():.3f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("faces", help="dlib's descriptors of dlib's chips of photos")
    f.add_argument("models", help="face_recognition_models' models folder")
    f.add_argument("out")
    f.add_argument("photos", nargs="+")
    f.add_argument("--converted", help="converted weights, to check the NumPy port")
    t = sub.add_parser("tiny", help="tiny random-weight network and its NumPy output")
    t.add_argument("out")
    args = p.parse_args()
    faces(args) if args.command == "faces" else tiny(args)


if __name__ == "__main__":
    main()
