"""`quantize --reference-rounding` writes Q8_0 and Q4_0 blocks bit-identical to
the reference quantizer's; without it the searched blocks are at least as close
to the weights (in plain squared error) block by block."""
import json
import os
import unittest

from cli_common import run, shared, tmpdir
from gguf_read import read_gguf

GOLDEN = shared("golden", "llamacpp")


class Quantize(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tmpdir()

    def quantize(self, src, type_name, *flags):
        out = os.path.join(self.dir, f"{os.path.basename(src)}.{type_name}{''.join(flags)}.gguf")
        code, _, err = run("quantize", src, out, type_name, *flags)
        self.assertEqual(code, 0, err)
        return out

    def check_against_golden(self, type_name, type_id):
        ours_meta, ours = read_gguf(self.quantize(os.path.join(GOLDEN, "tiny-11-F32.gguf"), type_name,
                                                  "--reference-rounding"))
        _, ref = read_gguf(os.path.join(GOLDEN, f"tiny-11-{type_name}.gguf"))
        _, src = read_gguf(os.path.join(GOLDEN, "tiny-11-F32.gguf"))
        self.assertEqual(set(ours), set(src))
        compared = 0
        for name, (t, dims, data) in ours.items():
            if len(dims) >= 2:
                self.assertEqual(t, ref[name][0], name)  # the preset's type for this matrix
            else:
                self.assertEqual((t, data), src[name][0::2], name)  # norms copied unchanged
            if ref[name][0] == type_id and t == type_id:
                self.assertEqual(dims, ref[name][1], name)
                self.assertTrue(data == ref[name][2], f"{name}: blocks differ from the reference quantizer")
                compared += 1
        self.assertGreaterEqual(compared, 15)
        self.assertEqual(ours_meta["general.file_type"], {"Q8_0": 7, "Q4_0": 2}[type_name])
        return ours_meta

    def test_q8_0_bit_identical(self):
        self.check_against_golden("Q8_0", 8)

    def test_q4_0_bit_identical(self):
        self.check_against_golden("Q4_0", 2)

    def test_searched_blocks_are_closer_than_the_reference_rule(self):
        import numpy as np
        from quant_decode import DECODERS
        src_path = os.path.join(GOLDEN, "tiny-11-F32.gguf")
        _, src = read_gguf(src_path)
        for type_name in ("Q8_0", "Q4_0"):
            _, searched = read_gguf(self.quantize(src_path, type_name))
            _, fixed = read_gguf(self.quantize(src_path, type_name, "--reference-rounding"))
            total = {"searched": 0.0, "fixed": 0.0}
            for name, (t, dims, data) in searched.items():
                if len(dims) < 2 or t != fixed[name][0] or t not in (2, 8):
                    continue
                x = np.frombuffer(src[name][2], dtype=np.float32)
                for key, blocks in (("searched", data), ("fixed", fixed[name][2])):
                    y = DECODERS[t](blocks)
                    total[key] += float(np.sum((x - y) ** 2))
            with self.subTest(type=type_name):
                self.assertLess(total["searched"], total["fixed"])

    def test_quantized_demo_model_still_generates_the_same_speech(self):
        out = self.quantize(shared("models", "shakespeare-5M.gguf"), "Q8_0")
        with open(shared("models", "shakespeare-5M.expected.json")) as f:
            case = json.load(f)["cases"][0]
        ids = ",".join(str(i) for i in case["prompt_ids_with_bos"])
        code, stdout, err = run("eval", "-m", out, "--ids", ids, "--greedy", "20")
        self.assertEqual(code, 0, err)
        greedy = json.loads(stdout.decode().splitlines()[-1])["greedy"]
        # Q8_0 keeps the argmax on a trained model for the first tokens.
        self.assertEqual(greedy[:10], case["greedy_ids"][:10])


if __name__ == "__main__":
    unittest.main()
