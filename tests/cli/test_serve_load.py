"""A short run of the load test (tests/load/load.py): 16 streaming clients
on 4 slots for a few seconds against `lineage serve` on the demo model.
Every greedy answer under load must equal the same prompt answered alone
(no request sees another's output), with no errors. The 64-client, 60 s
run and its latency and memory figures are in docs/RELIABILITY.md."""
import json
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
LOAD = os.path.join(HERE, "..", "load", "load.py")
BIN = os.environ["LINEAGE_BIN"]
MODEL = os.path.join(os.environ["LINEAGE_SHARED_DIR"], "models", "shakespeare-5M.gguf")


class ServeLoad(unittest.TestCase):
    def test_concurrent_clients_get_their_own_answers(self):
        p = subprocess.run([sys.executable, LOAD, "--bin", BIN, "-m", MODEL, "--clients", "16", "--parallel", "4",
                            "--threads", "1", "--seconds", "6", "--max-tokens", "24", "--json"],
                           capture_output=True, text=True, timeout=600)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        report = json.loads(p.stdout.strip().splitlines()[-1])
        self.assertEqual(report["errors"], 0, p.stderr)
        self.assertEqual(report["mismatches"], 0, p.stderr)
        self.assertGreater(report["requests"], 16)


if __name__ == "__main__":
    unittest.main()
