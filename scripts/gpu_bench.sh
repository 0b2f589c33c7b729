#!/usr/bin/env bash
# Times diffmac and the PyTorch reference on the same GPU, one after the other, and prints both
# side by side with their ratio. Run it on the GPU machine from the repository root, with the
# binaries built elsewhere (building needs no CUDA):
#   cargo build --release --features diffmac-cli/cuda --bin diffmac-bench --bin diffmac-train
#   cp target/release/diffmac-bench target/release/diffmac-train .device/
#   scripts/gpu_bench.sh .device bf16 out/gpu
# Parts, in this order (PARTS=torch,warm,diffmac,profile,train by default):
#   torch    scripts/reference/torch_bench.py, the same items with diffusers (needs diffusers)
#   warm     the first calls only: compiles and autotunes every kernel the items need, one
#            process per group of items at the same time (WARM_GROUPS, space-separated groups of
#            comma-separated items), so that NVRTC runs on several cores; they share the kernel
#            cache (each reuses the shapes the others tuned first), and the timed part below
#            finds it filled
#   diffmac  diffmac-bench --preset sd21 (UNet steps, VAE, control + MIB, full DID restore,
#            training step; PRESET=tiny checks the script in seconds), one process, timed
#   profile  one UNet step with CubeCL's per-kernel profiling (PROFILE_ITEMS), to profile.log
#   train    diffmac-train, Stage I at 512², batch 2, random SD 2.1 weights
#            (configs/train/sd21-random-bf16-speed.json), seconds per step from metrics.jsonl
# Each part runs under its own time limit (TORCH_TIMEOUT, WARM_TIMEOUT, DIFFMAC_TIMEOUT,
# PROFILE_TIMEOUT, TRAIN_TIMEOUT, in seconds) and keeps what it measured when stopped. Peak
# device memory is sampled with nvidia-smi while each part runs.
# Compiled kernels and autotune results (minutes of work on a fresh machine) are kept in
# KERNEL_CACHE (default target/kernel-cache); KERNEL_CACHE_IN=FILE.tar.xz unpacks an earlier
# run's cache first and PACK_CACHE=1 packs this one into OUT/kernel-cache.tar.xz.
# AUTOTUNE_DEFER (CUBECL_AUTOTUNE_DEFER, vendor/README.md) names the autotune candidates tried
# only when no other candidate of a shape runs: fewer compilations per shape on a cold cache;
# AUTOTUNE_DEFER= (empty) autotunes every candidate.
# OUT gets summary.txt, log.txt, diffmac.json, torch.json, profile.log, logs.tar.xz (each
# process's kernel log: every kernel compiled and autotuned; the warm-up's reports),
# train_metrics.jsonl and the packed cache: at most 8 files.
set -uo pipefail
BIN_DIR=${1:?folder holding diffmac-bench and diffmac-train}
PRECISION=${2:-bf16}
OUT=${3:-out/gpu}
PARTS=${PARTS:-torch,warm,diffmac,profile,train}
PRESET=${PRESET:-sd21}
ITEMS=${ITEMS:-unet_b1,unet_mod_b1,control_mib,vae_encode,vae_decode,restore,unet_b8,train_b2,restore_b8}
WARM_GROUPS=${WARM_GROUPS:-unet_b1,unet_mod_b1,restore unet_b8 restore_b8 vae_encode vae_decode,control_mib train_b2}
PROFILE_ITEMS=${PROFILE_ITEMS:-unet_b1}
export CUBECL_AUTOTUNE_DEFER=${AUTOTUNE_DEFER-cmma,cyclic,conv_direct,simple_sync,simple_async}
export WARM_GROUPS
mkdir -p "$OUT"
LOG="$OUT/log.txt"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
KERNEL_CACHE=$(realpath -m "${KERNEL_CACHE:-target/kernel-cache}")
mkdir -p "$KERNEL_CACHE"
if [[ -n "${KERNEL_CACHE_IN:-}" ]]; then
    tar xJf "$KERNEL_CACHE_IN" -C "$KERNEL_CACHE" || echo "could not unpack $KERNEL_CACHE_IN"
fi
LOGS=$WORK/logs
mkdir -p "$LOGS"
export DIFFMAC_KERNEL_CACHE=$KERNEL_CACHE DIFFMAC_KERNEL_LOG=$LOGS/kernels.log LOGS

wants() { [[ ",$PARTS," == *",$1,"* ]]; }

peak_memory() {  # peak_memory PID NAME: samples used device memory (MiB) until PID exits
    local peak=0 used
    while kill -0 "$1" 2>/dev/null; do
        used=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
        (( used > peak )) && peak=$used
        sleep 0.2
    done
    echo "$2 $peak" >> "$WORK/peaks.txt"
}

run_part() {  # run_part NAME TIMEOUT COMMAND...: runs with a time limit and memory sampling
    local name=$1 limit=$2 start
    shift 2
    start=$(date +%s)
    echo "== $name (limit ${limit}s): $*" | tee -a "$LOG"
    timeout "$limit" "$@" >> "$LOG" 2>&1 &
    local pid=$!
    peak_memory $pid "$name" &
    wait $pid
    local rc=$?
    wait
    echo "== $name: exit $rc after $(( $(date +%s) - start )) s" | tee -a "$LOG"
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$WORK/card.txt"

BENCH=("$(realpath "$BIN_DIR")/diffmac-bench" --preset "$PRESET" --precision "$PRECISION")

if wants torch; then
    run_part torch "${TORCH_TIMEOUT:-600}" bash -c "python3 scripts/reference/torch_bench.py \
        --precision $PRECISION --restore-repeats 2 > $OUT/torch.json"
fi
if wants warm; then
    # One bench process per group, each with its own kernel log; `timeout` stops them all.
    run_part warm "${WARM_TIMEOUT:-1800}" bash -c '
        i=0
        for group in $WARM_GROUPS; do
            i=$((i + 1))
            DIFFMAC_KERNEL_LOG=$LOGS/kernels-warm-$i.log "$@" --only "$group" --warmup 1 \
                --repeats 1 --restore-repeats 1 --steps 2 --json "$LOGS/warm-$i.json" \
                > "$LOGS/warm-$i.txt" 2>&1 &
        done
        wait' warm "${BENCH[@]}"
fi
if wants diffmac; then
    run_part diffmac "${DIFFMAC_TIMEOUT:-1800}" "${BENCH[@]}" --only "$ITEMS" \
        --restore-repeats "${RESTORE_REPEATS:-2}" --json "$OUT/diffmac.json" ${BENCH_ARGS:-}
fi
if wants profile; then
    (
        export CUBECL_DEBUG_OPTION=profile DIFFMAC_KERNEL_LOG=$(realpath -m "$OUT/profile.log")
        run_part profile "${PROFILE_TIMEOUT:-300}" "${BENCH[@]}" --only "$PROFILE_ITEMS" \
            --warmup 1 --repeats 1
    )
fi
if wants train; then
    rm -rf "$OUT/train-run"
    run_part train "${TRAIN_TIMEOUT:-1200}" "$BIN_DIR/diffmac-train" --stage 1 \
        --config configs/train/sd21-random-bf16-speed.json --data examples/faces \
        --out "$OUT/train-run"
    cp "$OUT/train-run/metrics.jsonl" "$OUT/train_metrics.jsonl" 2>/dev/null
    rm -rf "$OUT/train-run"
fi
tar cJf "$OUT/logs.tar.xz" -C "$LOGS" . 2>/dev/null

if [[ "${PACK_CACHE:-0}" == 1 ]]; then
    tar cJf "$OUT/kernel-cache.tar.xz" -C "$KERNEL_CACHE" . && du -h "$OUT/kernel-cache.tar.xz"
fi

python3 - "$OUT" "$WORK" "$LOGS" <<'PY' | tee "$OUT/summary.txt"
import json, pathlib, statistics, sys
out, work, logs = (pathlib.Path(a) for a in sys.argv[1:4])
def load(name):
    p = out / name
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None
ours, ref = load("diffmac.json"), load("torch.json")
ours_items = {i["name"]: i for i in (ours or {}).get("items", [])}
ref_items = {i["name"]: i for i in (ref or {}).get("items", [])}
print(f"card: {(work / 'card.txt').read_text().strip()}")
if ours:
    print(f"diffmac: {ours['backend']}, {ours['precision']} (outputs {ours['output_dtype']})")
if ref:
    print(f"reference: {ref['implementation']}, {ref['precision']}")
print(f"{'item':12} {'diffmac ms':>11} {'first s':>8} {'torch ms':>10} {'graph ms':>9} "
      f"{'ratio':>7} {'diffmac MiB':>12} {'torch MiB':>10}")
def mib(v):
    return f"{v:.0f}" if v is not None else "-"
for name in list(ours_items) + [n for n in ref_items if n not in ours_items]:
    o, t = ours_items.get(name), ref_items.get(name)
    mine = f"{o['median_ms']:11.2f} {o['first_ms'] / 1e3:8.1f}" if o else f"{'-':>11} {'-':>8}"
    theirs = f"{t['median_ms']:10.2f}" if t else f"{'-':>10}"
    graph = t.get("cuda_graph_median_ms") if t else None
    ratio = f"{o['median_ms'] / t['median_ms']:7.2f}" if o and t else f"{'-':>7}"
    memory = f"{mib((o or {}).get('reserved_mib')):>12} {mib((t or {}).get('peak_mib')):>10}"
    print(f"{name:12} {mine} {theirs} {(f'{graph:.2f}' if graph else '-'):>9} {ratio} {memory}")
gflop = ref_items.get("unet_b1", {}).get("gflop")
if gflop and "unet_b1" in ours_items:
    print(f"UNet step: {gflop:.0f} GFLOP → diffmac "
          f"{gflop / ours_items['unet_b1']['median_ms']:.1f} TFLOP/s, torch "
          f"{gflop / ref_items['unet_b1']['median_ms']:.1f} TFLOP/s")
metrics = out / "train_metrics.jsonl"
if metrics.exists():
    steps = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    secs = [s["step_seconds"] for s in steps]
    if secs:
        later = secs[2:] or secs
        print(f"diffmac-train Stage I, batch 2: {len(secs)} steps, first {secs[0]:.1f} s, "
              f"median after two {statistics.median(later) * 1e3:.1f} ms")
for warm in sorted(logs.glob("warm-*.json")):
    for item in json.loads(warm.read_text()).get("items", []):
        print(f"cold first call ({warm.stem}, parallel warm-up): {item['name']} "
              f"{item['first_ms'] / 1e3:.1f} s")
peaks = work / "peaks.txt"
if peaks.exists():
    for line in peaks.read_text().splitlines():
        name, mib = line.split()
        print(f"peak device memory ({name}, nvidia-smi): {mib} MiB")
print("MiB: diffmac = allocator's reserved memory after the item; torch = peak allocated")
PY
