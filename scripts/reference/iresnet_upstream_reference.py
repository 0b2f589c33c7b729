#!/usr/bin/env python3
"""IResNet reference from insightface's own `backbones/iresnet.py`, as shipped in a PyPI wheel.

The committed fixture crates/diffmac-id/tests/fixtures/iresnet_tiny.safetensors is this
script's output (OUT_DIR/iresnet_tiny.safetensors, copied there): diffmac-id's parity test
compares with insightface's own code, not with a module this project wrote
(`iresnet_reference.py`, kept for the full-size comparison of step 5). The code comes from a
package registry (GitHub is out of reach): the wheel `sadtalker-z==0.1.6` (PyPI) vendors insightface's
`recognition/arcface_torch` as `sadtalker/face3d/models/arcface_torch/`, and its
`backbones/iresnet.py` is, once its CRLF line ends are made LF, byte for byte
deepinsight/insightface's `recognition/arcface_torch/backbones/iresnet.py` at commit
873e94c50fca8955bf89640a527f4e26d5b673ae (2021-03-19). The latest upstream revision of the file
(d9cb10e6, 2022-04-22) only adds gradient checkpointing in training mode and an
`extra_gflops` attribute: in eval mode both compute the same thing.

The file is loaded on its own with importlib (it imports only torch), so none of the wheel's
other code or dependencies is needed:

    python3 -m venv .venv-ref
    .venv-ref/bin/pip install torch==2.15.0 safetensors==0.8.0 numpy==2.2.6
    .venv-ref/bin/pip download --no-deps sadtalker-z==0.1.6 -d .wheels
    .venv-ref/bin/python scripts/reference/iresnet_upstream_reference.py \
        .wheels/sadtalker_z-0.1.6-py3-none-any.whl iresnet_upstream_out

What it does:

1. Checks the wheel member's sha256 (as its RECORD states) and the LF-normalised text's sha256
   (that of the upstream blob at 873e94c), then imports it.
2. Builds the tiny configuration of `iresnet_reference.py` (layers [2, 1, 2, 1], widths
   [8, 12, 16, 20], stem 8, 16 features, 32x32 input) from upstream's classes: upstream's
   `IResNet.__init__` fixes the widths at 64/128/256/512 and `fc_scale` at 7*7 (112x112 input),
   so the instance is made with `IResNet.__new__` and given the same submodules its `__init__`
   creates (conv1, bn1, prelu, layer1..4 by upstream's own `_make_layer` with upstream's
   `IBasicBlock`, bn2, dropout(0), fc, features), with the small widths. The forward pass is
   upstream's `IResNet.forward` and `IBasicBlock.forward`, unchanged.
3. Loads the committed weights (crates/diffmac-id/tests/fixtures/iresnet_tiny.safetensors) into
   it with strict key matching and runs the committed `test.input`: reports the max abs
   difference from the committed `test.output`.
4. Regenerates the fixture the way `iresnet_reference.py` does (same seed, same `randomise`,
   same input draw) but on the upstream-built model, writes it to OUT_DIR/iresnet_tiny.safetensors
   (copy it into the fixtures by hand to replace them), and reports the max abs difference of every tensor
   from the committed file.
5. Full-size check: upstream `iresnet50()` (112x112, 512-D) against `iresnet_reference.py`'s own
   module built at that size, with the same random weights: max abs difference of the outputs.
"""

import hashlib
import importlib.util
import json
import os
import pathlib
import sys
import tempfile
import warnings
import zipfile

import torch
from safetensors.torch import load_file, save_file
from torch import nn

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import iresnet_reference as project  # noqa: E402  (CONFIG, randomise, TinyIResNet)
from iresnet_convert import to_safetensors_dict  # noqa: E402

MEMBER = "sadtalker/face3d/models/arcface_torch/backbones/iresnet.py"
MEMBER_SHA256 = "990006bfcd6583bdc9775045dfe02cbb10904018c0c34825f05d9cdd834fd388"  # CRLF, as in the wheel
UPSTREAM_COMMIT = "873e94c50fca8955bf89640a527f4e26d5b673ae"
UPSTREAM_SHA256 = "1e257dc81310340e6c68489191f2753dfa4cc0702dddcb661158ce16662b1197"  # git show COMMIT:path
FIXTURE = HERE.parents[1] / "crates/diffmac-id/tests/fixtures/iresnet_tiny.safetensors"


def load_upstream(wheel: str):
    """insightface's iresnet.py out of the wheel (or an unpacked copy), as a module."""
    if zipfile.is_zipfile(wheel):
        with zipfile.ZipFile(wheel) as z:
            raw = z.read(MEMBER)
    else:
        raw = (pathlib.Path(wheel) / MEMBER).read_bytes()
    assert hashlib.sha256(raw).hexdigest() == MEMBER_SHA256, "not the iresnet.py of sadtalker-z 0.1.6"
    text = raw.replace(b"\r\n", b"\n")
    assert hashlib.sha256(text).hexdigest() == UPSTREAM_SHA256, f"differs from insightface@{UPSTREAM_COMMIT}"
    path = pathlib.Path(tempfile.mkdtemp()) / "insightface_iresnet.py"
    path.write_bytes(text)
    spec = importlib.util.spec_from_file_location("insightface_iresnet", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upstream_tiny(up, layers, widths, stem, num_features, input_size):
    """upstream's IResNet with small widths: the submodules its __init__ makes, in its order."""
    m = up.IResNet.__new__(up.IResNet)
    nn.Module.__init__(m)
    m.fp16 = False
    m.inplanes = stem
    m.dilation = 1
    m.groups = 1
    m.base_width = 64
    m.conv1 = nn.Conv2d(3, stem, kernel_size=3, stride=1, padding=1, bias=False)
    m.bn1 = nn.BatchNorm2d(stem, eps=1e-05)
    m.prelu = nn.PReLU(stem)
    for i, (n, w) in enumerate(zip(layers, widths)):
        setattr(m, f"layer{i + 1}", m._make_layer(up.IBasicBlock, w, n, stride=2))
    m.bn2 = nn.BatchNorm2d(widths[-1] * up.IBasicBlock.expansion, eps=1e-05)
    m.dropout = nn.Dropout(p=0, inplace=True)
    side = input_size // 16
    m.fc = nn.Linear(widths[-1] * up.IBasicBlock.expansion * side * side, num_features)
    m.features = nn.BatchNorm1d(num_features, eps=1e-05)
    return m


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    wheel = sys.argv[1]
    out_dir = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "iresnet_upstream_out")
    if out_dir.resolve() == FIXTURE.parent.resolve():
        sys.exit("refusing to write into the committed fixtures folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    warnings.filterwarnings("ignore", category=FutureWarning)  # torch.cuda.amp.autocast(False) on CPU
    up = load_upstream(wheel)
    config = project.CONFIG
    report = {"wheel": os.path.basename(wheel), "member": MEMBER, "upstream_commit": UPSTREAM_COMMIT,
              "torch": torch.__version__}

    # 3. committed weights and input through upstream's forward.
    committed = load_file(str(FIXTURE))
    model = upstream_tiny(up, **config).eval()
    weights = {k: v for k, v in committed.items() if not k.startswith("test.")}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    assert not unexpected, unexpected
    assert all(k.endswith("num_batches_tracked") for k in missing), missing
    with torch.no_grad():
        y = model(committed["test.input"])
    report["committed_weights_output_max_abs_diff"] = max_abs(y, committed["test.output"])
    report["committed_output_max_abs"] = float(committed["test.output"].abs().max())

    # 4. the fixture regenerated on the upstream-built model.
    torch.manual_seed(20261126)
    model = upstream_tiny(up, **config)
    project.randomise(model)
    model.eval()
    x = torch.rand(2, 3, config["input_size"], config["input_size"]) * 2 - 1
    with torch.no_grad():
        y = model(x)
    tensors = to_safetensors_dict(model.state_dict())
    tensors["test.input"] = x.contiguous()
    tensors["test.output"] = y.contiguous()
    dst = out_dir / "iresnet_tiny.safetensors"
    save_file(tensors, str(dst), metadata={"config": json.dumps(config),
                                           "generator": "scripts/reference/iresnet_upstream_reference.py",
                                           "upstream": f"deepinsight/insightface@{UPSTREAM_COMMIT}"})
    assert set(tensors) == set(committed), set(tensors) ^ set(committed)
    diffs = {k: max_abs(tensors[k], committed[k]) for k in sorted(tensors)}
    report["regenerated_written_to"] = str(dst)
    report["regenerated_max_abs_diff_weights"] = max(v for k, v in diffs.items() if not k.startswith("test."))
    report["regenerated_max_abs_diff_test_input"] = diffs["test.input"]
    report["regenerated_max_abs_diff_test_output"] = diffs["test.output"]

    # 5. full size: upstream iresnet50 vs the project's own module, same weights.
    torch.manual_seed(7)
    full = up.iresnet50(num_features=512).eval()
    project.randomise(full)
    ours = project.TinyIResNet(layers=[3, 4, 14, 3], widths=[64, 128, 256, 512], stem=64,
                               num_features=512, input_size=112).eval()
    ours.load_state_dict(full.state_dict(), strict=True)
    x = torch.rand(2, 3, 112, 112) * 2 - 1
    with torch.no_grad():
        a, b = full(x), ours(x)
    report["iresnet50_project_vs_upstream_max_abs_diff"] = max_abs(a, b)
    report["iresnet50_output_max_abs"] = float(a.abs().max())  # large: randomise() is not scaled for depth 50

    (out_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
