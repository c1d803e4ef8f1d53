"""`tokenize` as a user runs it, checked against the shared vocabularies' expected ids."""
import unittest

from cli_common import run, shared

SEP = "\n__ggml_vocab_test__\n"


def cases(name):
    with open(shared("vocab", f"ggml-vocab-{name}.gguf.inp"), encoding="utf-8") as f:
        inputs = f.read().split(SEP)
    with open(shared("vocab", f"ggml-vocab-{name}.gguf.out"), encoding="utf-8") as f:
        outputs = f.read().split("\n")
    return list(zip(inputs, outputs))


def ids(*args):
    code, out, err = run("tokenize", *args)
    assert code == 0, err
    text = out.decode().strip()
    assert text.startswith("[") and text.endswith("]"), text
    return [int(x) for x in text[1:-1].split(",") if x.strip()]


class Tokenize(unittest.TestCase):
    def test_matches_reference_ids(self):
        for name in ("llama-spm", "llama-bpe"):
            model = shared("vocab", f"ggml-vocab-{name}.gguf")
            for text, expected in cases(name)[:12]:
                if not text or text.startswith("-"):
                    continue  # an argument starting with '-' reads as an option
                want = [int(x) for x in expected.split()]
                self.assertEqual(ids("-m", model, "--ids", "--no-bos", "--no-special", text), want, (name, text))

    def test_bos_and_special_tokens(self):
        model = shared("vocab", "ggml-vocab-llama-bpe.gguf")
        # Llama 3 adds BOS (128000); special-token text becomes the token unless --no-special.
        self.assertEqual(ids("-m", model, "--ids", "Hello world"), [128000, 9906, 1917])
        self.assertEqual(ids("-m", model, "--ids", "Hello<|eot_id|>"), [128000, 9906, 128009])
        self.assertEqual(ids("-m", model, "--ids", "--no-bos", "--no-special", "<|eot_id|>"), [27, 91, 68, 354, 851, 91, 29])
        # A prompt that already starts with BOS does not get a second one.
        self.assertEqual(ids("-m", model, "--ids", "<|begin_of_text|>Hello"), [128000, 9906])

    def test_listing_shows_pieces(self):
        code, out, err = run("tokenize", "-m", shared("models", "shakespeare-5M.gguf"), "ROMEO:")
        self.assertEqual(code, 0, err)
        self.assertEqual(out.decode().split("\n")[:3], ["     1 -> '<s>'", "   870 -> ' ROMEO'", "   983 -> ':'"])

    def test_no_vocabulary_is_a_clear_error(self):
        code, out, err = run("tokenize", "-m", shared("golden", "llamacpp", "moe-13-F32.gguf"), "--ids", "hi")
        self.assertEqual(code, 0, err)  # that file does carry a small vocabulary
        code, out, err = run("tokenize", "-m", "/nonexistent.gguf", "hi")
        self.assertEqual(code, 1)
        self.assertTrue(err.startswith("error: "), err)


if __name__ == "__main__":
    unittest.main()
