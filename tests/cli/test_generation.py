"""`run` and `eval` on the two trained models reproduce their reference outputs."""
import json
import unittest

from cli_common import run, shared, SOURCE
import os


class DemoModel(unittest.TestCase):
    def setUp(self):
        with open(shared("models", "shakespeare-5M.expected.json")) as f:
            self.cases = json.load(f)["cases"]
        self.model = shared("models", "shakespeare-5M.gguf")

    def test_eval_greedy_ids_match_pytorch(self):
        for case in self.cases:
            ids = ",".join(str(i) for i in case["prompt_ids_with_bos"])
            code, out, err = run("eval", "-m", self.model, "--ids", ids, "--greedy", str(len(case["greedy_ids"])))
            self.assertEqual(code, 0, err)
            lines = out.decode().splitlines()
            self.assertEqual(json.loads(lines[0])["tokens"], case["prompt_ids_with_bos"])
            self.assertEqual(len(lines), 2 + len(case["prompt_ids_with_bos"]))
            self.assertEqual(json.loads(lines[-1])["greedy"], case["greedy_ids"], case["prompt"])

    def test_run_streams_the_greedy_text_and_stops_at_the_blank_line(self):
        for case in self.cases:
            code, out, err = run("run", "-m", self.model, "-p", case["prompt"], "-n", "120", "--temp", "0")
            self.assertEqual(code, 0, err)
            # The model's stop string "\n\n" ends the speech; nothing after it is printed.
            expected = case["greedy_text"]
            cut = expected.find("\n\n", len(case["prompt"]))
            if cut >= 0:
                expected = expected[:cut]
            self.assertEqual(out.decode(), expected + "\n", case["prompt"])
            self.assertIn("prompt", err)
            self.assertIn("tok/s", err)
            self.assertIn("load", err)

    def test_bundled_demo_model_is_the_shared_one(self):
        with open(os.path.join(SOURCE, "models", "shakespeare-5M.gguf"), "rb") as a, open(self.model, "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_seeded_sampling_is_reproducible(self):
        args = ("run", "-m", self.model, "-p", "ROMEO:", "-n", "40", "--temp", "0.8", "--top-p", "0.95",
                "--seed", "7", "--no-display-prompt", "--ignore-eos")
        a, b = run(*args), run(*args)
        self.assertEqual(a[0], 0, a[2])
        self.assertEqual(a[1], b[1])
        c = run(*args[:-3], "8", "--no-display-prompt", "--ignore-eos")
        self.assertNotEqual(a[1], c[1])

    def test_user_stop_string(self):
        code, out, err = run("run", "-m", self.model, "-p", "ROMEO:", "-n", "60", "--temp", "0",
                             "--stop", "lord", "--no-display-prompt")
        self.assertEqual(code, 0, err)
        self.assertEqual(out.decode(), "\nThen, my \n")


class EvalMatchesGolden(unittest.TestCase):
    """`eval` prints the golden files' format, with logits that agree with them."""

    def check(self, name, exact):
        with open(shared("golden", "llamacpp", f"{name}.logits.jsonl")) as f:
            lines = [json.loads(l) for l in f if l.strip()]
        tokens = lines[0]["tokens"]
        code, out, err = run("eval", "-m", shared("golden", "llamacpp", f"{name}.gguf"),
                             "--ids", ",".join(map(str, tokens)))
        self.assertEqual(code, 0, err)
        ours = [json.loads(l) for l in out.decode().splitlines()]
        self.assertEqual(ours[0], {"tokens": tokens})
        self.assertEqual(len(ours), len(lines))
        for g, o in zip(lines[1:], ours[1:]):
            self.assertEqual(g["pos"], o["pos"])
            a, b = g["logits"], o["logits"]
            self.assertEqual(len(a), len(b))
            if exact:
                scale = max(abs(x) for x in a)
                self.assertLess(max(abs(x - y) for x, y in zip(a, b)), 1e-3 * scale, g["pos"])
            else:
                dot = sum(x * y for x, y in zip(a, b))
                cos = dot / (sum(x * x for x in a) ** 0.5 * sum(y * y for y in b) ** 0.5)
                self.assertGreaterEqual(cos, 0.999, g["pos"])

    def test_f32(self):
        self.check("tiny-11-F32", True)

    def test_q4_k_m(self):
        self.check("tiny-11-Q4_K_M", False)


class AiDreams(unittest.TestCase):
    def test_greedy_text(self):
        with open(shared("models", "aidreams260K.expected.json")) as f:
            cases = json.load(f)["cases"]
        model = shared("models", "aidreams260K.gguf")
        for case in cases:
            # run.c evaluates 64 positions and also prints the token chosen at
            # the last one, so 65 - len(prompt) tokens are generated.
            n = 65 - len(case["prompt_ids_with_bos"])
            code, out, err = run("run", "-m", model, "-p", case["prompt"], "-n", str(n), "--temp", "0", "--ignore-eos")
            self.assertEqual(code, 0, err)
            self.assertEqual(out.decode(), case["greedy_text_64_positions"] + "\n", case["prompt"])


if __name__ == "__main__":
    unittest.main()
