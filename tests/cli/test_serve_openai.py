"""`lineage serve` through the official OpenAI client (npm `openai`, pinned in
tests/npm) on the demo model.

Truths: greedy answers equal `lineage run --temp 0` on the same prompt text
(the chat prompt rendered from the model's template by @huggingface/jinja,
not by lineage), with run's own token counts and stop reason; token
log-probabilities equal log_softmax of the logits `lineage eval` prints for
the same ids; embedding token counts come from Python's sentencepiece."""
import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import numpy as np  # noqa: E402

from cli_common import BIN  # noqa: E402
from gguf_read import read_gguf  # noqa: E402
from serve_common import MODEL, NODE, NPM, Server, openai_client, run_greedy  # noqa: E402

KEY = "sk-test-0123456789"
FINISH = {"eos": "stop", "stop": "stop", "length": "length", "context": "length"}


def render_oracle(template, messages):
    """The chat prompt as @huggingface/jinja renders the template."""
    with tempfile.TemporaryDirectory() as d:
        tpl = os.path.join(d, "t.jinja")
        ctx = os.path.join(d, "c.json")
        with open(tpl, "w") as f:
            f.write(template)
        with open(ctx, "w") as f:
            json.dump({"messages": messages, "add_generation_prompt": True, "bos_token": "<s>", "eos_token": "</s>"}, f)
        p = subprocess.run([NODE, os.path.join(NPM, "render_template.mjs"), tpl, ctx], capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr.decode()
        return p.stdout.decode()


class ServeOpenAI(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("--parallel", "4", "--ctx-size", "256", "--api-key", KEY)
        cls.template = read_gguf(MODEL)[0]["tokenizer.chat_template"]

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        assert code == 0, "lineage serve exited with %s:\n%s" % (code, "".join(cls.server.log[-30:]))

    def client(self, ops, key=KEY):
        return openai_client(self.server, ops, key)

    def test_chat_matches_run(self):
        messages = [{"role": "system", "content": "A street in Verona."},
                    {"role": "user", "content": "Where is fair Juliet tonight?"}]
        prompt = render_oracle(self.template, messages)
        text, stop, n_prompt, n_gen = run_greedy(prompt, 24)
        base = {"model": "x", "messages": messages, "temperature": 0, "max_tokens": 24}
        whole, stream, stream_nousage = self.client([
            {"op": "chat", "params": base},
            {"op": "chat", "params": dict(base, stream=True, stream_options={"include_usage": True})},
            {"op": "chat", "params": dict(base, stream=True)},
        ])
        r = whole["response"]
        self.assertEqual(r["object"], "chat.completion")
        self.assertEqual(r["choices"][0]["message"]["role"], "assistant")
        self.assertEqual(r["choices"][0]["message"]["content"], text)
        self.assertEqual(r["choices"][0]["finish_reason"], FINISH[stop])
        self.assertEqual(r["usage"], {"prompt_tokens": n_prompt, "completion_tokens": n_gen,
                                      "total_tokens": n_prompt + n_gen})
        self.assertEqual(stream["content"], text)
        self.assertEqual(stream["finish_reason"], FINISH[stop])
        self.assertEqual(stream["usage"], r["usage"])
        self.assertGreater(stream["chunks"], 2)
        self.assertEqual(stream_nousage["content"], text)
        self.assertIsNone(stream_nousage["usage"])

    def test_completion_matches_run(self):
        for prompt, n in (("ROMEO:", 40), ("The king is dead, and", 16)):
            text, stop, n_prompt, n_gen = run_greedy(prompt, n)
            base = {"model": "x", "prompt": prompt, "temperature": 0, "max_tokens": n}
            whole, stream = self.client([
                {"op": "completion", "params": base},
                {"op": "completion", "params": dict(base, stream=True, stream_options={"include_usage": True})},
            ])
            r = whole["response"]
            self.assertEqual(r["object"], "text_completion")
            self.assertEqual(r["choices"][0]["text"], text, prompt)
            self.assertEqual(r["choices"][0]["finish_reason"], FINISH[stop])
            self.assertEqual(r["usage"]["prompt_tokens"], n_prompt)
            self.assertEqual(r["usage"]["completion_tokens"], n_gen)
            self.assertEqual(stream["text"], text)
            self.assertEqual(stream["finish_reason"], FINISH[stop])
            self.assertEqual(stream["usage"], r["usage"])

    def test_concurrent_streams_equal_one_at_a_time(self):
        prompts = ["ROMEO:", "JULIET:", "KING HENRY:", "First Citizen:\nBefore we proceed",
                   "O, what a rogue", "To be, or not", "MENENIUS:\nWhat work's", "Now is the winter"]
        ops = [{"op": "completion", "params": {"model": "x", "prompt": p, "temperature": 0, "max_tokens": 32,
                                               "stream": True}} for p in prompts]
        ops += [{"op": "chat", "params": {"model": "x", "temperature": 0, "max_tokens": 24, "stream": True,
                                          "messages": [{"role": "user", "content": p}]}} for p in prompts[:2]]
        together, *alone = self.client([{"op": "parallel", "ops": ops}] + ops)
        self.assertEqual(len(together), len(alone))
        for a, b in zip(together, alone):
            self.assertEqual(a, dict(b, chunks=a["chunks"]))
        self.assertTrue(any(r.get("text") for r in alone))

    def test_chat_logprobs(self):
        base = {"model": "x", "temperature": 0, "max_tokens": 12, "logprobs": True, "top_logprobs": 3,
                "messages": [{"role": "user", "content": "Speak, speak."}]}
        whole, stream = self.client([{"op": "chat", "params": base},
                                     {"op": "chat", "params": dict(base, stream=True)}])
        content = whole["response"]["choices"][0]["logprobs"]["content"]
        text = whole["response"]["choices"][0]["message"]["content"]
        self.assertEqual(len(content), whole["response"]["usage"]["completion_tokens"])
        self.assertEqual(content, stream["logprobs"])
        joined = b"".join(bytes(e["bytes"]) for e in content).decode("utf-8", "replace")
        self.assertTrue(joined.startswith(text), (joined, text))
        for e in content:
            self.assertTrue(math.isfinite(e["logprob"]) and e["logprob"] <= 0, e)
            self.assertEqual(len(e["top_logprobs"]), 3)
            tops = [t["logprob"] for t in e["top_logprobs"]]
            self.assertEqual(tops, sorted(tops, reverse=True))
            self.assertTrue(all(math.isfinite(t) and t <= 0 for t in tops))
            # Greedy: the chosen token is the most likely one.
            self.assertEqual(e["top_logprobs"][0]["logprob"], e["logprob"])
            self.assertEqual(e["top_logprobs"][0]["bytes"], e["bytes"])

    def test_completion_logprobs_equal_eval(self):
        prompt_ids = [1, 870, 983]  # BOS "ROMEO:"
        r = self.client([{"op": "completion", "params": {"model": "x", "prompt": prompt_ids, "temperature": 0,
                                                          "max_tokens": 6, "logprobs": 2}}])[0]["response"]
        lp = r["choices"][0]["logprobs"]
        n = len(lp["tokens"])
        self.assertEqual(n, r["usage"]["completion_tokens"])
        self.assertGreater(n, 0)
        # The same continuation from `lineage eval`, and its logits.
        p = subprocess.run([BIN, "eval", "-m", MODEL, "-t", "1", "--ids", ",".join(map(str, prompt_ids)),
                            "--greedy", str(n)], capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        greedy = [json.loads(l)["greedy"] for l in p.stdout.decode().splitlines() if l.startswith('{"greedy"')][0]
        ids = prompt_ids + greedy[:-1]
        p = subprocess.run([BIN, "eval", "-m", MODEL, "-t", "1", "--ids", ",".join(map(str, ids))],
                           capture_output=True, timeout=120)
        rows = [json.loads(l)["logits"] for l in p.stdout.decode().splitlines() if l.startswith('{"pos"')]
        self.assertEqual(lp["text_offset"][0], 0)
        for k in range(n):
            logits = np.array(rows[len(prompt_ids) - 1 + k], dtype=np.float64)
            logp = logits - logits.max() - np.log(np.exp(logits - logits.max()).sum())
            self.assertAlmostEqual(lp["token_logprobs"][k], logp[greedy[k]], delta=1e-4)
            top2 = sorted(logp, reverse=True)[:2]
            self.assertEqual(len(lp["top_logprobs"][k]), len(set(lp["top_logprobs"][k])))
            for got, want in zip(sorted(lp["top_logprobs"][k].values(), reverse=True), top2):
                self.assertAlmostEqual(got, want, delta=1e-4)
            if k:
                self.assertEqual(lp["text_offset"][k],
                                 lp["text_offset"][k - 1] + len(lp["tokens"][k - 1].encode()))

    def test_embeddings(self):
        import sentencepiece as spm
        sp = spm.SentencePieceProcessor(model_file=os.path.join(os.path.dirname(MODEL), "shakespeare-5M.tokenizer.model"))
        texts = ["O Romeo, Romeo!", "wherefore art thou", "O Romeo, Romeo!"]
        r, one = self.client([{"op": "embeddings", "params": {"model": "x", "input": texts, "encoding_format": "float"}},
                              {"op": "embeddings", "params": {"model": "x", "input": texts[1],
                                                              "encoding_format": "float"}}])
        self.assertEqual(r["object"], "list")
        self.assertEqual([d["index"] for d in r["data"]], [0, 1, 2])
        vecs = [np.array(d["embedding"]) for d in r["data"]]
        for v in vecs:
            self.assertEqual(v.shape, (256,))  # the model's hidden size
            self.assertAlmostEqual(float(np.linalg.norm(v)), 1.0, delta=1e-5)
        self.assertTrue(np.array_equal(vecs[0], vecs[2]))
        self.assertFalse(np.allclose(vecs[0], vecs[1]))
        self.assertTrue(np.array_equal(np.array(one["data"][0]["embedding"]), vecs[1]))
        # BOS plus the text's pieces, for each input.
        self.assertEqual(r["usage"]["prompt_tokens"], sum(1 + len(sp.encode(t)) for t in texts))

    def test_models_and_errors_through_client(self):
        models, bad_n, too_long = self.client([
            {"op": "models"},
            {"op": "chat", "params": {"model": "x", "n": 2, "messages": [{"role": "user", "content": "hi"}]}},
            {"op": "completion", "params": {"model": "x", "prompt": "ROMEO:", "max_tokens": 500}},
        ])
        bad_key, = self.client([{"op": "models"}], key="sk-wrong")
        self.assertEqual(models["ids"], ["shakespeare-5M.gguf"])
        self.assertEqual(bad_n["error"]["status"], 400)
        self.assertEqual(bad_n["error"]["body"]["param"], "n")
        self.assertEqual(bad_key["error"]["status"], 401)
        self.assertEqual(too_long["error"]["status"], 400)
        self.assertEqual(too_long["error"]["body"]["code"], "context_length_exceeded")

    def test_api_key_raw(self):
        body = {"model": "x", "prompt": "ROMEO:", "max_tokens": 2}
        status, _, err = self.server.post("/v1/completions", body)
        self.assertEqual(status, 401)
        self.assertEqual(err["error"]["code"], "invalid_api_key")
        status, _, _ = self.server.post("/v1/completions", body, {"Authorization": "Bearer sk-test-012345678"})
        self.assertEqual(status, 401)
        status, _, _ = self.server.post("/v1/completions", body, {"Authorization": "Bearer " + KEY})
        self.assertEqual(status, 200)
        status, _, _ = self.server.request("GET", "/health")  # health checks need no key
        self.assertEqual(status, 200)
        self.assertFalse(any(KEY in line for line in self.server.log), "the key must never be logged")


if __name__ == "__main__":
    unittest.main()
