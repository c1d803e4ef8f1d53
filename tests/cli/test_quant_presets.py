"""`quantize` presets choose each tensor's type as the common quantizer does.

Truth: the golden files tiny-11-PRESET.gguf, written by the reference
quantizer, list the type it chose for every tensor; quantizing the same
shape with the same preset must choose the same types and write the same
general.file_type. (The types depend only on names, shapes and layer
counts; the Q8_0, Q4_0, Q4_K_M and Q6_K files were made from tiny-11-F32,
the others from a model of the same shape.)
"""
import os
import struct
import unittest

from cli_common import run, shared, tmpdir
from gguf_read import read_gguf

GOLDEN = shared("golden", "llamacpp")
SOURCE = os.path.join(GOLDEN, "tiny-11-F32.gguf")
FILE_TYPES = {"Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10, "Q3_K_M": 12, "Q4_K_M": 15,
              "Q5_K_M": 17, "Q6_K": 18}


class Presets(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tmpdir()

    def quantize(self, src, preset, *extra):
        out = os.path.join(self.dir, f"{os.path.basename(src)}.{preset}.gguf")
        code, _, err = run("quantize", src, out, preset, *extra)
        self.assertEqual(code, 0, err)
        return out

    def test_every_tensor_type_matches_the_reference_quantizer(self):
        for preset, file_type in FILE_TYPES.items():
            with self.subTest(preset=preset):
                meta, ours = read_gguf(self.quantize(SOURCE, preset))
                ref_meta, ref = read_gguf(os.path.join(GOLDEN, f"tiny-11-{preset}.gguf"))
                self.assertEqual(set(ours), set(ref))
                for name, (t, dims, _) in ours.items():
                    self.assertEqual((t, dims), ref[name][:2], f"{preset} {name}")
                self.assertEqual(meta["general.file_type"], file_type)
                self.assertEqual(ref_meta["general.file_type"], file_type)
                self.assertEqual(meta["general.quantization_version"], 2)

    def test_pure_uses_one_type(self):
        _, ours = read_gguf(self.quantize(SOURCE, "Q4_K_M", "--pure"))
        for name, (t, dims, _) in ours.items():
            self.assertEqual(t, 12 if len(dims) >= 2 else 0, name)


class BadQuantizeInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tmpdir()
        with open(SOURCE, "rb") as f:
            cls.good = f.read()

    def write(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def assert_clean_failure(self, args, *needles):
        code, _, err = run(*args)
        self.assertGreater(code, 0, f"exit {code} (a negative code is a signal: a crash)\n{err}")
        lines = [l for l in err.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("error: "), err)
        for n in needles:
            self.assertIn(n, lines[0])
        self.assertNotIn("Sanitizer", err)

    def test_unknown_preset(self):
        out = os.path.join(self.dir, "x.gguf")
        self.assert_clean_failure(["quantize", SOURCE, out, "Q4_K_X"], "Q4_K_X", "Q4_K_M")
        self.assertFalse(os.path.exists(out))

    def test_non_finite_weights_in_a_k_preset(self):
        _, tensors = read_gguf(SOURCE)
        blob = tensors["blk.1.ffn_down.weight"][2][:64]
        data = bytearray(self.good)
        at = data.find(blob)
        self.assertGreater(at, 0)
        struct.pack_into("<f", data, at + 4, float("inf"))
        src = self.write("inf.gguf", data)
        out = os.path.join(self.dir, "inf-q4km.gguf")
        self.assert_clean_failure(["quantize", src, out, "Q4_K_M"], "blk.1.ffn_down.weight", "inf")
        self.assertFalse(os.path.exists(out))

    def test_truncated_input(self):
        for keep in (10, 5000, len(self.good) - 1000):
            src = self.write(f"cut{keep}.gguf", self.good[:keep])
            out = os.path.join(self.dir, f"cut{keep}-out.gguf")
            self.assert_clean_failure(["quantize", src, out, "Q5_K_M"], src)
            self.assertFalse(os.path.exists(out))

    def test_same_input_and_output(self):
        self.assert_clean_failure(["quantize", SOURCE, SOURCE, "Q6_K"], "differ")


if __name__ == "__main__":
    unittest.main()
