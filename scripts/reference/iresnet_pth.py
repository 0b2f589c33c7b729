#!/usr/bin/env python3
"""Writes the tiny IResNet fixture as PyTorch state-dict files, the way insightface ships
ArcFace weights (`torch.save(model.state_dict())`), for diffmac-id's `.pth` loader test:

  crates/diffmac-id/tests/fixtures/iresnet_tiny.pth          zip format (torch >= 1.6)
  crates/diffmac-id/tests/fixtures/iresnet_tiny_legacy.pth   legacy (non-zip) format, with
                                                             DataParallel's `module.` prefix

from crates/diffmac-id/tests/fixtures/iresnet_tiny.safetensors (written by
scripts/reference/iresnet_upstream_reference.py with the weights iresnet_reference.py draws).
Pinned: torch 2.15.0, safetensors 0.8.0.
"""
import pathlib
from collections import OrderedDict

import torch
from safetensors.torch import load_file

fixtures = pathlib.Path(__file__).resolve().parents[2] / "crates/diffmac-id/tests/fixtures"
state = load_file(fixtures / "iresnet_tiny.safetensors")
torch.save(OrderedDict(state), fixtures / "iresnet_tiny.pth")
prefixed = OrderedDict(("module." + k, v) for k, v in state.items())
torch.save(prefixed, fixtures / "iresnet_tiny_legacy.pth", _use_new_zipfile_serialization=False)
print("wrote", fixtures / "iresnet_tiny.pth", fixtures / "iresnet_tiny_legacy.pth")
