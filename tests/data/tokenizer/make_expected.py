#!/usr/bin/python3
"""Expected SentencePiece ids for the tokenizer corpus.

The truth comes from SentencePiece itself (Debian's python3-sentencepiece) run
on the original .model files, not from this project's tokenizer.

    make_expected.py            rewrite corpus.<name>.out next to this script
    make_expected.py --print MODEL [CORPUS]
                                print the ids for each case on stdout (the
                                unit test runs this when python3 is present)

Normalization: both .model files use SentencePiece's "identity" normalizer
with add_dummy_prefix on and remove_extra_whitespaces off, so SentencePiece
changes nothing in the text beyond the dummy prefix and space escaping, which
the GGUF files carry (tokenizer.ggml.add_space_prefix, default true). The
corpus therefore needs no restriction to avoid normalization rules; the one
text it must avoid is a literal U+2581, which SentencePiece (and a GGUF
tokenizer) reads as an escaped space, so it does not decode back to itself.

corpus.txt holds the cases, each followed by a line "__ggml_vocab_test__"
(the convention of shared/vocab/*.inp); an .out file has one line of
space-separated ids per case, without BOS.
"""
import os
import sys

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
SEP = "\n__ggml_vocab_test__\n"
SHARED = os.environ.get("LINEAGE_SHARED_DIR", os.path.join(HERE, "..", "..", "..", "..", "shared"))

# name of the .out file -> SentencePiece model it is made with
MODELS = {
    "llama2": os.path.join(SHARED, "vocab", "llama2-tokenizer.model"),
    "shakespeare": os.path.join(SHARED, "models", "shakespeare-5M.tokenizer.model"),
}


def read_cases(path):
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    parts = text.split(SEP)
    # The text ends with a separator, which leaves one empty tail.
    if parts[-1] != "":
        sys.exit(f"{path}: the last case is not followed by a separator line")
    return parts[:-1]


def encode_all(model_path, cases):
    sp = spm.SentencePieceProcessor(model_file=model_path)
    return [sp.encode(c) for c in cases]


def format_ids(rows):
    return "".join(" ".join(str(i) for i in row) + "\n" for row in rows)


def main(argv):
    if len(argv) >= 2 and argv[0] == "--print":
        corpus = argv[2] if len(argv) > 2 else os.path.join(HERE, "corpus.txt")
        sys.stdout.write(format_ids(encode_all(argv[1], read_cases(corpus))))
        return 0
    if argv:
        sys.exit(__doc__)
    cases = read_cases(os.path.join(HERE, "corpus.txt"))
    for name, model in MODELS.items():
        out = os.path.join(HERE, f"corpus.{name}.out")
        with open(out, "w", encoding="utf-8") as f:
            f.write(format_ids(encode_all(model, cases)))
        print(f"wrote {out} ({len(cases)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
