#!/usr/bin/env bash
# A/B comparison of two lineage binaries on one model, alternating them so
# both see the same neighbours' load: prints each round's tokens/s of each
# and their ratio (B / A), then the median ratio.
#   bench/ab.sh A_BIN B_BIN MODEL [rounds] [bench args...]
# e.g. bench/ab.sh /tmp/lineage-old build/lineage bench/models/tinyllama-q4_0.gguf 5 -p 512 -n 0 -t 2
# The ratio of cpu_ts (tokens per CPU-second) is printed too: with -t 1 it
# stays meaningful when the machine is oversubscribed.
set -euo pipefail
a=$1 b=$2 model=$3 rounds=${4:-5}
shift $(( $# > 3 ? 4 : $# ))
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(-p 512 -n 128 -t 2)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for i in $(seq "$rounds"); do
  "$a" bench -m "$model" -r 1 --json "${args[@]}" >"$tmp/a$i.json"
  "$b" bench -m "$model" -r 1 --json "${args[@]}" >"$tmp/b$i.json"
done
/usr/bin/python3 - "$tmp" "$rounds" <<'PY'
import json, statistics, sys
d, n = sys.argv[1], int(sys.argv[2])
rows = {}
for i in range(1, n + 1):
    for side in "ab":
        for r in json.load(open(f"{d}/{side}{i}.json")):
            rows.setdefault(r["test"], {"a": [], "b": []})[side].append(r)
for test, s in rows.items():
    wall = [b["avg_ts"] / a["avg_ts"] for a, b in zip(s["a"], s["b"])]
    cpu = [b["cpu_ts"] / a["cpu_ts"] for a, b in zip(s["a"], s["b"]) if "cpu_ts" in a and "cpu_ts" in b]
    fmt = lambda side: " ".join("%.1f" % r["avg_ts"] for r in s[side])
    print(f"{test}: A {fmt('a')} | B {fmt('b')}")
    line = f"{test}: B/A wall median {statistics.median(wall):.2f}x (range {min(wall):.2f}-{max(wall):.2f})"
    if cpu:
        line += f", cpu-time median {statistics.median(cpu):.2f}x"
    print(line)
PY
