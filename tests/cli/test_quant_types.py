"""Q4_1, Q5_0, Q5_1, Q2_K, Q3_K and Q5_K files end to end.

The truth for dequantization is quant_decode.py, a numpy decoder written from
the format description: it must land close to the F32 model the golden files
were quantized from (which pins the layouts), and `lineage quantize ... Q8_0`
of a golden file, which dequantizes every matrix with lineage's kernels and
requantizes it with the reference Q8_0 quantizer, must equal byte for byte
the numpy decoding requantized the same way. `eval` must then agree with the
logits the reference engine computed from the same files.
"""
import json
import os
import unittest

import numpy as np

from cli_common import run, shared, tmpdir
from gguf_read import read_gguf
from quant_decode import DECODERS, TYPE_NAMES, quantize_q8_0

FILES = ["Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_M", "Q5_K_M"]
# These six files were quantized from one random model whose F32 original is
# not shipped, so the decodings are checked against each other: every tensor
# against its decodings from the files with 5-bit types (Q5_0, Q5_1,
# Q5_K_M), within the relative RMS error the type's bits allow. A wrong
# layout decorrelates a tensor (relative error ~1.4).
REFERENCES = ["Q5_0", "Q5_1", "Q5_K_M"]
MAX_REL_RMS = {"Q2_K": 0.40, "Q3_K": 0.22, "Q4_1": 0.12, "Q4_K": 0.12, "Q5_0": 0.08, "Q5_1": 0.08, "Q5_K": 0.08,
               "Q6_K": 0.07}
GQ8_0 = 8


def golden(name):
    return shared("golden", "llamacpp", f"tiny-11-{name}.gguf")


def rel_rms(y, x):
    y, x = y.astype(np.float64), x.astype(np.float64)
    return float(np.sqrt(np.sum((y - x) ** 2) / np.sum(x ** 2)))


class NumpyDecoder(unittest.TestCase):
    """The numpy decoder itself, before it serves as the truth."""

    def test_k_types_decode_close_to_the_f32_source(self):
        # Q4_K and Q6_K files of the shipped F32 model: the shared K-type
        # helpers (6-bit scale packing, 16/32-value groups) against the truth.
        f32 = read_gguf(golden("F32"))[1]
        for name, t_want, bound in (("Q4_K_M", 12, 0.12), ("Q6_K", 14, 0.02)):
            checked = 0
            for tname, (t, _, data) in read_gguf(golden(name))[1].items():
                if t == t_want:
                    x = np.frombuffer(f32[tname][2], dtype="<f4")
                    self.assertLess(rel_rms(DECODERS[t](data), x), bound, f"{name} {tname}")
                    checked += 1
            self.assertGreater(checked, 0, name)

    def test_decodings_agree_across_files(self):
        files = {n: read_gguf(golden(n))[1] for n in FILES}
        seen = set()
        for tname, (t0, _, _) in files["Q5_1"].items():
            if t0 == 0:
                continue
            decoded = {n: DECODERS[f[tname][0]](f[tname][2]) for n, f in files.items()}
            for n, f in files.items():
                tn = TYPE_NAMES[f[tname][0]]
                seen.add(tn)
                for ref in REFERENCES:
                    if ref != n:
                        self.assertLess(rel_rms(decoded[n], decoded[ref]), MAX_REL_RMS[tn], f"{n} {tname} {tn} vs {ref}")
        self.assertTrue({"Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q5_K"} <= seen, seen)

    def test_hand_built_q3_k_block(self):
        # Scales 0..15 stored as j + 32 - 8 = j + 24 (signed j - 8), every
        # value's two low bits 1 and its high bit set for odd 32-value groups.
        stored = [j + 24 for j in range(16)]
        packed = bytearray(12)
        for j, v in enumerate(stored):
            if j < 8:
                packed[j] |= v & 15
            else:
                packed[j - 8] |= (v & 15) << 4
            packed[8 + j % 4] |= (v >> 4) << (2 * (j // 4))
        hmask = bytes([0b10101010] * 32)
        qs = bytes([0b01010101] * 64)
        block = hmask + qs + bytes(packed) + np.float16(0.5).tobytes()
        y = DECODERS[11](block)
        for v in range(256):
            q = (1 | (((v // 32) % 2) << 2)) - 4
            self.assertEqual(y[v], np.float32(0.5 * (v // 16 - 8) * q), v)


class LineageDequantizesLikeNumpy(unittest.TestCase):
    """Every matrix goes through lineage's to_float, then the Q8_0 quantizer
    (bit-identical to the reference one, see test_quantize.py)."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tmpdir()

    def check(self, name):
        out = os.path.join(self.dir, f"{name}-q8.gguf")
        code, _, err = run("quantize", golden(name), out, "Q8_0", "--pure", "--reference-rounding", "-t", "2")
        self.assertEqual(code, 0, err)
        _, src = read_gguf(golden(name))
        _, ours = read_gguf(out)
        converted = 0
        for tname, (t, dims, data) in src.items():
            ot, odims, odata = ours[tname]
            self.assertEqual(odims, dims, tname)
            if ot == t:
                self.assertEqual(odata, data, tname)
                continue
            self.assertEqual(ot, GQ8_0, tname)
            want = quantize_q8_0(DECODERS[t](data))
            self.assertEqual(len(odata), len(want), tname)
            if odata != want:
                a = np.frombuffer(odata, dtype=np.uint8)
                b = np.frombuffer(want, dtype=np.uint8)
                first = int(np.nonzero(a != b)[0][0])
                self.fail(f"{tname} ({TYPE_NAMES[t]}): first differing byte {first} of {len(want)}")
            converted += 1
        self.assertGreater(converted, 10)

    def test_q4_1(self):
        self.check("Q4_1")

    def test_q5_0(self):
        self.check("Q5_0")

    def test_q5_1(self):
        self.check("Q5_1")

    def test_q2_k(self):
        self.check("Q2_K")

    def test_q3_k_m(self):
        self.check("Q3_K_M")

    def test_q5_k_m(self):
        self.check("Q5_K_M")


class EvalAgainstGoldenLogits(unittest.TestCase):
    """The rule of DESIGN.md: cosine >= 0.999 at every position and the same
    argmax wherever the golden top two differ by more than 0.1."""

    def check(self, name):
        with open(shared("golden", "llamacpp", f"tiny-11-{name}.logits.jsonl")) as f:
            lines = [json.loads(l) for l in f if l.strip()]
        tokens = lines[0]["tokens"]
        code, out, err = run("eval", "-m", golden(name), "--ids", ",".join(map(str, tokens)))
        self.assertEqual(code, 0, err)
        ours = [json.loads(l) for l in out.decode().splitlines()]
        self.assertEqual(ours[0], {"tokens": tokens})
        self.assertEqual(len(ours), len(lines))
        for g, o in zip(lines[1:], ours[1:]):
            a, b = np.array(g["logits"], dtype=np.float64), np.array(o["logits"], dtype=np.float64)
            self.assertEqual(a.shape, b.shape)
            cos = a @ b / np.sqrt((a @ a) * (b @ b))
            self.assertGreaterEqual(cos, 0.999, f"{name} position {g['pos']}")
            top2 = np.sort(a)[-2:]
            if top2[1] - top2[0] > 0.1:
                self.assertEqual(int(np.argmax(b)), int(np.argmax(a)), f"{name} position {g['pos']}")

    def test_every_new_type(self):
        for name in FILES:
            with self.subTest(name):
                self.check(name)


class Inspect(unittest.TestCase):
    def test_lists_the_types_of_a_mixed_file(self):
        code, out, err = run("inspect", golden("Q3_K_M"))
        self.assertEqual(code, 0, err)
        rows = {}
        for line in out.decode().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(".weight"):
                rows[parts[0]] = parts[1]
        _, tensors = read_gguf(golden("Q3_K_M"))
        self.assertEqual(rows, {k: TYPE_NAMES[v[0]] for k, v in tensors.items()})
        self.assertTrue({"Q3_K", "Q4_K", "Q5_K", "Q6_K"} <= set(rows.values()))


if __name__ == "__main__":
    unittest.main()
