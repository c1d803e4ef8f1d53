#!/usr/bin/env bash
# Builds lineage and runs every test: the unit and end-to-end suite, then the
# hostile-input tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
jobs=$(nproc)

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"

cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLINEAGE_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs"
echo "== sanitizer run (ASan + UBSan) over the hostile-input tests"
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan -j "$jobs" --output-on-failure -R "${LINEAGE_ASAN_TESTS:-Gguf|Hostile|bad_input|TextStream|Sampling}"

echo "== full suite"
ctest --test-dir build -j "$jobs" --output-on-failure
