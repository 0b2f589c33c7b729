#!/usr/bin/env bash
# Times diffmac (default CPU build, flex backend) and PyTorch + diffusers on this machine's CPU,
# one after the other in one run, and prints both side by side with their ratio: the CPU half
# of the GPU comparison in scripts/gpu_bench.sh. Run from the repository root:
#   cargo build --release --bin diffmac-bench
#   scripts/cpu_bench.sh target/release out/cpu
# PYTHON (default python3) must have torch and diffusers==0.42.1. ITEMS (default
# unet_b1,vae_encode,vae_decode,restore), REPEATS (default 3), WARMUP (default 1) and STEPS
# (sampling steps per stage of `restore`, default 10: a whole DID restore of one face is
# 2 × (VAE encode + STEPS UNet steps + VAE decode)) choose what runs; at full size a UNet step
# takes seconds on a few cores. Both sides use every core: diffmac through flex's rayon pool,
# torch through torch.get_num_threads(). OUT gets summary.txt, summary.json (the schema of
# scripts/gpu_bench.sh's, "card" naming the CPU, plus each side's cores busy and the ratio),
# diffmac.json, torch.json and log.txt.
set -uo pipefail
BIN_DIR=${1:?folder holding diffmac-bench}
OUT=${2:-out/cpu}
PYTHON=${PYTHON:-python3}
ITEMS=${ITEMS:-unet_b1,vae_encode,vae_decode,restore}
REPEATS=${REPEATS:-3}
WARMUP=${WARMUP:-1}
STEPS=${STEPS:-10}
mkdir -p "$OUT"
LOG="$OUT/log.txt"
: > "$LOG"
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
echo "cpu: ${cpu:-unknown}, $(nproc) cores, commit $(git rev-parse --short HEAD 2>/dev/null)" \
    | tee "$OUT/cpu.txt"

echo "== torch: $ITEMS" | tee -a "$LOG"
"$PYTHON" scripts/reference/torch_bench.py --device cpu --precision f32 --only "$ITEMS" \
    --repeats "$REPEATS" --warmup "$WARMUP" --restore-repeats 1 --steps "$STEPS" \
    > "$OUT/torch.json" 2>> "$LOG" \
    || echo "torch part failed (see $LOG)" | tee -a "$LOG"
echo "== diffmac: $ITEMS" | tee -a "$LOG"
"$BIN_DIR/diffmac-bench" --preset sd21 --precision f32 --only "$ITEMS" --repeats "$REPEATS" \
    --warmup "$WARMUP" --restore-repeats 1 --steps "$STEPS" --json "$OUT/diffmac.json" \
    >> "$LOG" 2>&1 \
    || echo "diffmac part failed (see $LOG)" | tee -a "$LOG"

"$PYTHON" - "$OUT" "$cpu" "$(git rev-parse HEAD 2>/dev/null)" "$STEPS" <<'PY' | tee "$OUT/summary.txt"
import datetime, json, os, pathlib, sys
out = pathlib.Path(sys.argv[1])
card = f"{sys.argv[2] or 'unknown CPU'}, {os.cpu_count()} cores"
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
print(f"restore: 2 × (VAE encode + {sys.argv[4]} UNet steps + VAE decode), one face")
print(f"{'item':12} {'diffmac ms':>11} {'torch ms':>10} {'ratio':>7} {'cores ours':>10} {'torch':>6}"
      f" {'peak MiB ours':>13} {'torch':>7}")
def cell(item, key, width, fmt):
    value = (item or {}).get(key)
    return f"{value:{width}{fmt}}" if value is not None else f"{'-':>{width}}"
summary = {"date": datetime.date.today().isoformat(), "card": card, "commit": sys.argv[3],
           "precision": "f32", "cold_start_s": None, "restore_steps": int(sys.argv[4]), "items": {}}
for name in list(ours_items) + [n for n in ref_items if n not in ours_items]:
    o, t = ours_items.get(name), ref_items.get(name)
    ratio = o["median_ms"] / t["median_ms"] if o and t else None
    print(f"{name:12} {cell(o, 'median_ms', 11, '.1f')} {cell(t, 'median_ms', 10, '.1f')} "
          f"{(f'{ratio:7.2f}' if ratio else '-'.rjust(7))} {cell(o, 'cores_busy', 10, '.2f')} "
          f"{cell(t, 'cores_busy', 6, '.2f')} {cell(o, 'peak_rss_mib', 13, '.0f')} "
          f"{cell(t, 'peak_mib', 7, '.0f')}")
    summary["items"][name] = {
        "diffmac_ms": (o or {}).get("median_ms"), "torch_eager_ms": (t or {}).get("median_ms"),
        "torch_graph_ms": None, "diffmac_mib": (o or {}).get("peak_rss_mib"),
        "torch_mib": (t or {}).get("peak_mib"), "ratio": ratio,
        "diffmac_cores_busy": (o or {}).get("cores_busy"),
        "torch_cores_busy": (t or {}).get("cores_busy")}
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
PY
