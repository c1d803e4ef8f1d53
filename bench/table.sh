#!/usr/bin/env bash
# The reference table of docs/BENCHMARKS.md: pp512 and tg128 on the
# TinyLlama-1.1B shape (random weights, real LLaMA 2 vocabulary) in Q4_0,
# Q8_0, Q4_K_M and F16, beside llama.cpp's numbers for the same machine type.
#   bench/table.sh [-b BUILD] [-r REPS] [-t THREADS] [TYPE...]
# Models are written once into bench/models/ (ignored by git). Q4_K_M is
# made by `lineage quantize` from the F16 file; where that preset is not
# available the row says so. Each test is run REPS times inside one
# `lineage bench` process after a warm-up; the t/s columns are the mean and
# standard deviation of those runs.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build reps=5 threads=2
while getopts "b:r:t:" o; do
  case $o in
    b) build=$OPTARG ;; r) reps=$OPTARG ;; t) threads=$OPTARG ;;
    *) echo "usage: $0 [-b build] [-r reps] [-t threads] [q4_0 q8_0 q4_k_m f16]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
types=("${@:-q4_0 q8_0 q4_k_m f16}")
read -r -a types <<<"${types[*]}"
bin=$build/lineage
shared=../shared
vocab=$shared/vocab/ggml-vocab-llama-spm.gguf
mkdir -p bench/models

model_for() {
  local t=$1 m=bench/models/tinyllama-$1.gguf
  if [ ! -s "$m" ]; then
    case $t in
      q4_0|q8_0) /usr/bin/python3 $shared/tools/mkmodel.py --preset tinyllama-1.1b --dtype "$t" --fast \
                   --vocab-from $vocab -o "$m" >/dev/null ;;
      f16) /usr/bin/python3 $shared/tools/mkmodel.py --preset tinyllama-1.1b --dtype f16 \
                   --vocab-from $vocab -o "$m" >/dev/null ;;
      q4_k_m) model_for f16 >/dev/null
              "$bin" quantize bench/models/tinyllama-f16.gguf "$m" Q4_K_M >/dev/null 2>&1 || { rm -f "$m"; return 1; } ;;
      *) echo "unknown type $t" >&2; exit 2 ;;
    esac
  fi
  echo "$m"
}

# llama.cpp (Feb 2025 build, 2 threads) on the same kind of 2-core AVX-512 VM.
declare -A ref_pp=([q4_0]=194 [q8_0]=128 [q4_k_m]=86 [f16]=147)
declare -A ref_tg=([q4_0]=62.5 [q8_0]=31.2 [q4_k_m]=45.0 [f16]=22.7)

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs, $threads threads, $reps reps, $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "| type   | llama.cpp pp512 | lineage pp512    |  ratio | llama.cpp tg128 | lineage tg128    |  ratio | peak RSS |"
echo "|--------|----------------:|------------------|-------:|----------------:|------------------|-------:|---------:|"
for t in "${types[@]}"; do
  if ! m=$(model_for "$t"); then
    printf "| %-6s | %15.1f | %-16s | %6s | %15.1f | %-16s | %6s | %8s |\n" "$t" "${ref_pp[$t]}" "n/a (no model)" "" "${ref_tg[$t]}" "n/a" "" ""
    continue
  fi
  json=$("$bin" bench -m "$m" -p 512 -n 128 -r "$reps" -t "$threads" --json)
  /usr/bin/python3 - "$t" "${ref_pp[$t]}" "${ref_tg[$t]}" "$json" <<'PY'
import json, sys
t, rpp, rtg, js = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
res = {r["test"]: r for r in json.loads(js)}
def cell(name):
    r = res[name]
    return f"{r['avg_ts']:.1f} +- {r['stddev_ts']:.1f}", r["avg_ts"]
pp, ppv = cell("pp512")
tg, tgv = cell("tg128")
rss = max(r["peak_rss_bytes"] for r in res.values()) / 2**20
print(f"| {t:<6} | {rpp:15.1f} | {pp:<16} | {ppv / rpp:5.2f}x | {rtg:15.1f} | {tg:<16} | {tgv / rtg:5.2f}x | {rss:4.0f} MiB |")
PY
done
