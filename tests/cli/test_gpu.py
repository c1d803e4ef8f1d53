"""The GPU options end to end: --gpu, -ngl and --device on run, bench,
perplexity and serve. Every machine runs them on the reference device
(--device ref), which runs the device forward pass on the CPU; with
LINEAGE_TEST_DEVICE=cuda (scripts/gpu_check.sh on a GPU machine) the same
checks run on the GPU.

Truths: the CPU forward pass of the same file (greedy text, perplexity),
answers of concurrent requests equal to the same requests one at a time,
and clear errors for what the device path cannot do."""
import concurrent.futures
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cli_common import run, shared, tmpdir as run_dir  # noqa: E402
from serve_common import Server  # noqa: E402

MODEL = shared("models", "shakespeare-5M.gguf")
DEVICE = os.environ.get("LINEAGE_TEST_DEVICE", "ref")
PROMPT = "ROMEO:\nWhat light through yonder window"


def generate(*extra, prompt=PROMPT, n=48):
    code, out, err = run("run", "-m", MODEL, "-p", prompt, "-n", str(n), "--temp", "0", "-t", "2", *extra)
    assert code == 0, err
    return out.decode()


class GpuRun(unittest.TestCase):
    def test_greedy_text_equals_the_cpu(self):
        cpu = generate()
        self.assertEqual(generate("--gpu", "--device", DEVICE), cpu)
        # llama.cpp's spelling, and a split with the first layers on the CPU.
        self.assertEqual(generate("-ngl", "999", "--device", DEVICE), cpu)
        self.assertEqual(generate("-ngl", "2", "--device", DEVICE), cpu)
        self.assertEqual(generate("--n-gpu-layers", "0", "--device", DEVICE), cpu)

    def test_perplexity_close_to_the_cpu(self):
        text = os.path.join(run_dir(), "text.txt")
        with open(shared("models", "shakespeare-val.txt"), encoding="utf-8") as f:
            data = f.read()
        with open(text, "w", encoding="utf-8") as f:
            f.write(data[:2500])

        def ppl(*extra):
            code, out, err = run("perplexity", "-m", MODEL, "-f", text, "-c", "128", "-t", "2", "--json", *extra)
            self.assertEqual(code, 0, err)
            return json.loads(out)["ppl"]

        cpu, dev = ppl(), ppl("--gpu", "--device", DEVICE)
        self.assertAlmostEqual(dev / cpu, 1.0, delta=0.01)

    def test_bench_reports_the_device(self):
        code, out, err = run("bench", "-m", MODEL, "--gpu", "--device", DEVICE, "-p", "32", "-n", "8", "-r", "1",
                             "--json")
        self.assertEqual(code, 0, err)
        rows = json.loads(out)
        self.assertEqual([r["test"] for r in rows], ["pp32", "tg8"])
        for r in rows:
            self.assertGreater(r["avg_ts"], 0)
            self.assertNotEqual(r["backend"], r["isa"])
            self.assertGreater(r["n_gpu_layers"], 0)

    def test_errors_are_clear(self):
        # A type without device kernels names itself; the same file runs with
        # its layers on the CPU.
        q41 = shared("golden", "llamacpp", "tiny-11-Q4_1.gguf")
        code, _, err = run("run", "-m", q41, "-p", "a", "-n", "2", "--gpu", "--device", DEVICE)
        self.assertEqual(code, 1)
        self.assertIn("Q4_1", err)
        code, _, err = run("run", "-m", q41, "-p", "a", "-n", "2", "-ngl", "0", "--device", DEVICE)
        self.assertEqual(code, 0, err)
        code, _, err = run("run", "-m", MODEL, "-p", "a", "-n", "2", "--gpu", "--device", "tpu:0")
        self.assertEqual(code, 1)
        self.assertIn("unknown device", err)
        code, _, err = run("run", "-m", MODEL, "-p", "a", "-n", "2", "-ngl", "-3")
        self.assertNotEqual(code, 0)
        # Without a GPU (or without the CUDA build), --gpu says why.
        if DEVICE == "ref":
            env_device = os.environ.pop("LINEAGE_DEVICE", None)
            try:
                code, _, err = run("run", "-m", MODEL, "-p", "a", "-n", "2", "--gpu")
            finally:
                if env_device is not None:
                    os.environ["LINEAGE_DEVICE"] = env_device
            if code != 0:
                self.assertEqual(code, 1)
                self.assertRegex(err, "LINEAGE_CUDA|no CUDA GPU")


class GpuServe(unittest.TestCase):
    """Requests decoded together on the device equal the same requests one at
    a time (each step's batch shape differs, the answers must not)."""

    def test_concurrent_equals_sequential(self):
        prompts = ["ROMEO:", "JULIET:\nO Romeo", "First Citizen:\nBefore we proceed", "KING:", "HAMLET:\nTo be"]

        def ask(server, i, p):
            status, _, body = server.post("/v1/completions", {
                "model": "x", "prompt": p, "max_tokens": 24 + 4 * i, "temperature": 0})
            self.assertEqual(status, 200, body)
            return body["choices"][0]["text"]

        with Server("--parallel", "4", "--ctx-size", "256", "--gpu", "--device", DEVICE) as s:
            one_by_one = [ask(s, i, p) for i, p in enumerate(prompts)]
            with concurrent.futures.ThreadPoolExecutor(len(prompts)) as ex:
                together = list(ex.map(lambda ip: ask(s, *ip), enumerate(prompts)))
        self.assertEqual(together, one_by_one)
        # The CPU's answers to the same requests.
        with Server("--parallel", "1", "--ctx-size", "256") as s:
            cpu = [ask(s, i, p) for i, p in enumerate(prompts)]
        self.assertEqual(one_by_one, cpu)

if __name__ == "__main__":
    unittest.main()
