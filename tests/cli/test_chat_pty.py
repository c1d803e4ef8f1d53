"""`lineage chat` in a terminal: answers equal what `lineage run --temp 0`
gives for the same conversation rendered by the npm Jinja oracle (so prefix
reuse computes exactly what a fresh run would), Ctrl-C stops an answer and
keeps it, /reset, /save and /load, and dropping the oldest turns when the
conversation outgrows the context."""
import json
import os
import subprocess
import unittest

from chat_common import DEMO, PtyChat, assistant, greedy_answer, model_template, render, user
from cli_common import tmpdir


class ChatInATerminal(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.template = model_template(DEMO)

    def chat(self, *args):
        c = PtyChat("-m", DEMO, "--temp", "0", "-t", "2", *args)
        self.addCleanup(c.kill)
        c.read_until(b">>> ")
        return c

    def expected(self, messages, n, *extra):
        return greedy_answer(DEMO, render(self.template, messages), n, *extra)

    def test_answers_equal_greedy_run_on_the_rendered_conversation(self):
        c = self.chat("-n", "64")
        messages = []
        for line in ["Good morrow, sweet Romeo.", "What news from Mantua?", "Then I defy you, stars!"]:
            answer = c.say(line)
            messages.append(user(line))
            self.assertEqual(answer, self.expected(messages, 64), messages)
            messages.append(assistant(answer))
        self.assertTrue(any(m["content"] for m in messages if m["role"] == "assistant"))
        c.send(b"\x04")  # Ctrl-D at the prompt
        self.assertEqual(c.wait(), 0)

    def test_multi_line_input(self):
        c = self.chat("-n", "48")
        c.send(b'"""\n')
        c.read_until(b'"""\n')
        c.read_until(b"... ")
        c.send(b"Peace, ho!\n")
        c.read_until(b"... ")
        answer = c.say('Who calls?"""')
        c.send(b"Stay \\\n")
        c.read_until(b"... ")
        answer2 = c.say("a while.")
        m = [user("Peace, ho!\nWho calls?")]
        self.assertEqual(answer, self.expected(m, 48))
        m += [assistant(answer), user("Stay \na while.")]
        self.assertEqual(answer2, self.expected(m, 48))

    def test_reset_gives_the_answer_of_a_fresh_conversation(self):
        c = self.chat("-n", "48")
        c.say("Where is the king?")
        c.say("Speak again.")
        c.command("/reset")
        self.assertIn("cleared", c.stderr())
        self.assertEqual(c.say("Speak again."), self.expected([user("Speak again.")], 48))
        self.assertEqual(c.say("And then?"), self.expected(
            [user("Speak again."), assistant(self.expected([user("Speak again.")], 48)), user("And then?")], 48))

    def test_save_and_load_round_trip(self):
        d = tmpdir()
        first, second = os.path.join(d, "a.json"), os.path.join(d, "b.json")
        c = self.chat("-n", "48", "--system", "A street in Verona.")
        a1 = c.say("Gregory, o' my word, we'll not carry coals.")
        a2 = c.say("I mean, an we be in choler, we'll draw.")
        c.command("/save " + first)
        with open(first) as f:
            saved = json.load(f)
        self.assertEqual(saved, {"messages": [
            {"role": "system", "content": "A street in Verona."},
            user("Gregory, o' my word, we'll not carry coals."), assistant(a1),
            user("I mean, an we be in choler, we'll draw."), assistant(a2)]})
        a3 = c.say("Draw, if you be men.")
        c.send(b"/bye\n")
        self.assertEqual(c.wait(), 0)

        # A new chat without --system: the file brings the system message and
        # the turns, and the conversation goes on as the first one did.
        e = self.chat("-n", "48")
        e.command("/load " + first)
        self.assertIn("loaded 5 messages", e.stderr())
        e.command("/save " + second)
        with open(second) as f:
            self.assertEqual(json.load(f), saved)
        self.assertEqual(e.say("Draw, if you be men."), a3)

    def test_context_overflow_drops_the_oldest_turns(self):
        path = os.path.join(tmpdir(), "kept.json")
        system = "Verona. A public place."
        c = self.chat("-c", "96", "-n", "24", "--system", system)
        lines = ["Part, fools!", "Put up your swords; you know not what you do.",
                 "What, art thou drawn among these heartless hinds?", "Turn thee, Benvolio, look upon thy death.",
                 "I do but keep the peace: put up thy sword.", "Clubs, bills, and partisans! strike! beat them down!"]
        history = []
        for line in lines:
            history += [user(line), assistant(c.say(line))]
        self.assertIn("dropped the oldest", c.stderr())
        c.command("/save " + path)
        with open(path) as f:
            kept = json.load(f)["messages"]
        # The system message stays; what is left is the newest turns, whole.
        self.assertEqual(kept[0], {"role": "system", "content": system})
        rest = kept[1:]
        self.assertLess(len(rest), len(history))
        self.assertEqual(rest, history[len(history) - len(rest):])
        self.assertEqual(rest[0]["role"], "user")
        # The last answer is what a fresh run gives for what was kept.
        self.assertEqual(rest[-1]["content"], self.expected(kept[:-1], 24))


class CtrlC(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # A random-weight model on the demo vocabulary and template: at
        # --temp 0 this one (seed 2) writes thousands of tokens without an
        # end-of-generation token, and the context is large, so an answer
        # only ends when it is interrupted.
        cls.model = os.path.join(tmpdir(), "random.gguf")
        subprocess.run(["/usr/bin/python3", os.path.join(os.environ.get("LINEAGE_SHARED_DIR", "../shared"), "tools",
                                                          "mkmodel.py"),
                        "--preset", "tiny", "--ctx", "65536", "--seed", "2", "--dtype", "f32",
                        "--vocab-from", DEMO, "-o", cls.model], check=True, capture_output=True, timeout=300)

    def test_ctrl_c_stops_the_answer_and_keeps_it(self):
        path = os.path.join(tmpdir(), "partial.json")
        c = PtyChat("-m", self.model, "--temp", "0", "-t", "2", "-c", "65536")
        self.addCleanup(c.kill)
        c.read_until(b">>> ")
        c.send(b"hello\n")
        c.read_until(b"hello\n")
        shown = c.read_some(16)
        c.send(b"\x03")
        shown += c.read_until(b"\n\n>>> ")
        shown = shown.replace(b"\x03", b"", 1)  # the terminal's echo of the key
        self.assertIn("(answer stopped)", c.stderr())
        # Still running, and the partial answer is part of the conversation.
        c.command("/save " + path)
        with open(path) as f:
            saved = json.load(f)
        self.assertEqual(saved, {"messages": [user("hello"), assistant(shown.decode())]})

        # Ctrl-C at an empty prompt only says how to leave; a second one leaves.
        c.send(b"\x03")
        c.read_until(b">>> ")
        self.assertIn("Ctrl-C again", c.stderr())
        c.send(b"\x03")
        self.assertEqual(c.wait(), 0)

    def test_ctrl_c_drops_a_half_typed_block(self):
        path = os.path.join(tmpdir(), "none.json")
        c = PtyChat("-m", self.model, "--temp", "0", "-t", "2", "-n", "4")
        self.addCleanup(c.kill)
        c.read_until(b">>> ")
        # One line at a time, each acknowledged by the continuation prompt, so
        # that Ctrl-C comes only once the block is really half typed.
        c.send(b'"""\n')
        c.read_until(b"... ")
        c.send(b"never sent\n")
        c.read_until(b"never sent\n")
        c.read_until(b"... ")
        c.send(b"\x03")
        c.read_until(b">>> ")
        c.command("/save " + path)
        with open(path) as f:
            self.assertEqual(json.load(f), {"messages": []})
        c.send(b"/bye\n")
        self.assertEqual(c.wait(), 0)


if __name__ == "__main__":
    unittest.main()
