#!/usr/bin/env bash
# Generation speed on the TinyLlama-1.1B shape (random weights, real LLaMA 2
# vocabulary), the reference workload of docs/BENCHMARKS.md.
#   bench/tinyllama_tg.sh [build dir] [reps] [types...]
# Writes the models once into bench/models/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
reps=${2:-3}
shift $(( $# > 2 ? 2 : $# ))
types=("${@:-q4_0}")
shared=../shared
mkdir -p bench/models
for t in "${types[@]}"; do
  m=bench/models/tinyllama-$t.gguf
  if [ ! -f "$m" ]; then
    case $t in
      q4_0|q8_0) /usr/bin/python3 $shared/tools/mkmodel.py --preset tinyllama-1.1b --dtype "$t" --fast \
                   --vocab-from $shared/vocab/ggml-vocab-llama-spm.gguf -o "$m" >/dev/null ;;
      f16) /usr/bin/python3 $shared/tools/mkmodel.py --preset tinyllama-1.1b --dtype f16 \
                   --vocab-from $shared/vocab/ggml-vocab-llama-spm.gguf -o "$m" >/dev/null ;;
      *) echo "unknown type $t" >&2; exit 1 ;;
    esac
  fi
  for r in $(seq "$reps"); do
    echo -n "$t run $r: "
    "$build/lineage" run -m "$m" -p "The capital of France is" -n 128 --temp 0 --ignore-eos \
      --no-display-prompt -t 2 2>&1 >/dev/null | grep '^lineage:'
  done
done
