#!/usr/bin/env python3
"""Expected pre-tokenizer splits, from the published patterns run by Python's
`regex` module (pip regex or Debian python3-regex), the engine these patterns
were written for. Writes pretokenize.json next to this script:

    {"<pre name>": [[text, [word, ...]], ...], ...}

Only pre-tokenizers that are a single pattern are covered here; the
multi-pattern ones are checked end to end by the shared/vocab .inp/.out files.
"""
import json
import os

import regex

HERE = os.path.dirname(os.path.abspath(__file__))

PATTERNS = {
    # GPT-2 (encoder.py in openai/gpt-2)
    "gpt-2": r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
    # cl100k_base, used by Llama 3
    "llama-bpe": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
    # o200k_base, used by Llama 4
    "llama4": "|".join([
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]),
}

TEXTS = [
    "Hello world",
    "HelloWorld's CamelCASEWord iPhone XMLHttpRequest",
    "don't WON'T I'M we'll They've she'D",
    "  leading, trailing  ",
    "a  b   c\t\td\n\n\ne    \n  \t \nend",
    "x\r\ny\r\n\r\nz",
    "1 12 123 1234 12345 1234567 3.14159 1,000,000 \u0661\u0662\u0663\u0664",
    "def f(x):\n    return x**2  # square\n",
    "path/to/file.txt https://example.com/a/b?c=d",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8 \ud55c\uad6d\uc5b4 \u4e2d\u6587",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645 \u0939\u093f\u0928\u094d\u0926\u0940",
    "e\u0301t\u00e9 na\u0308ive \u00c6gir \u01c5ungla stra\u00dfe",
    "emoji \U0001F999\U0001F916 \U0001F468\u200d\U0001F469\u200d\U0001F467 !!! ...",
    "nbsp\u00a0here ideographic\u3000space line\u2028sep",
    "<|eot_id|> [INST] {\"k\": [1, 2]}",
    "   ",
    "\n",
]


def main():
    out = {}
    for name, pattern in PATTERNS.items():
        rx = regex.compile(pattern)
        rows = []
        for t in TEXTS:
            words = rx.findall(t)
            assert "".join(words) == t, (name, t)
            rows.append([t, words])
        out[name] = rows
    path = os.path.join(HERE, "pretokenize.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
