"""`lineage chat` with piped input (one message per line, scriptable), a
--chat-template file, the ChatML fallback, and bad input: clear errors, never
a crash or a hang."""
import json
import os
import subprocess
import unittest

from chat_common import DEMO, assistant, greedy_answer, model_template, render, user
from cli_common import run, shared, tmpdir
from gguf_read import read_gguf


def chat(stdin, *args):
    return run("chat", "-m", DEMO, "--temp", "0", "-t", "2", *args, input_bytes=stdin.encode(), timeout=300)


class PipedChat(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.template = model_template(DEMO)

    def test_one_message_per_line_and_blocks(self):
        code, out, err = chat('Good morrow, cousin.\n\n"""\nIs the day so young?\nBut new struck nine.\n"""\n'
                              "Ay me! \\\nsad hours seem long.\n", "-n", "40")
        self.assertEqual(code, 0, err)
        messages, expected = [], []
        for line in ["Good morrow, cousin.", "Is the day so young?\nBut new struck nine.", "Ay me! \nsad hours seem long."]:
            messages.append(user(line))
            answer = greedy_answer(DEMO, render(self.template, messages), 40)
            expected.append(answer)
            messages.append(assistant(answer))
        self.assertEqual(out.decode(), "".join(a + "\n" for a in expected))
        self.assertNotIn(">>>", out.decode())

    def test_bye_ends_and_commands_print_nothing_on_stdout(self):
        path = os.path.join(tmpdir(), "c.json")
        code, out, err = chat("/system Enter Chorus.\n/save %s\n/bye\nnever answered\n" % path, "-n", "8")
        self.assertEqual(code, 0, err)
        self.assertEqual(out, b"")
        with open(path) as f:
            self.assertEqual(json.load(f), {"messages": [{"role": "system", "content": "Enter Chorus."}]})
        code, out, err = chat("/help\n")
        self.assertEqual(code, 0, err)
        for c in ["/reset", "/system", "/save", "/load", "/bye", '"""']:
            self.assertIn(c, out.decode())

    def test_chat_template_file_overrides_the_models(self):
        tpl = ("{% for m in messages %}{{ m['role'] | upper }}: {{ m['content'] }}\n\n{% endfor %}"
               "{% if add_generation_prompt %}ROMEO:\n{% endif %}")
        path = os.path.join(tmpdir(), "t.jinja")
        with open(path, "w") as f:
            f.write(tpl)
        code, out, err = chat("What light through yonder window breaks?\n", "-n", "40", "--chat-template", path)
        self.assertEqual(code, 0, err)
        expected = greedy_answer(DEMO, render(tpl, [user("What light through yonder window breaks?")]), 40)
        self.assertEqual(out.decode(), expected + "\n")

    def test_user_text_with_control_tokens_is_plain_text(self):
        # "</s>" typed by the user must not become the EOS token. The answer
        # must be the greedy continuation of the prompt tokenized with special
        # parsing off (BOS added), decoded here from the vocabulary's pieces.
        line = "Thou art a villain </s> <s> hence!"
        code, out, err = chat(line + "\n", "-n", "40")
        self.assertEqual(code, 0, err)
        prompt = render(self.template, [user(line)])
        c1, ids_out, e1 = run("tokenize", "-m", DEMO, "--ids", "--no-special", prompt)
        self.assertEqual(c1, 0, e1)
        ids = json.loads(ids_out)
        self.assertEqual(ids.count(1), 1)
        self.assertNotIn(2, ids)
        c2, eval_out, e2 = run("eval", "-m", DEMO, "--ids", ",".join(map(str, ids)), "--greedy", "40")
        self.assertEqual(c2, 0, e2)
        greedy = json.loads(eval_out.decode().splitlines()[-1])["greedy"]
        pieces = read_gguf(DEMO)[0]["tokenizer.ggml.tokens"]
        text = b""
        for i in greedy:
            if i == 2:
                break
            p = pieces[i]
            text += bytes([int(p[3:5], 16)]) if p.startswith("<0x") else p.replace("\u2581", " ").encode()
        expected = text.split(b"\n\n")[0]
        self.assertEqual(out, expected + b"\n")
        # Read with special parsing on, the same prompt gives another answer.
        self.assertNotEqual(out.decode(), greedy_answer(DEMO, prompt, 40) + "\n")

    def test_chatml_fallback_for_a_model_without_a_template(self):
        model = os.path.join(tmpdir(), "no-template.gguf")
        subprocess.run(["/usr/bin/python3", shared("tools", "mkmodel.py"), "--preset", "tiny", "--seed", "3",
                        "--vocab-from", shared("vocab", "ggml-vocab-llama-spm.gguf"), "-o", model],
                       check=True, capture_output=True, timeout=300)
        self.assertNotIn("tokenizer.chat_template", read_gguf(model)[0])
        code, out, err = run("chat", "-m", model, "--temp", "0", "-n", "12", "--system", "Be brief.",
                             input_bytes=b"Hello there\n", timeout=300)
        self.assertEqual(code, 0, err)
        self.assertIn("ChatML fallback", err)
        prompt = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n"
        expected = greedy_answer(model, prompt, 12, "--stop", "<|im_end|>", "--stop", "<|im_start|>")
        self.assertEqual(out.decode(), expected + "\n")


class ChatErrors(unittest.TestCase):
    def test_missing_or_broken_template_file(self):
        code, out, err = chat("hi\n", "--chat-template", "/nonexistent/t.jinja")
        self.assertEqual(code, 1)
        self.assertEqual(out, b"")
        self.assertIn("error:", err)
        self.assertIn("/nonexistent/t.jinja", err)
        path = os.path.join(tmpdir(), "bad.jinja")
        with open(path, "w") as f:
            f.write("{% for m in messages %}{{ m['content'] }")
        code, out, err = chat("hi\n", "--chat-template", path)
        self.assertEqual(code, 1)
        self.assertEqual(out, b"")
        self.assertIn("error:", err)

    def test_bad_commands_and_files_keep_the_chat_going(self):
        bad = os.path.join(tmpdir(), "bad.json")
        with open(bad, "w") as f:
            f.write('{"messages": [{"content": "no role"}]}')
        code, out, err = chat("/load /nonexistent/c.json\n/load %s\n/frobnicate\n/save\n/save /nonexistent/dir/x.json\n"
                              "Good even.\n" % bad, "-n", "16")
        self.assertEqual(code, 0, err)
        self.assertEqual(err.count("error:"), 5, err)
        self.assertIn("unknown command /frobnicate", err)
        self.assertIn("no string \"role\"", err)
        self.assertEqual(out.count(b"\n"), 1)

    def test_message_longer_than_the_context(self):
        code, out, err = chat("word " * 40 + "\nGood even.\n", "-c", "40", "-n", "4")
        self.assertEqual(code, 0, err)
        self.assertIn("error: the message needs", err)
        self.assertEqual(out.count(b"\n"), 1)  # only the second message was answered

    def test_bad_options(self):
        for args in (["-c", "0"], ["-n", "-2"], ["--temp", "-1"]):
            code, out, err = chat("hi\n", *args)
            self.assertNotEqual(code, 0, args)
            self.assertEqual(out, b"")
        code, out, err = run("chat", "-m", "/nonexistent/m.gguf", input_bytes=b"hi\n")
        self.assertEqual(code, 1)
        self.assertIn("error:", err)


if __name__ == "__main__":
    unittest.main()
