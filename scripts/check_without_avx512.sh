#!/usr/bin/env bash
# Runs diffmac-ops' CPU kernels on an x86-64 CPU without AVX-512 (QEMU's Haswell: AVX2 + FMA),
# to check that a build with burn-flex's `x86-v4` (AVX-512 gemm, chosen at run time) still
# runs, and computes the same results, where AVX-512 is missing.
#
# Needs qemu-user (Debian: `apt-get install qemu-user`). Usage: scripts/check_without_avx512.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(uname -m)" != x86_64 ]; then
    echo "not an x86-64 machine: nothing to check"
    exit 0
fi
command -v qemu-x86_64 >/dev/null || { echo "qemu-x86_64 not found: install qemu-user" >&2; exit 1; }

# diffmac-ops' test binaries, as the workspace's `cargo test` builds them (after that command,
# nothing is compiled again).
binaries=$(cargo test --workspace --no-run --message-format=json 2>/dev/null |
    grep '"package_id":"[^"]*diffmac-ops#' | grep '"test":true' | grep -o '"executable":"[^"]*"' |
    sed 's/"executable":"\(.*\)"/\1/')
[ -n "$binaries" ] || { echo "no test binaries built" >&2; exit 1; }
for binary in $binaries; do
    echo "==> $(basename "$binary") on an emulated Haswell (no AVX-512)"
    qemu-x86_64 -cpu Haswell "$binary" 2> >(grep -v "TCG doesn't support" >&2)
done
