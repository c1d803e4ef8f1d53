#!/usr/bin/env bash
# Generation speed with a JSON schema against without, on one model:
# alternates the two `lineage run`s so both see the same neighbours' load,
# prints each round's generated tokens/s and the median ratio (schema / none),
# and the ratio of whole-process CPU seconds (user + system), which the
# neighbours' load disturbs less.
#   bench/grammar_bench.sh BIN MODEL [rounds] [run args...]
# e.g. bench/grammar_bench.sh build/lineage bench/models/tinyllama-q4_0.gguf 5 -n 128 -t 2
set -euo pipefail
bin=$1 model=$2 rounds=${3:-5}
shift $(( $# > 2 ? 3 : $# ))
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(-n 128 -t 2)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Eight people: long enough that the output is still open at -n 128, so both
# runs generate the same number of tokens; strings, integers and structure.
cat >"$tmp/schema.json" <<'JSON'
{"type": "array", "minItems": 8, "maxItems": 8, "items": {"type": "object",
 "properties": {"name": {"type": "string", "maxLength": 40}, "age": {"type": "integer", "minimum": 0, "maximum": 120},
                "city": {"type": "string", "maxLength": 40}},
 "required": ["name", "age", "city"]}}
JSON
prompt=$'Here is a JSON array of eight fictional people, each with a name, an age and a city:\n'
rate() {  # the "generated N tokens, X tok/s" of a run's stderr
  sed -n 's/.*generated \([0-9]*\) tokens, \([0-9.]*\) tok\/s.*/\1 \2/p' "$1"
}
for i in $(seq "$rounds"); do
  /usr/bin/time -f "cpu %U %S" -o "$tmp/ca$i.txt" \
    "$bin" run -m "$model" -p "$prompt" --temp 0 --ignore-eos --no-display-prompt "${args[@]}" >/dev/null 2>"$tmp/a$i.txt"
  /usr/bin/time -f "cpu %U %S" -o "$tmp/cb$i.txt" \
    "$bin" run -m "$model" -p "$prompt" --temp 0 --ignore-eos --no-display-prompt "${args[@]}" \
    --json-schema "$tmp/schema.json" >/dev/null 2>"$tmp/b$i.txt"
  echo "round $i: none $(rate "$tmp/a$i.txt") | schema $(rate "$tmp/b$i.txt")  (tokens, tok/s)"
done
/usr/bin/python3 - "$tmp" "$rounds" <<'PY'
import re, statistics, sys
d, n = sys.argv[1], int(sys.argv[2])
def rate(path):
    m = re.search(r"generated (\d+) tokens, ([\d.]+) tok/s", open(path).read())
    return int(m.group(1)), float(m.group(2))
def cpu(path):
    _, user, system = open(path).read().split()[-3:]
    return float(user) + float(system)
ratios, cpus = [], []
for i in range(1, n + 1):
    (na, a), (nb, b) = rate(f"{d}/a{i}.txt"), rate(f"{d}/b{i}.txt")
    assert na == nb, "the runs generated different numbers of tokens: %d and %d" % (na, nb)
    ratios.append(b / a)
    cpus.append(cpu(f"{d}/cb{i}.txt") / cpu(f"{d}/ca{i}.txt"))
print("schema / none tok/s: median %.3f (range %.3f-%.3f)" % (statistics.median(ratios), min(ratios), max(ratios)))
print("schema / none CPU seconds per run: median %.3f (range %.3f-%.3f)" % (statistics.median(cpus), min(cpus), max(cpus)))
PY
