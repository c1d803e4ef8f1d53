#!/usr/bin/env bash
# Checks the CUDA backend on a machine with an NVIDIA GPU, in a few minutes:
# the GPU unit tests (every CUDA kernel against the reference device, whole
# models against the golden logits and the CPU, batch independence, graph
# replay), the end-to-end GPU tests (tests/cli/test_gpu.py on cuda), and
# `lineage bench` (pp512, tg128) on a random LLaMA-2-7B-shape Q4_0 model.
#
#   bash scripts/gpu_check.sh [BUILD_DIR]
#
# BUILD_DIR (default build-cuda) is configured and built with
# -DLINEAGE_CUDA=ON when it has no lineage binary yet. A bundle made by
# scripts/gpu_bundle.sh on another machine runs the same way (it sets
# LINEAGE_SHARED_DIR and LD_LIBRARY_PATH). Reports go to $GPU_CHECK_OUT
# (default BUILD_DIR/gpu-check); the exit status is non-zero when a step
# failed.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${1:-build-cuda}
SHARED=${LINEAGE_SHARED_DIR:-../shared}
OUT=${GPU_CHECK_OUT:-$B/gpu-check}
mkdir -p "$OUT"
status=0

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem --format=csv | tee "$OUT/gpu.txt"
if [ ! -x "$B/lineage" ]; then
  cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLINEAGE_CUDA=ON >/dev/null &&
    cmake --build "$B" -j "$(nproc)" || exit 1
fi

echo "== GPU unit tests"
timeout 300 "$B/tests/lineage_tests" --gtest_filter='*Cuda*:*cuda*' --gtest_color=no 2>&1 | tee "$OUT/unit.txt"
[ "${PIPESTATUS[0]}" = 0 ] || status=1

echo "== end to end on the GPU"
LINEAGE_TEST_DEVICE=cuda LINEAGE_BIN="$B/lineage" LINEAGE_SHARED_DIR="$SHARED" LINEAGE_SOURCE_DIR="$PWD" \
  timeout 300 python3 tests/cli/test_gpu.py -v 2>&1 | tee "$OUT/cli.txt"
[ "${PIPESTATUS[0]}" = 0 ] || status=1

if [ -x "$B/bench/cuda_matmul_bench" ]; then
  echo "== matrix products alone (LLaMA-2-7B shapes)"
  timeout 120 "$B/bench/cuda_matmul_bench" 2>&1 | tee "$OUT/matmul.txt"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi

echo "== benchmark: LLaMA-2-7B shape, Q4_0"
model=${LINEAGE_BENCH_MODEL:-$B/llama-2-7b-q4_0.gguf}
if [ ! -f "$model" ]; then
  python3 "$SHARED/tools/mkmodel.py" --preset llama-2-7b --dtype q4_0 --fast \
    --vocab-from "$SHARED/vocab/ggml-vocab-llama-spm.gguf" -o "$model" >/dev/null || status=1
fi
timeout 300 "$B/lineage" bench -m "$model" --gpu -p 512 -n 128 -r 3 2>&1 | tee "$OUT/bench.txt"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
timeout 120 "$B/lineage" bench -m "$model" --gpu -p 512 -n 128 -r 3 --json >"$OUT/bench.json" 2>&1 || status=1

echo "== gpu_check: $([ $status = 0 ] && echo passed || echo FAILED) (reports in $OUT)"
exit $status
