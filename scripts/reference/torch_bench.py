#!/usr/bin/env python3
"""PyTorch + diffusers reference timings for `diffmac-bench` (same shapes, random weights).

Builds SD 2.1-base's UNet and VAE from the configs in crates/diffmac-restore/configs/sd21_base
with random weights and times, on CUDA in the requested precision:
  unet_b1, unet_b8   one UNet forward (1|8 × 4 × 64 × 64 latent, 77 × 1024 context), eager and
                     replayed as a CUDA graph
  vae_encode/decode  512² image ↔ 64² latent
  restore            a DiffMAC-shaped restore: 2 × (VAE encode + 50 UNet steps + decode), eager
  restore_b8         the same for 8 faces at once (whole-photo mode's batches)
  train_b2           one full-UNet training step at batch 2 (f32 weights, bf16 autocast, AdamW
                     lr 1e-4, ε-prediction MSE), as the design notes measured it
and reports each item's peak allocated device memory (peak_mib), and counts the UNet step's FLOPs with torch.utils.flop_counter. Prints JSON on stdout.
With --device cpu (scripts/cpu_bench.sh) the same items run on the CPU with every core
(torch.get_num_threads()); there are no CUDA graphs, and peak_mib is the process's peak
resident memory.

Pinned: torch as installed on the GPU machine (2.11 when the design notes were measured),
diffusers==0.42.1 (carried as a wheel, see docs/performance.md).
Usage: python3 scripts/reference/torch_bench.py --precision bf16 [--repeats 10] [--steps 50]
       [--only unet_b1,restore,train_b2] [--device cuda|cpu]
"""
import argparse
import json
import pathlib
import platform
import resource
import os
import statistics
import time

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "crates/diffmac-restore/configs/sd21_base"


def load_config(name):
    cfg = json.loads((CONFIGS / f"{name}.json").read_text())
    return {k: v for k, v in cfg.items() if not k.startswith("_")}


CUDA = True  # set by main() from --device


def sync():
    if CUDA:
        torch.cuda.synchronize()


def peak_mib():
    if CUDA:
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB on Linux


def timed(fn, warmup, repeats):
    sync()
    if CUDA:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    fn()
    sync()
    first = (time.perf_counter() - start) * 1e3
    for _ in range(max(warmup - 1, 0)):
        fn()
    sync()
    runs = []
    cpu_before, wall_before = os.times(), time.perf_counter()
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        runs.append((time.perf_counter() - start) * 1e3)
    cpu_after, wall = os.times(), time.perf_counter() - wall_before
    # Cores kept busy during the timed runs (CPU time of the process over wall time).
    cores_busy = ((cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)) / wall
    runs.sort()
    return {"first_ms": first, "median_ms": statistics.median(runs), "min_ms": runs[0],
            "max_ms": runs[-1], "repeats": len(runs), "peak_mib": peak_mib(),
            "cores_busy": cores_busy}


def graphed(fn, warmup=3):
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


def train_step_timing(args):
    """Full-UNet training step, batch 2: f32 master weights, bf16 autocast, AdamW."""
    dev = args.device
    unet = UNet2DConditionModel(**load_config("unet")).to(dev).train()
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=1e-2)
    z = torch.randn(2, 4, 64, 64, device=dev)
    c = torch.randn(2, 77, 1024, device=dev)
    eps = torch.randn_like(z)

    def step():
        t = torch.randint(0, 1000, (2,), device=dev)
        with torch.autocast(dev, dtype=torch.bfloat16):
            pred = unet(z, t, encoder_hidden_states=c).sample
        loss = torch.nn.functional.mse_loss(pred.float(), eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return timed(step, args.warmup, args.repeats)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--precision", choices=["f32", "f16", "bf16"], default="bf16")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--restore-repeats", type=int, default=3)
    ap.add_argument("--only",
                    default="unet_b1,unet_b8,vae_encode,vae_decode,restore,restore_b8,train_b2")
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    args = ap.parse_args()
    global CUDA
    CUDA = args.device == "cuda"
    only = set(args.only.split(","))
    dtype = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[args.precision]
    torch.manual_seed(0)
    dev = args.device
    unet = UNet2DConditionModel(**load_config("unet")).to(dev, dtype).eval()
    vae = AutoencoderKL(**load_config("vae")).to(dev, dtype).eval()
    items = []
    with torch.inference_mode():
        for name, b in [("unet_b1", 1), ("unet_b8", 8)]:
            if name not in only:
                continue
            x = torch.randn(b, 4, 64, 64, device=dev, dtype=dtype)
            c = torch.randn(b, 77, 1024, device=dev, dtype=dtype)
            t = torch.full((b,), 500.0, device=dev)
            step = lambda: unet(x, t, encoder_hidden_states=c).sample
            r = timed(step, args.warmup, args.repeats)
            r["name"] = name
            if CUDA:
                r["cuda_graph_median_ms"] = timed(graphed(step), args.warmup,
                                                  args.repeats)["median_ms"]
            if b == 1:
                from torch.utils.flop_counter import FlopCounterMode
                with FlopCounterMode(display=False) as counter:
                    step()
                r["gflop"] = counter.get_total_flops() / 1e9
            items.append(r)
        img = torch.randn(1, 3, 512, 512, device=dev, dtype=dtype)
        z = torch.randn(1, 4, 64, 64, device=dev, dtype=dtype)
        enc = lambda: vae.quant_conv(vae.encoder(img))
        dec = lambda: vae.decode(z).sample
        if "vae_encode" in only:
            items.append({"name": "vae_encode", **timed(enc, args.warmup, args.repeats)})
        if "vae_decode" in only:
            items.append({"name": "vae_decode", **timed(dec, args.warmup, args.repeats)})

        def restore(faces):
            x = torch.randn(faces, 3, 512, 512, device=dev, dtype=dtype)
            c = torch.randn(faces, 77, 1024, device=dev, dtype=dtype)
            for _ in range(2):
                moments = vae.quant_conv(vae.encoder(x))
                lat = torch.randn(faces, 4, 64, 64, device=dev, dtype=dtype)
                for i in range(args.steps):
                    eps = unet(lat, torch.full((faces,), 999.0 - i * 20, device=dev),
                               encoder_hidden_states=c).sample
                    lat = lat - 0.01 * eps + 0.0 * moments[:, :4]
                x = vae.decode(lat / 0.18215).sample
            return x

        for name, faces in [("restore", 1), ("restore_b8", 8)]:
            if name in only:
                run = lambda: restore(faces)
                items.append({"name": name, **timed(run, 1, args.restore_repeats)})
    if "train_b2" in only:
        del unet
        items.append({"name": "train_b2", **train_step_timing(args)})
    print(json.dumps({"implementation": f"torch {torch.__version__}",
                      "device": torch.cuda.get_device_name(0) if CUDA else
                      f"CPU {platform.processor() or platform.machine()}, "
                      f"{torch.get_num_threads()} threads",
                      "precision": args.precision, "items": items}, indent=2))


if __name__ == "__main__":
    main()
