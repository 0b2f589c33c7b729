#!/usr/bin/env bash
# Runs diffmac-bench and the PyTorch reference on the same GPU, one after the other, and prints
# both with their ratio. Run it on the GPU machine from the repository root, with the bench
# binary built elsewhere:
#   cargo build --release --features diffmac-cli/cuda --bin diffmac-bench
#   cp target/release/diffmac-bench .device/    (an ignored folder that travels to the GPU)
#   scripts/gpu_bench.sh .device/diffmac-bench bf16 out/gpu
# Peak device memory is sampled with nvidia-smi while each program runs.
set -euo pipefail
BIN=${1:?path of the diffmac-bench binary}
PRECISION=${2:-bf16}
OUT=${3:-out/gpu}
mkdir -p "$OUT"

peak_memory() {  # peak_memory PID FILE: samples used memory (MiB) until PID exits
    local peak=0 used
    while kill -0 "$1" 2>/dev/null; do
        used=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
        (( used > peak )) && peak=$used
        sleep 0.2
    done
    echo "$peak" > "$2"
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/card.txt"

"$BIN" --preset sd21 --precision "$PRECISION" --json "$OUT/diffmac.json" > /dev/null &
peak_memory $! "$OUT/diffmac.peak_mib" & wait

python3 scripts/reference/torch_bench.py --precision "$PRECISION" > "$OUT/torch.json" &
peak_memory $! "$OUT/torch.peak_mib" & wait

python3 - "$OUT" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
ours = {i["name"]: i for i in json.loads((out / "diffmac.json").read_text())["items"]}
ref = json.loads((out / "torch.json").read_text())
theirs = {i["name"]: i for i in ref["items"]}
gflop = theirs.get("unet_b1", {}).get("gflop")
print(f"card: {ref['device']}, {ref['implementation']}, {ref['precision']}")
print(f"{'item':12} {'diffmac ms':>11} {'torch ms':>10} {'graph ms':>9} {'ratio':>7}")
for name, t in theirs.items():
    o = ours.get(name)
    if not o:
        continue
    ratio = o["median_ms"] / t["median_ms"]
    graph = t.get("cuda_graph_median_ms")
    print(f"{name:12} {o['median_ms']:11.2f} {t['median_ms']:10.2f} "
          f"{(f'{graph:.2f}' if graph else '-'):>9} {ratio:7.2f}")
if gflop:
    print(f"UNet step: {gflop:.0f} GFLOP → diffmac {gflop / ours['unet_b1']['median_ms']:.1f} "
          f"TFLOP/s, torch {gflop / theirs['unet_b1']['median_ms']:.1f} TFLOP/s")
for who in ("diffmac", "torch"):
    print(f"peak device memory ({who}): {(out / f'{who}.peak_mib').read_text().strip()} MiB")
PY
