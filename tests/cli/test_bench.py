"""`bench`: the JSON report's shape and sanity on the demo model, on every
instruction set (speed itself is never asserted), and its bad-input errors."""
import json
import math
import os
import unittest

from cli_common import run, SOURCE
from gguf_read import read_gguf

MODEL = os.path.join(SOURCE, "models", "shakespeare-5M.gguf")
KEYS = {"test", "n_prompt", "n_gen", "n_threads", "avg_ts", "stddev_ts", "samples_ts", "model_size", "model_type",
        "peak_rss_bytes"}


def run_isa(isa, *args):
    old = os.environ.get("LINEAGE_ISA")
    os.environ["LINEAGE_ISA"] = isa
    try:
        return run(*args)
    finally:
        if old is None:
            del os.environ["LINEAGE_ISA"]
        else:
            os.environ["LINEAGE_ISA"] = old


class Bench(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        _, tensors = read_gguf(MODEL)
        cls.model_bytes = sum(len(data) for _, _, data in tensors.values())

    def check_report(self, out, reps, threads):
        rows = json.loads(out)
        self.assertIsInstance(rows, list)
        self.assertEqual([r["test"] for r in rows], ["pp24", "tg5"])
        for r in rows:
            self.assertTrue(KEYS <= set(r), KEYS - set(r))
            self.assertEqual(r["n_threads"], threads)
            self.assertEqual(len(r["samples_ts"]), reps)
            self.assertTrue(all(math.isfinite(s) and s > 0 for s in r["samples_ts"]))
            mean = sum(r["samples_ts"]) / reps
            self.assertAlmostEqual(r["avg_ts"], mean, delta=1e-6 * mean)
            self.assertGreaterEqual(r["stddev_ts"], 0)
            self.assertLessEqual(r["stddev_ts"], max(r["samples_ts"]) - min(r["samples_ts"]) + 1e-9)
            self.assertEqual(r["model_size"], self.model_bytes)
            self.assertTrue(r["model_type"].startswith("llama "), r["model_type"])
            # The whole file is mapped and read, so it is resident at the peak.
            self.assertGreaterEqual(r["peak_rss_bytes"], self.model_bytes)
            self.assertLess(r["peak_rss_bytes"], 2 << 30)
        self.assertEqual((rows[0]["n_prompt"], rows[0]["n_gen"]), (24, 0))
        self.assertEqual((rows[1]["n_prompt"], rows[1]["n_gen"]), (0, 5))

    def test_json_on_every_isa(self):
        for isa in ("scalar", "avx2", "avx512"):
            with self.subTest(isa=isa):
                code, out, err = run_isa(isa, "bench", "-m", MODEL, "-p", "24", "-n", "5", "-r", "3", "-t", "2",
                                         "--json")
                self.assertEqual(code, 0, err)
                self.check_report(out, 3, 2)

    def test_table(self):
        code, out, err = run("bench", "-m", MODEL, "-p", "24", "-n", "5", "-r", "2", "-t", "1")
        self.assertEqual(code, 0, err)
        text = out.decode()
        self.assertIn("pp24", text)
        self.assertIn("tg5", text)
        self.assertIn("+-", text)

    def test_bad_input(self):
        code, out, err = run("bench", "-m", os.path.join(SOURCE, "no-such-model.gguf"), "-p", "4", "-n", "1")
        self.assertEqual(code, 1)
        self.assertIn("error:", err)
        self.assertEqual(out, b"")
        for bad in (["-r", "0"], ["-t", "0"], ["-p", "-3"], ["-p", "x"]):
            with self.subTest(args=bad):
                code, out, err = run("bench", "-m", MODEL, *bad)
                self.assertNotEqual(code, 0)
                self.assertEqual(out, b"")
                self.assertTrue(err.strip())


if __name__ == "__main__":
    unittest.main()
