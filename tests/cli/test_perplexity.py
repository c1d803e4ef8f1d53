"""`perplexity` on the demo model, and the quality of every quantization preset.

Truths: the F16 demo model's perplexity on the held-out text with a context of
256 is 28.26 as the common engine measures it (models/README.md); the mean KL
divergence from the F16 model that the common quantizer's presets reach on the
same text (DESIGN.md) is an upper bound for lineage's presets.
"""
import json
import os
import re
import unittest

from cli_common import run, shared, tmpdir

MODEL = shared("models", "shakespeare-5M.gguf")
TEXT = shared("models", "shakespeare-val.txt")
# Mean KL(F16 || preset) of the common quantizer on this model and text.
PUBLISHED_KL = {"Q8_0": 0.00010, "Q6_K": 0.00066, "Q5_K_M": 0.0017, "Q4_K_M": 0.0059, "Q4_0": 0.0092, "Q3_K_M": 0.018,
                "Q2_K": 0.082}


class Perplexity(unittest.TestCase):
    def test_f16_demo_model(self):
        code, out, err = run("perplexity", "-m", MODEL, "-f", TEXT, "-c", "256", timeout=900)
        self.assertEqual(code, 0, err)
        text = out.decode()
        self.assertRegex(text, r"^\[1\]\d+\.\d+,\[2\]")
        ppl = float(re.search(r"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)", text).group(1))
        self.assertAlmostEqual(ppl, 28.26, delta=0.05)

    @unittest.skipIf(os.environ.get("LINEAGE_SANITIZED") == "1",
                     "quality measurement over seven presets: runs in the optimized build")
    def test_presets_reach_the_common_quantizers_kl(self):
        d = tmpdir()
        files = []
        for preset in PUBLISHED_KL:
            out = os.path.join(d, f"{preset}.gguf")
            code, _, err = run("quantize", MODEL, out, preset, timeout=900)
            self.assertEqual(code, 0, err)
            files.append(out)
        args = ["perplexity", "-f", TEXT, "-c", "256", "--kl-base", MODEL, "--json"]
        for f in files:
            args += ["-m", f]
        code, out, err = run(*args, timeout=1800)
        self.assertEqual(code, 0, err)
        results = {os.path.basename(r["file"])[:-5]: r for r in json.loads(out)}
        for preset, bound in PUBLISHED_KL.items():
            with self.subTest(preset=preset):
                r = results[preset]
                self.assertLessEqual(r["kl_mean"], bound)
                self.assertAlmostEqual(r["base"]["ppl"], 28.26, delta=0.05)
                self.assertGreater(r["top1"], 0.8)


class BadPerplexityInput(unittest.TestCase):
    def assert_clean_failure(self, args, *needles):
        code, _, err = run(*args)
        self.assertGreater(code, 0, f"exit {code} (a negative code is a signal: a crash)\n{err}")
        lines = [l for l in err.splitlines() if l.strip() and not l.startswith("lineage: ")]
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("error: "), err)
        for n in needles:
            self.assertIn(n, lines[0])

    def test_text_too_short_for_two_chunks(self):
        d = tmpdir()
        short = os.path.join(d, "short.txt")
        with open(short, "w") as f:
            f.write("To be, or not to be, that is the question.\n")
        self.assert_clean_failure(["perplexity", "-m", MODEL, "-f", short], "needs at least 512")

    def test_missing_text_file(self):
        self.assert_clean_failure(["perplexity", "-m", MODEL, "-f", "/nonexistent.txt"], "/nonexistent.txt")

    def test_base_with_another_vocabulary(self):
        other = shared("models", "aidreams260K.gguf")
        self.assert_clean_failure(["perplexity", "-m", MODEL, "-f", TEXT, "--kl-base", other], "vocabulary")

    def test_several_models_need_a_base(self):
        self.assert_clean_failure(["perplexity", "-m", MODEL, "-m", MODEL, "-f", TEXT], "--kl-base")


if __name__ == "__main__":
    unittest.main()
