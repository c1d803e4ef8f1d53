#!/usr/bin/env bash
# `lineage batch` throughput: the same dataset with 1 slot (one row at a
# time) and with N slots (rows decoded together in one forward pass).
#   bench/batch_throughput.sh [build dir] [model] [rows] [tokens per row] [slots...]
# Defaults: build, bench/models/tinyllama-q4_0.gguf (see tinyllama_tg.sh),
# 32 rows, 32 tokens, slots 1 8. Every row generates exactly its tokens
# (--ignore-eos: random weights would otherwise end at random points).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
model=${2:-bench/models/tinyllama-q4_0.gguf}
rows=${3:-32}
tokens=${4:-32}
shift $(( $# > 4 ? 4 : $# ))
slots=("${@:-1 8}")
slots=(${slots[*]})
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
words=(king sword night love crown ghost storm queen fool rose honour blood mercy tongue grave heaven)
for i in $(seq "$rows"); do
  printf '{"id": %d, "text": "%s %s %s"}\n' "$i" "${words[$((i % 16))]}" "${words[$((i * 7 % 16))]}" \
    "${words[$((i * 5 % 16))]}"
done > "$dir/data.jsonl"
printf 'Write a line about %s.\n' '{{ text }}' > "$dir/prompt.jinja"
echo "model $model, $rows rows x $tokens tokens, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for s in "${slots[@]}"; do
  rm -f "$dir"/out*
  echo -n "parallel $s: "
  "$build/lineage" batch -m "$model" --input "$dir/data.jsonl" --output "$dir/out.jsonl" \
    --template "$dir/prompt.jinja" --parallel "$s" -n "$tokens" --ignore-eos --temp 0 -t 2 2>&1 \
    | grep '^batch: [0-9]* rows:' | sed 's/.*this run: //'
done
