#!/usr/bin/env python3
"""Reference values for diffmac-id's IResNet port: a tiny random-weight IResNet in PyTorch.

The module below is written for this test from the architecture of insightface's
`recognition/arcface_torch/backbones/iresnet.py` (same layer order and state-dict key names:
stem conv1/bn1/prelu, layer1..4 of IBasicBlocks `bn1, conv1, bn2, prelu, conv2 (strided), bn3`
with a `downsample` = conv1x1 + BN on the first block of each stage, then bn2, flatten, fc,
features = BatchNorm1d). Only the widths, depths, input size and embedding size are shrunk, so
the fixture stays small; all BatchNorm statistics and PReLU slopes are random so that every
parameter matters.

Writes `iresnet_tiny.safetensors` to the given folder (default `crates/diffmac-id/tests/fixtures`):
the state dict converted exactly as `iresnet_convert.py` converts real checkpoints, plus
`test.input` `[2, 3, 32, 32]` in [-1, 1] and `test.output` `[2, 16]` (eval mode), and the
config as metadata.

Versions used for the committed fixture: torch 2.15.0, safetensors 0.8.0, numpy 2.4.6.

    python scripts/reference/iresnet_reference.py crates/diffmac-id/tests/fixtures
"""

import json
import os
import sys

import torch
from safetensors.torch import save_file
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from iresnet_convert import to_safetensors_dict  # noqa: E402

CONFIG = {"layers": [2, 1, 2, 1], "widths": [8, 12, 16, 20], "stem": 8, "num_features": 16, "input_size": 32}


class Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in, eps=1e-5)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out, eps=1e-5)
        self.prelu = nn.PReLU(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out, eps=1e-5)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out, eps=1e-5))

    def forward(self, x):
        y = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        skip = x if self.downsample is None else self.downsample(x)
        return y + skip


class TinyIResNet(nn.Module):
    def __init__(self, layers, widths, stem, num_features, input_size) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem, eps=1e-5)
        self.prelu = nn.PReLU(stem)
        c = stem
        for i, (n, w) in enumerate(zip(layers, widths)):
            blocks = [Block(c, w, 2)] + [Block(w, w, 1) for _ in range(n - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            c = w
        self.bn2 = nn.BatchNorm2d(c, eps=1e-5)
        side = input_size // 16
        self.fc = nn.Linear(c * side * side, num_features)
        self.features = nn.BatchNorm1d(num_features, eps=1e-5)

    def forward(self, x):
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.bn2(x), 1)
        return self.features(self.fc(x))


def randomise(model: nn.Module) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.normal_(0, (2.0 / fan_in) ** 0.5)
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
            elif isinstance(m, nn.PReLU):
                m.weight.uniform_(0.0, 0.5)
            elif isinstance(m, nn.Linear):
                m.weight.normal_(0, (1.0 / m.in_features) ** 0.5)
                m.bias.normal_(0, 0.1)


def main() -> None:
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "crates/diffmac-id/tests/fixtures"
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(20261126)
    model = TinyIResNet(**CONFIG)
    randomise(model)
    model.eval()
    x = torch.rand(2, 3, CONFIG["input_size"], CONFIG["input_size"]) * 2 - 1
    with torch.no_grad():
        y = model(x)
    tensors = to_safetensors_dict(model.state_dict())
    tensors["test.input"] = x.contiguous()
    tensors["test.output"] = y.contiguous()
    dst = os.path.join(out_dir, "iresnet_tiny.safetensors")
    save_file(tensors, dst, metadata={"config": json.dumps(CONFIG)})
    print(f"{dst}: {len(tensors)} tensors, output {tuple(y.shape)}, |y|max {y.abs().max():.4f}")


if __name__ == "__main__":
    main()
