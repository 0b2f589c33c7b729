#!/usr/bin/env python3
"""Convert the small parameter files that diffmac-eval ships into crate data files.

1. NIQE pristine model: basicsr 1.4.2 sdist (PyPI, Apache-2.0), file
   `basicsr/metrics/niqe_pris_params.npz` -> crates/diffmac-eval/data/niqe_pris_params.json
2. LPIPS linear heads: lpips 0.1.4 wheel (PyPI, BSD-2-Clause), files
   `lpips/weights/v0.1/{alex,vgg}.pth` -> crates/diffmac-eval/data/lpips_{alex,vgg}_heads.safetensors
   (the .pth files are plain state dicts; torch.load(weights_only=True) reads them without
   executing pickle code).

3. User-supplied ImageNet backbones for LPIPS (not redistributable here, so never committed):
   torchvision's `alexnet-owt-7be5be79.pth` / `vgg16-397923af.pth` state dicts
   -> safetensors with torchvision's `features.{i}.weight|bias` keys (what
   `diffmac_eval::Lpips::load` reads). `--torchvision-alexnet IN.pth OUT.safetensors`,
   `--torchvision-vgg16 IN.pth OUT.safetensors`.

4. User-supplied FID Inception-v3: pytorch-fid's `pt_inception-2015-12-05-6726825d.pth`
   (the URL pytorch-fid downloads from) -> safetensors with the same torchvision key names
   (`Mixed_5b.branch1x1.conv.weight`, `....bn.running_var`, ...), read by
   `diffmac_eval::fid::InceptionV3::load`. `--pytorch-fid-inception IN.pth OUT.safetensors`.

Usage (versions pinned):
    python -m venv /tmp/evalref
    /tmp/evalref/bin/pip install numpy==2.2.6 torch==2.15.0 safetensors==0.8.0
    # fetch the two archives with pip's own client:
    /tmp/evalref/bin/pip download lpips==0.1.4 --no-deps -d /tmp/evaldl
    # basicsr's sdist cannot build metadata without torch at build time; take the archive
    # straight from PyPI's file host (sha256 b89b595a87ef964cda9913b4d99380ddb6554c965577c0c10cb7b78e31301e87):
    #   https://files.pythonhosted.org/packages/86/41/00a6b000f222f0fa4c6d9e1d6dcc9811a374cabb8abb9d408b77de39648c/basicsr-1.4.2.tar.gz
    python scripts/convert_eval_weights.py --basicsr /tmp/evaldl/basicsr-1.4.2 \
        --lpips /tmp/evaldl/lpips_whl [--only niqe|lpips]
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "crates", "diffmac-eval", "data")


def convert_niqe(basicsr_dir):
    import numpy as np

    path = os.path.join(basicsr_dir, "basicsr", "metrics", "niqe_pris_params.npz")
    params = np.load(path)
    out = {
        "source": "basicsr 1.4.2 (PyPI sdist, Apache-2.0): basicsr/metrics/niqe_pris_params.npz",
        "mu_pris_param": [float(v) for v in np.asarray(params["mu_pris_param"], dtype=np.float64).reshape(-1)],
        "cov_pris_param": np.asarray(params["cov_pris_param"], dtype=np.float64).tolist(),
        "gaussian_window": np.asarray(params["gaussian_window"], dtype=np.float64).tolist(),
    }
    assert len(out["mu_pris_param"]) == 36
    dst = os.path.join(DATA, "niqe_pris_params.json")
    with open(dst, "w") as f:
        json.dump(out, f)
        f.write("\n")
    print(f"wrote {dst}")


def convert_lpips(lpips_dir):
    import torch
    from safetensors.torch import save_file

    for net in ("alex", "vgg"):
        path = os.path.join(lpips_dir, "lpips", "weights", "v0.1", f"{net}.pth")
        state = torch.load(path, map_location="cpu", weights_only=True)
        tensors = {k: v.detach().to(torch.float32).contiguous() for k, v in state.items()}
        dst = os.path.join(DATA, f"lpips_{net}_heads.safetensors")
        save_file(tensors, dst, metadata={"source": f"lpips 0.1.4 (PyPI, BSD-2-Clause): lpips/weights/v0.1/{net}.pth"})
        print(f"wrote {dst}: " + ", ".join(f"{k} {tuple(v.shape)}" for k, v in tensors.items()))


def convert_torchvision(src, dst, n_convs):
    import torch
    from safetensors.torch import save_file

    state = torch.load(src, map_location="cpu", weights_only=True)
    tensors = {k: v.detach().to(torch.float32).contiguous() for k, v in state.items() if k.startswith("features.")}
    convs = [k for k in tensors if k.endswith(".weight")]
    if len(convs) != n_convs:
        sys.exit(f"{src}: {len(convs)} conv weights under features.*, expected {n_convs}")
    save_file(tensors, dst, metadata={"source": os.path.basename(src)})
    print(f"wrote {dst}: {len(tensors)} tensors")


def convert_inception(src, dst):
    import torch
    from safetensors.torch import save_file

    state = torch.load(src, map_location="cpu", weights_only=True)
    tensors = {k: v.detach().to(torch.float32).contiguous() for k, v in state.items()
               if not k.endswith("num_batches_tracked")}
    if "Mixed_7c.branch_pool.conv.weight" not in tensors:
        sys.exit(f"{src}: not an Inception-v3 state dict (no Mixed_7c.branch_pool.conv.weight)")
    save_file(tensors, dst, metadata={"source": os.path.basename(src)})
    print(f"wrote {dst}: {len(tensors)} tensors")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--basicsr", help="unpacked basicsr-1.4.2 sdist")
    ap.add_argument("--lpips", help="unpacked lpips-0.1.4 wheel")
    ap.add_argument("--only", choices=["niqe", "lpips"])
    ap.add_argument("--torchvision-alexnet", nargs=2, metavar=("IN_PTH", "OUT_SAFETENSORS"))
    ap.add_argument("--torchvision-vgg16", nargs=2, metavar=("IN_PTH", "OUT_SAFETENSORS"))
    ap.add_argument("--pytorch-fid-inception", nargs=2, metavar=("IN_PTH", "OUT_SAFETENSORS"))
    args = ap.parse_args()
    if args.pytorch_fid_inception:
        convert_inception(*args.pytorch_fid_inception)
        return
    if args.torchvision_alexnet or args.torchvision_vgg16:
        if args.torchvision_alexnet:
            convert_torchvision(*args.torchvision_alexnet, n_convs=5)
        if args.torchvision_vgg16:
            convert_torchvision(*args.torchvision_vgg16, n_convs=13)
        return
    os.makedirs(DATA, exist_ok=True)
    if args.only in (None, "niqe"):
        if not args.basicsr:
            sys.exit("--basicsr is required for the NIQE parameters")
        convert_niqe(args.basicsr)
    if args.only in (None, "lpips"):
        if not args.lpips:
            sys.exit("--lpips is required for the LPIPS heads")
        convert_lpips(args.lpips)


if __name__ == "__main__":
    main()
