"""`lineage serve` with response_format through the official OpenAI client
(npm `openai`) on the demo model.

Truths: every json_schema / json_object answer parses (Python's json) and
validates against its schema with ajv + ajv-formats (tests/npm), streamed
or whole, also with max_tokens as short as the shortest valid document; a
schema the server cannot honour is a 400 in OpenAI's error shape; answers
generated together with other constrained requests equal the same requests
answered one at a time."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from serve_common import Server, openai_client  # noqa: E402
from test_grammar import SCHEMAS, validate  # noqa: E402


def chat(schema_name, seed, max_tokens=None, stream=False, temperature=1.0):
    schema, shortest = SCHEMAS[schema_name]
    # A limit below the shortest document could not hold a complete one.
    max_tokens = max_tokens or max(96, len(shortest) + 24)
    return {"op": "chat", "params": {
        "model": "x", "seed": seed, "temperature": temperature, "max_tokens": max_tokens, "stream": stream,
        "messages": [{"role": "user", "content": "Describe it in JSON."}],
        "response_format": {"type": "json_schema",
                            "json_schema": {"name": schema_name, "schema": schema, "strict": True}}}}


def content(result):
    if result.get("kind") == "stream":
        return result["content"], result["finish_reason"]
    choice = result["response"]["choices"][0]
    return choice["message"]["content"], choice["finish_reason"]


class ServeGrammar(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("--parallel", "4", "--ctx-size", "256")

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        assert code == 0, "lineage serve exited with %s:\n%s" % (code, "".join(cls.server.log[-30:]))

    def test_answers_validate(self):
        ops, schemas = [], []
        for name in ["person", "event", "tree", "point"]:
            for seed, stream in [(1, False), (2, True)]:
                ops.append(chat(name, seed, stream=stream))
                schemas.append(SCHEMAS[name][0])
            shortest = SCHEMAS[name][1]
            ops.append(chat(name, 3, max_tokens=len(shortest)))
            schemas.append(SCHEMAS[name][0])
        ops.append({"op": "chat", "params": {
            "model": "x", "seed": 4, "max_tokens": 64, "response_format": {"type": "json_object"},
            "messages": [{"role": "user", "content": "JSON please."}]}})
        schemas.append({"type": "object"})
        results = openai_client(self.server, ops)
        texts = []
        for r in results:
            self.assertNotIn("error", r)
            text, finish = content(r)
            self.assertIn(finish, ("stop", "length"))
            json.loads(text, strict=True)
            texts.append(text)
        verdicts = validate(list(zip(schemas, texts)))
        self.assertEqual([i for i, v in enumerate(verdicts) if not v["valid"]], [], texts)

    def test_together_equals_alone(self):
        ops = [chat("person", 11), chat("tree", 12), chat("point", 13, stream=True), chat("event", 14)]
        together, *alone = openai_client(self.server, [{"op": "parallel", "ops": ops}] + ops)
        self.assertEqual([content(r) for r in together], [content(r) for r in alone])

    def test_bad_response_format_is_a_400(self):
        bad_schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {
            "type": "object", "properties": {"a": {"type": "string", "pattern": "^a"}}}}}
        ops = [{"op": "chat", "params": {"model": "x", "response_format": rf,
                                         "messages": [{"role": "user", "content": "hi"}]}}
               for rf in [bad_schema, {"type": "xml"}, {"type": "json_schema"},
                          {"type": "json_schema", "json_schema": {"name": "bad name!", "schema": {}}}]]
        results = openai_client(self.server, ops)
        for r in results:
            self.assertEqual(r["error"]["status"], 400, r)
            body = r["error"]["body"]
            self.assertEqual(body["param"], "response_format")
            self.assertEqual(body["type"], "invalid_request_error")
        self.assertEqual(results[0]["error"]["body"]["code"], "invalid_json_schema")
        self.assertIn("keyword 'pattern' is not supported", results[0]["error"]["body"]["message"])
        text = {"op": "chat", "params": {"model": "x", "max_tokens": 8, "seed": 1, "response_format": {"type": "text"},
                                         "messages": [{"role": "user", "content": "hi"}]}}
        r, = openai_client(self.server, [text])
        self.assertNotIn("error", r)


if __name__ == "__main__":
    unittest.main()
