"""`lineage batch --json-schema`: every answer written is the parsed JSON
value and validates against the schema under Ajv (the npm oracle, with
ajv-formats); rows whose answer cannot be completed go to the errors file;
greedy answers are the same with 1 and 4 slots; a changed schema refuses to
resume; a bad schema file stops the run before any work."""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cli_common import SOURCE, run, tmpdir  # noqa: E402

MODEL = os.path.join(SOURCE, "models", "shakespeare-5M.gguf")
NPM = os.environ.get("LINEAGE_NPM_DIR", os.path.join(SOURCE, "tests", "npm"))
SCHEMA = {
    "type": "object",
    "properties": {
        "play": {"enum": ["comedy", "tragedy", "history"]},
        "speaker": {"type": "string", "maxLength": 12},
        "lines": {"type": "integer", "minimum": 1, "maximum": 20},
        "moods": {"type": "array", "items": {"enum": ["grief", "mirth", "rage"]}, "maxItems": 2},
        "fair": {"type": "boolean"},
    },
    "required": ["play", "speaker", "lines", "fair"],
    "additionalProperties": False,
}
TEXTS = ["the king is dead", "o gentle night", "a rose by any other name", "now is the winter",
         "friends, romans, countrymen", "to be or not to be", "my kingdom for a horse", "out, damned spot"]


class BatchSchema(unittest.TestCase):
    def setUp(self):
        self.dir = tmpdir()
        self.input = os.path.join(self.dir, "data.jsonl")
        self.template = os.path.join(self.dir, "prompt.jinja")
        self.schema = os.path.join(self.dir, "schema.json")
        with open(self.input, "w") as f:
            for i, t in enumerate(TEXTS):
                f.write(json.dumps({"id": "q%d" % i, "text": t}) + "\n")
        with open(self.template, "w") as f:
            f.write("Describe in JSON: {{ text }}\n")
        with open(self.schema, "w") as f:
            json.dump(SCHEMA, f)

    def batch(self, output, *more):
        return run("batch", "-m", MODEL, "--input", self.input, "--output", output, "--template", self.template,
                   "--json-schema", self.schema, "-n", "96", "--temp", "0", "-t", "1", *more, timeout=600)

    def read(self, path):
        if not os.path.exists(path):
            return {}
        with open(path) as f:
            return {json.dumps(j["id"]): j for j in map(json.loads, f.read().splitlines())}

    def test_answers_validate_under_ajv(self):
        out = os.path.join(self.dir, "out.jsonl")
        code, _, err = self.batch(out, "--parallel", "4")
        self.assertIn(code, (0, 2), err)
        res, errors = self.read(out), self.read(os.path.join(self.dir, "out.errors.jsonl"))
        self.assertEqual(sorted(list(res) + list(errors)), sorted(json.dumps("q%d" % i) for i in range(len(TEXTS))))
        self.assertGreater(len(res), 0, errors)
        for j in res.values():
            self.assertIsInstance(j["answer"], dict)
        # A row fails only when the answer ran out of tokens before the
        # grammar let it end.
        for e in errors.values():
            self.assertIn("token limit", e["error"])
        p = subprocess.run(["/usr/bin/node", os.path.join(NPM, "batch_validate.mjs"), self.schema, out],
                           capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())
        self.assertEqual(json.loads(p.stdout)["rows"], len(res))
        # `lineage run --json-schema` on the same prompt gives the same value.
        for i in (0, 5):
            key = json.dumps("q%d" % i)
            if key not in res:
                continue
            code3, out3, err3 = run("run", "-m", MODEL, "-p", "Describe in JSON: " + TEXTS[i], "--json-schema",
                                    self.schema, "-n", "96", "--temp", "0", "--no-display-prompt", "-t", "1")
            self.assertEqual(code3, 0, err3)
            self.assertEqual(json.loads(out3), res[key]["answer"])
        # The same greedy answers one row at a time.
        seq = os.path.join(self.dir, "seq.jsonl")
        code2, _, err = self.batch(seq, "--parallel", "1")
        self.assertEqual(code2, code, err)
        self.assertEqual(self.read(seq), res)
        # Another schema shapes other answers: no resume.
        with open(self.schema, "w") as f:
            json.dump(dict(SCHEMA, required=["play"]), f)
        code, _, err = self.batch(seq)
        self.assertEqual(code, 1)
        self.assertIn("json_schema_fnv64", err)

    def test_bad_schema_file(self):
        out = os.path.join(self.dir, "out.jsonl")
        with open(self.schema, "w") as f:
            f.write("{not json")
        code, _, err = self.batch(out)
        self.assertEqual(code, 1)
        self.assertIn("not valid JSON", err)
        with open(self.schema, "w") as f:
            f.write("[1, 2]")
        code, _, err = self.batch(out)
        self.assertEqual(code, 1)
        self.assertIn("a JSON Schema is an object", err)
        os.remove(self.schema)
        code, _, err = self.batch(out)
        self.assertEqual(code, 1)
        self.assertIn("no such schema file", err)
        self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    unittest.main()
