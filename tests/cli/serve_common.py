"""Helpers for the `lineage serve` tests: start a server on a free port, talk
raw HTTP to it, and run the official OpenAI client (tests/npm) against it."""
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import threading

from cli_common import BIN, shared

MODEL = shared("models", "shakespeare-5M.gguf")
NPM = os.environ.get("LINEAGE_NPM_DIR", "tests/npm")
NODE = "/usr/bin/node" if os.path.exists("/usr/bin/node") else "node"


class Server:
    """A `lineage serve` process on a port the system picks (--port 0)."""

    def __init__(self, *args, model=MODEL):
        self.proc = subprocess.Popen(
            [BIN, "serve", "-m", model, "--port", "0", "-t", "1", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.log = []
        # Request log lines go to stderr; drain it so the pipe never fills.
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()
        line = self.proc.stdout.readline().decode()
        if "listening on http://" not in line:
            self.proc.kill()
            self.proc.wait()
            self._drain.join()
            raise RuntimeError("lineage serve did not start: %r\n%s" % (line, "".join(self.log)))
        self.url = line.split("listening on ", 1)[1].strip()
        self.port = int(self.url.rsplit(":", 1)[1])

    def _read_stderr(self):
        for raw in self.proc.stderr:
            self.log.append(raw.decode("utf-8", "replace"))

    def conn(self, timeout=120):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=120):
        """Returns (status, headers dict with lower-case names, body bytes)."""
        c = self.conn(timeout)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        return r.status, hdrs, data

    def post(self, path, body, headers=None):
        status, hdrs, data = self.request("POST", path, body, headers)
        return status, hdrs, json.loads(data) if data else None

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Sends sig and returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self._drain.join(timeout=10)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        code = self.stop()
        # A clean SIGTERM exit is 0; a sanitizer report would change that.
        assert exc[0] is not None or code == 0, "lineage serve exited with %s:\n%s" % (code, "".join(self.log[-30:]))


def sse_events(resp):
    """Yields the data of each server-sent event of an http.client response."""
    buf = b""
    while True:
        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(1)
        if not chunk:
            return
        buf += chunk
        while b"\n\n" in buf:
            event, buf = buf.split(b"\n\n", 1)
            for line in event.split(b"\n"):
                if line.startswith(b"data: "):
                    yield line[6:].decode()


def metrics(server):
    status, _, data = server.request("GET", "/metrics")
    assert status == 200
    out = {}
    for line in data.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def openai_client(server, ops, api_key="none", timeout=300):
    """Runs tests/npm/openai_client.mjs with ops; returns its results."""
    p = subprocess.run([NODE, os.path.join(NPM, "openai_client.mjs"), server.url + "/v1", api_key, json.dumps(ops)],
                       capture_output=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("openai client failed: %s\nserver log:\n%s" % (p.stderr.decode(), "".join(server.log[-20:])))
    return json.loads(p.stdout)


def run_greedy(prompt, n, *extra):
    """`lineage run --temp 0` on the same prompt text: (text, stop reason,
    prompt tokens, generated tokens), read from its output."""
    p = subprocess.run([BIN, "run", "-m", MODEL, "-p", prompt, "-n", str(n), "--temp", "0", "-t", "1",
                        "--no-display-prompt", *extra], capture_output=True, timeout=300)
    assert p.returncode == 0, p.stderr.decode()
    out = p.stdout.decode()
    assert out.endswith("\n")
    err = p.stderr.decode()
    stats = [l for l in err.splitlines() if l.startswith("lineage: prompt")][-1]
    n_prompt = int(stats.split("prompt ")[1].split(" ")[0])
    n_gen = int(stats.split("generated ")[1].split(" ")[0])
    stop = stats.rsplit("stop: ", 1)[1].strip()
    return out[:-1], stop, n_prompt, n_gen


def model_without_stop_string(directory):
    """A copy of the demo model whose stop string ("\\n\\n", which ends its
    answers after a speech or two) is replaced, in place, by two DEL
    characters it never writes: generations then run as long as asked."""
    with open(MODEL, "rb") as f:
        data = f.read()
    key = b"lineage.stop_strings"
    # key, then: array type (9), element type string (8), count 1, length 2, the bytes.
    value = struct.pack("<IIQQ", 9, 8, 1, 2) + b"\n\n"
    at = data.index(key + value) + len(key) + len(value) - 2
    path = os.path.join(directory, "shakespeare-long.gguf")
    with open(path, "wb") as f:
        f.write(data[:at] + b"\x7f\x7f" + data[at + 2:])
    return path


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
