"""Helpers for the `lineage chat` tests: an independent prompt (the chat
template rendered by @huggingface/jinja, the npm oracle) and the answer that
`lineage run --temp 0` gives for it, plus a chat driven through a
pseudo-terminal that can never hang a test (every wait has a deadline)."""
import json
import os
import pty
import select
import signal
import subprocess
import termios
import time

from cli_common import BIN, SOURCE, run, shared, tmpdir
from gguf_read import read_gguf

NPM = os.environ.get("LINEAGE_NPM_DIR", os.path.join(SOURCE, "tests", "npm"))
DEMO = shared("models", "shakespeare-5M.gguf")
WAIT = 180  # seconds any single step may take before the test gives up (ASan builds are slow)

_RENDER_JS = r"""
const { Template } = require('@huggingface/jinja');
let input = '';
process.stdin.on('data', d => { input += d; });
process.stdin.on('end', () => {
  const { template, context } = JSON.parse(input);
  process.stdout.write(new Template(template).render(context));
});
"""


def model_template(path):
    return read_gguf(path)[0]["tokenizer.chat_template"]


def render(template, messages, bos="<s>", eos="</s>"):
    """The prompt text for messages, rendered by the npm Jinja oracle."""
    ctx = {"messages": messages, "add_generation_prompt": True, "bos_token": bos, "eos_token": eos}
    p = subprocess.run(["/usr/bin/node", "-e", _RENDER_JS], cwd=NPM, capture_output=True, timeout=60,
                       input=json.dumps({"template": template, "context": ctx}).encode())
    if p.returncode != 0:
        raise RuntimeError("jinja oracle failed: " + p.stderr.decode())
    return p.stdout.decode()


def greedy_answer(model, prompt_text, n, *extra):
    """What `lineage run --temp 0` generates after prompt_text."""
    path = os.path.join(tmpdir(), "prompt.txt")
    with open(path, "w") as f:
        f.write(prompt_text)
    code, out, err = run("run", "-m", model, "-f", path, "--temp", "0", "-n", str(n), "--no-display-prompt",
                         "-t", "2", *extra)
    if code != 0:
        raise RuntimeError("lineage run failed: " + err)
    assert out.endswith(b"\n")
    return out[:-1].decode()


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


class PtyChat:
    """`lineage chat ARGS` with stdin and stdout on a pseudo-terminal, as a user
    runs it; stderr goes to a file so answers can be read without notices in
    between. Output post-processing, echoed ^C and the flush on Ctrl-C are
    turned off so the bytes read are exactly the bytes written."""

    def __init__(self, *args):
        self.err_path = os.path.join(tmpdir(), "stderr.txt")
        pid, fd = pty.fork()
        if pid == 0:
            try:
                attrs = termios.tcgetattr(0)
                attrs[1] &= ~termios.OPOST
                attrs[3] &= ~termios.ECHOCTL
                attrs[3] |= termios.NOFLSH
                termios.tcsetattr(0, termios.TCSANOW, attrs)
                err = os.open(self.err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(err, 2)
                os.execv(BIN, [BIN, "chat", *args])
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.buf = b""
        self.status = None

    def _fill(self, deadline, what):
        left = deadline - time.monotonic()
        ready, _, _ = select.select([self.fd], [], [], max(0.0, left))
        if not ready:
            raise AssertionError("no output from lineage chat while waiting for %r; got %r; stderr: %s"
                                 % (what, self.buf[-400:], self.stderr()))
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            raise AssertionError("lineage chat ended while waiting for %r; got %r; stderr: %s"
                                 % (what, self.buf[-400:], self.stderr()))
        self.buf += chunk

    def read_until(self, marker):
        """Output up to marker (consumed, not returned)."""
        deadline = time.monotonic() + WAIT
        while marker not in self.buf:
            self._fill(deadline, marker)
        head, _, self.buf = self.buf.partition(marker)
        return head

    def read_some(self, n):
        deadline = time.monotonic() + WAIT
        while len(self.buf) < n:
            self._fill(deadline, "%d bytes" % n)
        out, self.buf = self.buf, b""
        return out

    def send(self, data):
        os.write(self.fd, data)

    def say(self, line):
        """Types a line, returns the answer printed before the next prompt."""
        self.send(line.encode() + b"\n")
        self.read_until(line.encode() + b"\n")  # the terminal's echo
        return self.read_until(b"\n\n>>> ").decode()

    def command(self, line):
        self.send(line.encode() + b"\n")
        self.read_until(line.encode() + b"\n")
        return self.read_until(b">>> ")

    def stderr(self):
        try:
            with open(self.err_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait(self):
        """Exit status, draining output meanwhile; the process is killed past the deadline."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
                return os.waitstatus_to_exitcode(status)
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    self.buf += os.read(self.fd, 65536)
                except OSError:
                    pass
        self.kill()
        raise AssertionError("lineage chat did not exit")

    def kill(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                _, self.status = os.waitpid(self.pid, 0)
            except OSError:
                pass
        try:
            os.close(self.fd)
        except OSError:
            pass
