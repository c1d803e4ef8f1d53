"""`lineage batch` end to end on the demo model: one result per input row
under the right id, answers equal to `lineage run --temp 0` on the same
prompt (rendered here in Python, not by the project's Jinja engine), the
same answers with 1 or 4 slots, runs killed with SIGKILL at a random row
(seeded, the seed printed; LINEAGE_TEST_SEED=N repeats one) and resumed,
refused resumes, bad rows, a cut-off last line, SIGINT."""
import fcntl
import json
import os
import random
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from chat_common import model_template, render as render_chat  # noqa: E402
from cli_common import BIN, SOURCE, run, tmpdir  # noqa: E402

MODEL = os.path.join(SOURCE, "models", "shakespeare-5M.gguf")
# A trailing newline in the file, as editors write it: Jinja drops one.
TEMPLATE = "Q: {{ text.strip() }}\nA:\n"
N_PREDICT = "12"
WORDS = ["king", "sword", "night", "love", "crown", "ghost", "storm", "queen", "fool", "rose",
         "honour", "blood", "mercy", "tongue", "grave", "heaven"]

# The sanitizer build runs the same checks on fewer rows.
N_ROWS = 16 if os.environ.get("LINEAGE_SANITIZED") == "1" else 30
SEED = int(os.environ.get("LINEAGE_TEST_SEED") or random.SystemRandom().randrange(1 << 30))
print("test_batch: random seed %d (LINEAGE_TEST_SEED=%d repeats it)" % (SEED, SEED), file=sys.stderr)


def render(row):
    """The prompt TEMPLATE gives for a row, written out by hand."""
    return "Q: " + row["text"].strip() + "\nA:"


def make_rows(n, rng):
    rows = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6)))
        row = {"text": "  %s  " % text, "n": i}
        # Some rows carry their own id (strings and integers), others are
        # known by their line number.
        if i % 3 == 0:
            row["id"] = "row-%d" % i
        elif i % 3 == 1:
            row["id"] = 1000 + i
        rows.append(row)
    return rows


def expected_ids(rows):
    return [json.dumps(r["id"]) if "id" in r else json.dumps(i + 1) for i, r in enumerate(rows)]


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    assert data == b"" or data.endswith(b"\n"), "%s ends in a partial line" % path
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def by_id(lines):
    out = {}
    for j in lines:
        key = json.dumps(j["id"])
        assert key not in out, "id %s written twice" % key
        out[key] = j
    return out


class Dataset:
    """An input file, a template file and the argument list for one run."""

    def __init__(self, rows, extra=(), template=TEMPLATE, raw_lines=None):
        self.dir = tmpdir()
        self.input = os.path.join(self.dir, "data.jsonl")
        self.template = os.path.join(self.dir, "prompt.jinja")
        self.output = os.path.join(self.dir, "out.jsonl")
        self.errors = os.path.join(self.dir, "out.errors.jsonl")
        with open(self.input, "w") as f:
            for line in raw_lines if raw_lines is not None else [json.dumps(r) for r in rows]:
                f.write(line + "\n")
        with open(self.template, "w") as f:
            f.write(template)
        self.extra = list(extra)

    def args(self, *more):
        """The arguments of a run; an option in `more` replaces the same one given before."""
        opts = {"-m": MODEL, "--input": self.input, "--output": self.output, "--template": self.template,
                "-n": N_PREDICT, "--temp": "0", "-t": "1"}
        flags = []
        items = list(self.extra) + list(more)
        while items:
            key = items.pop(0)
            if key in ("--chat", "--ignore-eos"):
                flags.append(key)
            else:
                opts[key] = items.pop(0)
        return ["batch", *[x for kv in opts.items() for x in kv], *flags]

    def run(self, *more):
        return run(*self.args(*more), timeout=600)

    def start(self, *more):
        with open(os.path.join(self.dir, "stderr.log"), "ab") as log:
            return subprocess.Popen([BIN, *self.args(*more)], stdout=subprocess.DEVNULL, stderr=log)

    def results(self):
        return by_id(read_jsonl(self.output))

    def errors_by_id(self):
        return by_id(read_jsonl(self.errors))


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def kill_after(proc, path, n_lines):
    """SIGKILLs proc once path has n_lines lines; False if it finished first."""
    while count_lines(path) < n_lines:
        if proc.poll() is not None:
            return False
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


class Batch(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rng = random.Random(SEED)
        cls.rows = make_rows(N_ROWS, rng)
        # The uninterrupted reference run on 4 slots.
        cls.ref = Dataset(cls.rows, ["--parallel", "4"])
        code, _, err = cls.ref.run()
        assert code == 0, err
        cls.ref_results = cls.ref.results()

    def test_one_result_per_row_with_ids(self):
        res = self.ref_results
        self.assertEqual(sorted(res), sorted(expected_ids(self.rows)))
        self.assertEqual(read_jsonl(self.ref.errors), [])
        for j in res.values():
            self.assertEqual(set(j), {"id", "answer", "finish_reason", "prompt_tokens", "completion_tokens"})
            self.assertIsInstance(j["answer"], str)
            self.assertIn(j["finish_reason"], ("eos", "stop", "length"))
            self.assertLessEqual(j["completion_tokens"], int(N_PREDICT))
            self.assertGreater(j["prompt_tokens"], 2)
        # The settings sidecar exists beside the output.
        with open(os.path.join(self.ref.dir, "out.batch.json")) as f:
            self.assertEqual(json.load(f)["sampling"]["temperature"], 0)

    def test_answers_equal_lineage_run(self):
        rng = random.Random(SEED + 1)
        ids = expected_ids(self.rows)
        for i in rng.sample(range(len(self.rows)), 3):
            prompt = render(self.rows[i])
            code, out, err = run("run", "-m", MODEL, "-p", prompt, "-n", N_PREDICT, "--temp", "0",
                                 "--no-display-prompt", "-t", "1")
            self.assertEqual(code, 0, err)
            self.assertTrue(out.endswith(b"\n"))
            got = self.ref_results[ids[i]]
            self.assertEqual(got["answer"], out[:-1].decode("utf-8", "replace"), "row %d (%r)" % (i, prompt))

    def test_template_variables_as_another_jinja_renders_them(self):
        # Fields and the whole row (`row`), loops and filters; the prompt is
        # rendered by @huggingface/jinja and answered by `lineage run`.
        template = ("Label the {{ kind | upper }} below.{% for t in tags %} #{{ t }}{% endfor %}\n"
                    "Text: {{ row.text | trim }} ({{ row | length }} fields)\nLabel:")
        rows = [{"id": "x%d" % i, "kind": k, "tags": tags, "text": " %s " % text}
                for i, (k, tags, text) in enumerate((("line", ["a", "b"], "the king is dead"),
                                                      ("verse", [], "o gentle night"),
                                                      ("speech", ["c"], "a rose by any other name")))]
        d = Dataset(rows, ["--parallel", "2"], template=template)
        code, _, err = d.run()
        self.assertEqual(code, 0, err)
        res = d.results()
        cases = [{"id": r["id"], "template": d.template, "context": dict(r, row=r)} for r in rows]
        cases_path, out_path = os.path.join(d.dir, "cases.json"), os.path.join(d.dir, "rendered.json")
        with open(cases_path, "w") as f:
            json.dump(cases, f)
        npm = os.environ.get("LINEAGE_NPM_DIR", os.path.join(SOURCE, "tests", "npm"))
        subprocess.run(["/usr/bin/node", os.path.join(npm, "render_template.mjs"), "--batch", cases_path, out_path],
                       check=True, timeout=120)
        with open(out_path) as f:
            rendered = json.load(f)
        for r in rendered:
            self.assertTrue(r["ok"], r)
            code, out, err = run("run", "-m", MODEL, "-p", r["output"], "-n", N_PREDICT, "--temp", "0",
                                 "--no-display-prompt", "-t", "1")
            self.assertEqual(code, 0, err)
            self.assertEqual(res[json.dumps(r["id"])]["answer"], out[:-1].decode("utf-8", "replace"), r["output"])

    def test_parallel_and_sequential_agree(self):
        seq = Dataset(self.rows, ["--parallel", "1"])
        code, _, err = seq.run()
        self.assertEqual(code, 0, err)
        self.assertEqual(seq.results(), self.ref_results)
        # Sampled answers too: each row's seed comes from its id, not from
        # the order rows ran in.
        a = Dataset(self.rows[:10], ["--parallel", "1", "--temp", "0.9", "-s", "7"])
        b = Dataset(self.rows[:10], ["--parallel", "3", "--temp", "0.9", "-s", "7"])
        for d in (a, b):
            code, _, err = d.run()
            self.assertEqual(code, 0, err)
        self.assertEqual(a.results(), b.results())

    def test_sigkill_at_random_row_then_resume(self):
        rng = random.Random(SEED + 2)
        d = Dataset(self.rows, ["--parallel", "4"])
        at = rng.randint(1, len(self.rows) - 5)
        killed = kill_after(d.start(), d.output, at)
        print("test_batch: killed at %d rows: %s" % (at, killed), file=sys.stderr)
        before = read_jsonl(d.output)  # whole lines only
        self.assertGreaterEqual(len(before), at if killed else len(self.rows))
        code, _, err = d.run()
        self.assertEqual(code, 0, err)
        if killed and len(before) < len(self.rows):
            self.assertIn("resuming: %d of %d rows done before" % (len(before), len(self.rows)), err)
        self.assertEqual(d.results(), self.ref_results)

    def test_repeated_kill_and_resume(self):
        rng = random.Random(SEED + 3)
        d = Dataset(self.rows, ["--parallel", "3"])
        for cycle in range(3):
            done = count_lines(d.output)
            at = min(len(self.rows), done + rng.randint(1, 6))
            kill_after(d.start(), d.output, at)
            by_id(read_jsonl(d.output))  # no partial line, no row twice
        code, _, err = d.run()
        self.assertEqual(code, 0, err)
        self.assertEqual(d.results(), self.ref_results)
        # A finished run started again does nothing and changes nothing.
        with open(d.output, "rb") as f:
            data = f.read()
        code, _, err = d.run()
        self.assertEqual(code, 0, err)
        with open(d.output, "rb") as f:
            self.assertEqual(f.read(), data)

    def test_truncated_last_line_is_cut_off(self):
        with open(self.ref.output, "rb") as f:
            lines = f.read().splitlines(keepends=True)
        d = Dataset(self.rows, ["--parallel", "2"])
        os.makedirs(d.dir, exist_ok=True)
        code, _, err = d.run()  # writes the settings sidecar and every row
        self.assertEqual(code, 0, err)
        with open(d.output, "rb") as f:
            own = f.read().splitlines(keepends=True)
        keep = len(own) // 2
        with open(d.output, "wb") as f:
            f.write(b"".join(own[:keep]) + own[keep][: len(own[keep]) // 2])
        code, _, err = d.run()
        self.assertEqual(code, 0, err)
        self.assertIn("removed a partial last line", err)
        self.assertEqual(d.results(), self.ref_results)
        self.assertEqual(len(read_jsonl(d.output)), len(lines))

    def test_changed_arguments_refuse_to_resume(self):
        d = Dataset(self.rows[:8], ["--parallel", "2"])
        code, _, err = d.run()
        self.assertEqual(code, 0, err)
        with open(d.output, "rb") as f:
            data = f.read()
        for more, what in ((["--temp", "0.5"], "sampling.temperature"), (["-n", "5"], "n_predict"),
                           (["--chat"], "chat"), (["-c", "128"], "ctx_size"), (["--stop", "x"], "stop")):
            code, _, err = d.run(*more)
            self.assertEqual(code, 1, more)
            self.assertIn("error: cannot resume", err)
            self.assertIn(what, err)
        with open(d.template, "w") as f:
            f.write("Question: {{ text }}\nA:")
        code, _, err = d.run()
        self.assertEqual(code, 1)
        self.assertIn("template_fnv64", err)
        with open(d.output, "rb") as f:
            self.assertEqual(f.read(), data)
        # The slot count does not shape answers: a resume may change it.
        with open(d.template, "w") as f:
            f.write(TEMPLATE)
        code, _, err = d.run("--parallel", "3")
        self.assertEqual(code, 0, err)
        # Rows in an output without the settings sidecar are not resumed.
        os.remove(os.path.join(d.dir, "out.batch.json"))
        code, _, err = d.run()
        self.assertEqual(code, 1)
        self.assertIn("no ", err)
        self.assertIn("out.batch.json", err)

    def test_bad_rows_go_to_the_errors_file(self):
        good = [{"id": "a", "text": "king"}, {"id": "b", "text": "night"}, {"text": "rose"}]
        lines = [json.dumps(good[0]),
                 "{not json",
                 "[1, 2, 3]",
                 json.dumps({"id": "long", "text": "king " * 200}),
                 json.dumps({"id": "no-text", "other": 1}),
                 "",
                 json.dumps(good[1]),
                 json.dumps(good[2])]
        d = Dataset(None, ["-c", "96"], raw_lines=lines)
        code, _, err = d.run()
        self.assertEqual(code, 2, err)
        errors = d.errors_by_id()
        self.assertEqual(sorted(errors), sorted(['2', '3', '"long"', '"no-text"']))
        self.assertIn("not valid JSON", errors['2']["error"])
        self.assertEqual(errors['2']["line"], 2)
        self.assertIn("not an object", errors['3']["error"])
        self.assertIn("context holds 96", errors['"long"']["error"])
        self.assertIn("template", errors['"no-text"']["error"])
        self.assertIn("text", errors['"no-text"']["error"])
        res = d.results()
        self.assertEqual(sorted(res), sorted(['"a"', '"b"', '8']))
        # The good rows get the same answers as in any other run.
        code, out, _ = run("run", "-m", MODEL, "-p", render(good[2]), "-n", N_PREDICT, "--temp", "0",
                           "--no-display-prompt", "-c", "96")
        self.assertEqual(res['8']["answer"], out[:-1].decode("utf-8", "replace"))
        # Errored rows count as done: a second run has nothing to do.
        code, _, err = d.run()
        self.assertEqual(code, 2, err)
        self.assertIn("resuming: 7 of 7 rows done before (3 answered, 4 errors)", err)
        self.assertEqual(len(read_jsonl(d.errors)), 4)

    def test_refused_before_any_work(self):
        d = Dataset([{"id": 1, "text": "a"}, {"text": "b"}, {"id": 1, "text": "c"}])
        code, _, err = d.run()
        self.assertEqual(code, 1)
        self.assertIn("id 1 already used on line 1", err)
        self.assertFalse(os.path.exists(d.output))
        # A row without an id is known by its line number, which can clash too.
        d = Dataset([{"text": "a"}, {"id": 1, "text": "b"}])
        code, _, err = d.run()
        self.assertEqual(code, 1)
        self.assertIn("already used", err)
        d = Dataset([{"id": [1], "text": "a"}])
        code, _, err = d.run()
        self.assertEqual(code, 1)
        self.assertIn("id must be a string or an integer", err)
        d = Dataset([{"text": "a"}])
        for args, msg in ((["--input", os.path.join(d.dir, "missing.jsonl")], "no such input file"),
                          (["--template", os.path.join(d.dir, "missing.jinja")], "no such template file"),
                          (["--output", d.input], "must not be the input"),
                          (["--system", "be brief"], "--system needs --chat")):
            args = d.args(*args)
            code, _, err = run(*args)
            self.assertEqual(code, 1, args)
            self.assertIn(msg, err)
        with open(d.template, "w") as f:
            f.write("{% for x in %}")
        code, _, err = d.run()
        self.assertEqual(code, 1)
        self.assertIn("line 1", err)
        self.assertFalse(os.path.exists(d.output))
        with open(d.template, "w") as f:
            f.write(TEMPLATE)
        # Two runs never append to one output.
        with open(d.output, "a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            code, _, err = d.run()
        self.assertEqual(code, 1)
        self.assertIn("another `lineage batch` is writing", err)
        # An output that is not ours is never appended to.
        with open(d.output, "w") as f:
            f.write("hello\n")
        code, _, err = d.run()
        self.assertEqual(code, 1)
        self.assertIn("not written by `lineage batch`", err)

    def test_sigint_drops_rows_in_flight_then_resumes(self):
        d = Dataset(self.rows, ["--parallel", "4"])
        p = d.start()
        while count_lines(d.output) < 2 and p.poll() is None:
            time.sleep(0.001)
        p.send_signal(signal.SIGINT)
        code = p.wait(timeout=60)
        n = len(by_id(read_jsonl(d.output)))
        if n < len(self.rows):
            self.assertEqual(code, 130)
        code, _, err = d.run()
        self.assertEqual(code, 0, err)
        self.assertEqual(d.results(), self.ref_results)

    def test_chat_mode_wraps_the_prompt(self):
        d = Dataset(self.rows[:4], ["--chat", "--system", "Speak plainly.", "--parallel", "2"])
        code, _, err = d.run()
        self.assertEqual(code, 0, err)
        res = d.results()
        self.assertEqual(sorted(res), sorted(expected_ids(self.rows[:4])))
        # The model's chat template rendered by @huggingface/jinja, read by
        # `lineage run` (which uses the model's stop strings too).
        for row in self.rows[:2]:
            prompt = render_chat(model_template(MODEL), [{"role": "system", "content": "Speak plainly."},
                                                         {"role": "user", "content": render(row)}])
            code, out, err = run("run", "-m", MODEL, "-p", prompt, "-n", N_PREDICT, "--temp", "0",
                                 "--no-display-prompt", "-t", "1")
            self.assertEqual(code, 0, err)
            self.assertEqual(res[expected_ids(self.rows)[self.rows.index(row)]]["answer"],
                             out[:-1].decode("utf-8", "replace"), prompt)


if __name__ == "__main__":
    unittest.main()
