#!/usr/bin/env bash
# Times diffmac (default CPU build, flex backend) and PyTorch + diffusers on this machine's CPU,
# one after the other in one run, and prints both side by side with their ratio: the CPU half
# of the GPU comparison in scripts/gpu_bench.sh. Run from the repository root:
#   cargo build --release --bin diffmac-bench
#   scripts/cpu_bench.sh target/release out/cpu
# PYTHON (default python3) must have torch and diffusers==0.42.1. ITEMS (default
# unet_b1,vae_encode,vae_decode), REPEATS (default 3) and WARMUP (default 1) choose what runs;
# at full size a UNet step takes seconds on a few cores, a full restore (ITEMS=restore) tens of
# minutes. Both sides use every core: diffmac through flex's rayon pool, torch through
# torch.get_num_threads(). OUT gets summary.txt, diffmac.json, torch.json and log.txt.
set -uo pipefail
BIN_DIR=${1:?folder holding diffmac-bench}
OUT=${2:-out/cpu}
PYTHON=${PYTHON:-python3}
ITEMS=${ITEMS:-unet_b1,vae_encode,vae_decode}
REPEATS=${REPEATS:-3}
WARMUP=${WARMUP:-1}
mkdir -p "$OUT"
LOG="$OUT/log.txt"
: > "$LOG"
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
echo "cpu: ${cpu:-unknown}, $(nproc) cores, commit $(git rev-parse --short HEAD 2>/dev/null)" \
    | tee "$OUT/cpu.txt"

echo "== torch: $ITEMS" | tee -a "$LOG"
"$PYTHON" scripts/reference/torch_bench.py --device cpu --precision f32 --only "$ITEMS" \
    --repeats "$REPEATS" --warmup "$WARMUP" --restore-repeats 1 > "$OUT/torch.json" 2>> "$LOG" \
    || echo "torch part failed (see $LOG)" | tee -a "$LOG"
echo "== diffmac: $ITEMS" | tee -a "$LOG"
"$BIN_DIR/diffmac-bench" --preset sd21 --precision f32 --only "$ITEMS" --repeats "$REPEATS" \
    --warmup "$WARMUP" --restore-repeats 1 --json "$OUT/diffmac.json" >> "$LOG" 2>&1 \
    || echo "diffmac part failed (see $LOG)" | tee -a "$LOG"

"$PYTHON" - "$OUT" <<'PY' | tee "$OUT/summary.txt"
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
def load(name):
    try:
        return json.loads((out / name).read_text())
    except (OSError, ValueError):
        return None
ours, ref = load("diffmac.json"), load("torch.json")
ours_items = {i["name"]: i for i in (ours or {}).get("items", [])}
ref_items = {i["name"]: i for i in (ref or {}).get("items", [])}
print((out / "cpu.txt").read_text().strip())
if ours:
    print(f"diffmac: {ours['backend']}, {ours['precision']}")
if ref:
    print(f"reference: {ref['implementation']}, {ref['device']}, {ref['precision']}")
print(f"{'item':12} {'diffmac ms':>11} {'torch ms':>10} {'ratio':>7}")
for name in list(ours_items) + [n for n in ref_items if n not in ours_items]:
    o, t = ours_items.get(name), ref_items.get(name)
    mine = f"{o['median_ms']:11.1f}" if o else f"{'-':>11}"
    theirs = f"{t['median_ms']:10.1f}" if t else f"{'-':>10}"
    ratio = f"{o['median_ms'] / t['median_ms']:7.2f}" if o and t else f"{'-':>7}"
    print(f"{name:12} {mine} {theirs} {ratio}")
PY
