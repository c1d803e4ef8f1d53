#!/usr/bin/env bash
# Builds lineage and runs every test twice: first the whole suite under
# AddressSanitizer + UndefinedBehaviorSanitizer (leak checks on), then the
# optimized build that users run. Before that, each fuzz target runs for a
# short while (scripts/fuzz.sh; give it hours by hand).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
jobs=$(nproc)

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"

cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLINEAGE_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs"
echo "== fuzzing (libFuzzer, ${LINEAGE_FUZZ_SECONDS:-15}s per target)"
bash scripts/fuzz.sh "${LINEAGE_FUZZ_SECONDS:-15}"

echo "== sanitizer run (ASan + UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -j "$jobs" --output-on-failure

echo "== full suite"
ctest --test-dir build -j "$jobs" --output-on-failure
