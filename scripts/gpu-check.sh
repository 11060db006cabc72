#!/usr/bin/env bash
# GPU host check for the CUDA backend.
#
# 1. Publishes src/Cli as a self-contained linux-x64 app (no .NET install needed on the GPU host).
# 2. Runs, on that host:
#      autoglm kernels --report          # NVRTC resource report (registers / spills / smem / stack) for sm_80 + sm_90
#      autoglm kernels --parity          # every op on the GPU vs. the CPU emulation of the same .cu sources
#      autoglm bench --device cuda       # throughput (prefill GEMM/attention, decode GEMV/attention)
#    The CLI verbs are wired by the CLI project; this script only packages and drives them.
#
# Usage:  scripts/gpu-check.sh [--publish-only] [--out DIR] [-- extra args for bench]
# Needs on the GPU host: an NVIDIA driver (libcuda.so.1) and NVRTC (libnvrtc.so.12/.13, or .11.2 for sm_80/sm_90;
# OPENAUTOGLM_NVRTC=/path/to/libnvrtc.so overrides). g++ is optional (parity against emulation needs it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/artifacts/gpu-check"
PUBLISH_ONLY=0
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --publish-only) PUBLISH_ONLY=1 ;;
    --out) OUT="$2"; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "gpu-check: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

echo "== publish src/Cli (self-contained linux-x64) -> $OUT/bin"
dotnet publish "$ROOT/src/Cli" -c Release -r linux-x64 --self-contained true -o "$OUT/bin" -p:TreatWarningsAsErrors=true
[ "$PUBLISH_ONLY" = 1 ] && exit 0

BIN="$OUT/bin/autoglm"
mkdir -p "$OUT/logs"

if ! ldconfig -p 2>/dev/null | grep -q 'libcuda.so.1'; then
  echo "gpu-check: libcuda.so.1 not found on this host; run this script on a machine with an NVIDIA driver" >&2
  exit 3
fi
nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv 2>/dev/null | tee "$OUT/logs/gpu.txt" || true

echo "== kernel resource report"
"$BIN" kernels --report --json | tee "$OUT/logs/kernel-report.json"

echo "== kernel parity (GPU vs cuda-emu)"
"$BIN" kernels --parity | tee "$OUT/logs/parity.txt"

echo "== bench"
"$BIN" bench --device cuda "${EXTRA[@]}" | tee "$OUT/logs/bench.txt"

echo "gpu-check: logs in $OUT/logs"
