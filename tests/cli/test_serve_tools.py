"""Tool calling end to end, with the Llama 3.1 chat template given to the
demo model (--chat-template): a request with tools, an assistant tool call
and a tool result renders exactly as @huggingface/jinja renders the same
conversation (HF's apply_chat_template receives tool-call arguments as
objects), the prompt has the token count Python's sentencepiece gives that
text, and the official client gets well-formed answers. (The demo model
never writes a real call; the parser is tested on canned outputs in
tests/unit/server_tool_calls_test.cpp.)"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cli_common import shared  # noqa: E402
from serve_common import MODEL, NODE, NPM, Server, openai_client  # noqa: E402

TEMPLATE = shared("templates", "meta-llama-Llama-3.1-8B-Instruct.jinja")
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city today",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
MESSAGES = [
    {"role": "system", "content": "You answer briefly."},
    {"role": "user", "content": "How warm is it in Verona?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_abc", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\": \"Verona\"}"}}]},
    {"role": "tool", "tool_call_id": "call_abc", "content": "{\"celsius\": 21}"},
]


def oracle_render(messages, tools):
    """The prompt @huggingface/jinja renders, given the conversation the way
    transformers' apply_chat_template takes it (arguments as objects)."""
    hf = []
    for m in messages:
        m = dict(m)
        if "tool_calls" in m:
            m["tool_calls"] = [{"type": "function", "function": {
                "name": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"])}}
                for c in m["tool_calls"]]
            del m["content"]
        hf.append(m)
    with tempfile.TemporaryDirectory() as d:
        ctx = os.path.join(d, "c.json")
        with open(ctx, "w") as f:
            json.dump({"messages": hf, "tools": tools, "add_generation_prompt": True,
                       "bos_token": "<s>", "eos_token": "</s>"}, f)
        p = subprocess.run([NODE, os.path.join(NPM, "render_template.mjs"), TEMPLATE, ctx],
                           capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr.decode()
        return p.stdout.decode()


class ServeTools(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("--chat-template", TEMPLATE, "--parallel", "2", "--ctx-size", "1024")

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        assert code == 0, "lineage serve exited with %s:\n%s" % (code, "".join(cls.server.log[-30:]))

    def test_tools_render_as_the_reference(self):
        import sentencepiece as spm
        sp = spm.SentencePieceProcessor(model_file=os.path.join(os.path.dirname(MODEL), "shakespeare-5M.tokenizer.model"))
        want = oracle_render(MESSAGES, TOOLS)
        self.assertIn('{"name": "get_weather", "parameters": {"city": "Verona"}}', want)
        status, _, data = self.server.post("/apply-template", {"messages": MESSAGES, "tools": TOOLS})
        self.assertEqual(status, 200, data)
        self.assertEqual(data["prompt"], want)
        # The template starts with bos_token ("<s>"), which is read as BOS;
        # the demo vocabulary has none of Llama 3's control tokens, so all
        # the rest is text.
        self.assertTrue(want.startswith("<s>"))
        n_prompt = 1 + len(sp.encode(want[3:]))
        self.assertEqual(data["n_tokens"], n_prompt)

        # tool_choice none: the tools are not offered.
        status, _, data = self.server.post("/apply-template", {"messages": MESSAGES[:2], "tools": TOOLS,
                                                               "tool_choice": "none"})
        self.assertEqual(data["prompt"], oracle_render(MESSAGES[:2], None))

        base = {"model": "x", "messages": MESSAGES, "tools": TOOLS, "max_tokens": 16, "temperature": 0}
        whole, stream = openai_client(self.server, [
            {"op": "chat", "params": base},
            {"op": "chat", "params": dict(base, stream=True, stream_options={"include_usage": True})}])
        r = whole["response"]
        self.assertEqual(r["usage"]["prompt_tokens"], n_prompt)
        self.assertEqual(stream["usage"], r["usage"])
        msg = r["choices"][0]["message"]
        self.assertIn(r["choices"][0]["finish_reason"], ("stop", "length", "tool_calls"))
        if r["choices"][0]["finish_reason"] != "tool_calls":
            self.assertEqual(stream["content"], msg["content"])

    def test_template_errors_are_400(self):
        # The Llama 3.1 template refuses two calls in one assistant message.
        two = dict(MESSAGES[2], tool_calls=MESSAGES[2]["tool_calls"] * 2)
        status, _, data = self.server.post("/v1/chat/completions",
                                           {"messages": MESSAGES[:2] + [two], "tools": TOOLS})
        self.assertEqual(status, 400, data)
        self.assertIn("single tool-calls", data["error"]["message"])


if __name__ == "__main__":
    unittest.main()
