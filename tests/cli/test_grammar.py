"""Constrained generation end to end: `lineage run --json-schema` and
`--grammar` on the demo model (SentencePiece, 1,024 tokens) and on random
models made with mkmodel.py from a LLaMA 2 SentencePiece vocabulary (byte
fallback) and a Llama 3 byte-level BPE vocabulary, whose outputs are noise
the grammar has to hold in shape.

Truths: every output of a schema run parses as JSON (Python's json) and
validates against the schema with ajv + ajv-formats (tests/npm), for several
schemas, seeds and temperatures, including a token limit exactly as long as
the shortest valid document; every output of a GBNF run matches a Python
regular expression written independently of the grammar."""
import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cli_common import BIN, run, shared, tmpdir  # noqa: E402

NPM = os.environ.get("LINEAGE_NPM_DIR", "tests/npm")
NODE = "/usr/bin/node" if os.path.exists("/usr/bin/node") else "node"
DEMO = shared("models", "shakespeare-5M.gguf")

# (schema, the shortest valid document: a token limit this long always fits)
SCHEMAS = {
    "person": ({
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 12},
            "age": {"type": "integer", "minimum": 0, "maximum": 120},
            "email": {"type": "string", "format": "email"},
            "tags": {"type": "array", "items": {"enum": ["poet", "king", "fool"]}, "maxItems": 3},
        },
        "required": ["name", "age"],
        "additionalProperties": False,
    }, '{"name":"","age":0}'),
    "event": ({
        "type": "object",
        "properties": {
            "title": {"type": "string", "minLength": 1, "maxLength": 20},
            "date": {"type": "string", "format": "date"},
            "start": {"type": "string", "format": "date-time"},
            "id": {"type": "string", "format": "uuid"},
            "guests": {"type": "array", "minItems": 1, "maxItems": 2, "items": {
                "type": "object", "properties": {"name": {"type": "string"}, "vip": {"type": "boolean"}},
                "required": ["name"]}},
        },
        "required": ["title", "date", "start", "id", "guests"],
    }, '{"title":"x","date":"2000-01-01","start":"2000-01-01T00:00:00Z",'
       '"id":"00000000-0000-0000-0000-000000000000","guests":[{"name":""}]}'),
    "maybe_numbers": ({
        "anyOf": [{"type": "null"}, {"type": "array", "items": {"type": "number", "minimum": 0}, "maxItems": 4}],
    }, "null"),
    "tree": ({
        "$ref": "#/$defs/node",
        "$defs": {"node": {"type": "object", "properties": {
            "value": {"type": "integer", "minimum": 0},
            "children": {"type": "array", "maxItems": 2, "items": {"$ref": "#/$defs/node"}}},
            "required": ["value"]}},
    }, '{"value":0}'),
    "any_object": ({"type": "object"}, "{}"),
    "point": ({
        "type": "object",
        "properties": {"kind": {"const": "point"},
                       "coords": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
                       "label": {"type": ["string", "null"]}},
        "required": ["kind", "coords", "label"],
    }, '{"kind":"point","coords":[0,0],"label":null}'),
}

# (seed, temperature, token limit: None means the shortest document's length;
# a limit is never below that, or no complete document could fit)
RUNS = [(1, 0.0, 48), (2, 1.0, None), (3, 1.5, 120)]

GBNF = r'''# a greeting, then maybe a number or a few Greek letters
root ::= greeting ", " name "!" tail?
greeting ::= "Hello" | "Good " ( "morning" | "night" )
name ::= [A-Z] [a-z]{1,8}
tail ::= " " [0-9]{1,4} | " (" [\u03b1-\u03c9]{1,3} ")"
'''
GBNF_REGEX = re.compile(r"(Hello|Good (morning|night)), [A-Z][a-z]{1,8}!( [0-9]{1,4}| \([\u03b1-\u03c9]{1,3}\))?")


def validate(items):
    """[(schema, text)] -> the oracle's verdicts."""
    payload = json.dumps([{"schema": s, "text": t} for s, t in items])
    p = subprocess.run([NODE, os.path.join(NPM, "validate_json.mjs")], input=payload.encode(),
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    return json.loads(p.stdout)


def generate(model, args, n, seed, temp, prompt="Answer in JSON:"):
    code, out, err = run("run", "-m", model, "-p", prompt, "-n", str(n), "-s", str(seed), "--temp", str(temp),
                         "-t", "1", "--no-display-prompt", *args)
    assert code == 0, err
    assert out.endswith(b"\n")
    stop = err.rsplit("stop: ", 1)[1].strip()
    return out[:-1].decode("utf-8"), stop


class Grammar(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tmpdir()
        cls.models = {"demo": DEMO}
        for name, vocab in [("spm", "ggml-vocab-llama-spm.gguf"), ("bpe", "ggml-vocab-llama-bpe.gguf")]:
            path = os.path.join(cls.dir, name + ".gguf")
            p = subprocess.run(["/usr/bin/python3", shared("tools", "mkmodel.py"), "--preset", "tiny", "--dtype", "f16",
                                "--seed", "7", "--vocab-from", shared("vocab", vocab), "-o", path],
                               capture_output=True, timeout=300)
            assert p.returncode == 0, p.stderr.decode()
            cls.models[name] = path
        cls.schema_files = {}
        for name, (schema, _) in SCHEMAS.items():
            path = os.path.join(cls.dir, name + ".json")
            with open(path, "w") as f:
                json.dump(schema, f)
            cls.schema_files[name] = path

    def test_schema_outputs_always_validate(self):
        items, where = [], []
        for model_name, model in self.models.items():
            for k, (name, (schema, shortest)) in enumerate(SCHEMAS.items()):
                # The byte-level model loads slowly (128k tokens): one run for every other schema there.
                runs = ([RUNS[k % len(RUNS)]] if k % 2 else []) if model_name == "bpe" else [RUNS[k % 2], RUNS[2 - k % 2]]
                for seed, temp, n in runs:
                    limit = max(n or 0, len(shortest))
                    text, stop = generate(model, ["--json-schema", self.schema_files[name]], limit, seed, temp)
                    json.loads(text)  # Python's parser agrees before ajv is asked
                    items.append((schema, text))
                    where.append((model_name, name, seed, temp, limit, stop, text))
        verdicts = validate(items)
        failed = [(w, v) for w, v in zip(where, verdicts) if not (v["parsed"] and v["valid"])]
        self.assertEqual(failed, [])
        self.assertEqual(len(verdicts), 4 * len(SCHEMAS) + len(SCHEMAS) // 2)
        # The grammar ends generation itself once the document is closed.
        self.assertTrue(any(w[5] == "eos" for w in where))

    def test_gbnf_outputs_match_an_independent_regex(self):
        path = os.path.join(self.dir, "greeting.gbnf")
        with open(path, "w") as f:
            f.write(GBNF)
        outputs = []
        for model_name, model in self.models.items():
            runs = [(1, 0.0, 40), (2, 1.0, 10), (3, 1.5, 40), (4, 0.8, 12)]
            for seed, temp, n in (runs[1:2] if model_name == "bpe" else runs):
                text, stop = generate(model, ["--grammar", path], n, seed, temp, prompt="Say hello:")
                outputs.append((model_name, seed, text, stop))
                self.assertRegex(text, GBNF_REGEX)
                self.assertIsNotNone(GBNF_REGEX.fullmatch(text), (model_name, seed, text))
        # Noise models pick the Greek branch or numbers at times; all of it must match.
        self.assertGreater(len({o[2] for o in outputs}), 3)

    def test_bad_grammar_and_schema_files(self):
        bad = os.path.join(self.dir, "bad.gbnf")
        with open(bad, "w") as f:
            f.write('root ::= "a" item\nitem ::= [a-z\n')
        code, out, err = run("run", "-m", DEMO, "-p", "x", "--grammar", bad)
        self.assertEqual(code, 1)
        self.assertEqual(out, b"")
        self.assertIn("error: " + bad + ": grammar: line 2:10: unterminated character class", err)
        undefined = os.path.join(self.dir, "undefined.gbnf")
        with open(undefined, "w") as f:
            f.write('root ::= "a" itme\nitem ::= "b"\n')
        code, _, err = run("run", "-m", DEMO, "-p", "x", "--grammar", undefined)
        self.assertEqual(code, 1)
        self.assertIn("line 1:14: undefined rule 'itme'", err)
        left = os.path.join(self.dir, "left.gbnf")
        with open(left, "w") as f:
            f.write('root ::= list\nlist ::= list "," "x" | "x"\n')
        code, _, err = run("run", "-m", DEMO, "-p", "x", "--grammar", left)
        self.assertEqual(code, 1)
        self.assertIn("line 2:1: rule 'list' is left-recursive", err)
        schema = os.path.join(self.dir, "pattern.json")
        with open(schema, "w") as f:
            json.dump({"type": "object", "properties": {"a": {"type": "string", "pattern": "^x+$"}}}, f)
        code, _, err = run("run", "-m", DEMO, "-p", "x", "--json-schema", schema)
        self.assertEqual(code, 1)
        self.assertIn("at #/properties/a: keyword 'pattern' is not supported", err)
        notjson = os.path.join(self.dir, "notjson.json")
        with open(notjson, "w") as f:
            f.write("{type: object}")
        code, _, err = run("run", "-m", DEMO, "-p", "x", "--json-schema", notjson)
        self.assertEqual(code, 1)
        self.assertIn("not valid JSON", err)
        code, _, err = run("run", "-m", DEMO, "-p", "x", "--json-schema", notjson, "--grammar", bad)
        self.assertNotEqual(code, 0)
        self.assertIn("excludes", err)
        code, _, err = run("run", "-m", DEMO, "-p", "x", "--grammar", os.path.join(self.dir, "missing.gbnf"))
        self.assertEqual(code, 1)
        self.assertIn("no such grammar file", err)


if __name__ == "__main__":
    unittest.main()
