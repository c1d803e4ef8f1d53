"""`lineage serve` over raw HTTP (Python's http.client): the error shapes and
status codes, the Host-header check, body limits, the SSE framing, metrics,
a full queue, a client that hangs up mid-stream, and SIGTERM."""
import http.client
import json
import os
import signal
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cli_common import run  # noqa: E402
from serve_common import MODEL, Server, metrics, model_without_stop_string, sse_events  # noqa: E402

USER = [{"role": "user", "content": "Good morrow."}]


def error_of(testcase, status, data, want_status, param=None, code=None):
    testcase.assertEqual(status, want_status, data)
    testcase.assertEqual(set(data), {"error"})
    e = data["error"]
    testcase.assertEqual(set(e), {"message", "type", "param", "code"})
    testcase.assertTrue(e["message"])
    if param is not None:
        testcase.assertEqual(e["param"], param)
    if code is not None:
        testcase.assertEqual(e["code"], code)
    return e


class ServeHttp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("--parallel", "2")

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        assert code == 0, "lineage serve exited with %s:\n%s" % (code, "".join(cls.server.log[-30:]))

    def post(self, path, body, headers=None):
        return self.server.post(path, body, headers)

    def test_malformed_and_mistyped(self):
        s = self.server
        status, _, data = s.request("POST", "/v1/chat/completions", body='{"messages": [')
        error_of(self, status, json.loads(data), 400)
        status, _, data = s.request("POST", "/v1/completions", body="")
        error_of(self, status, json.loads(data), 400)
        for body, param in (({"messages": "hi"}, "messages"),
                            ({"messages": USER, "temperature": "hot"}, "temperature"),
                            ({"messages": USER, "max_tokens": "5"}, "max_tokens"),
                            ({"messages": USER, "temperature": 7}, "temperature"),
                            ({"messages": USER, "n": 3}, "n"),
                            ({"messages": USER, "logprobs": True, "top_logprobs": 50}, "top_logprobs"),
                            ({}, "messages")):
            status, _, data = self.post("/v1/chat/completions", body)
            error_of(self, status, data, 400, param=param)
        status, _, data = self.post("/v1/completions", {"prompt": "x", "logprobs": 9})
        error_of(self, status, data, 400, param="logprobs")
        status, _, data = self.post("/v1/completions", {"prompt": [5000]})
        error_of(self, status, data, 400, param="prompt")  # outside the 1024-token vocabulary
        status, _, data = self.post("/v1/embeddings", {"input": 5})
        error_of(self, status, data, 400, param="input")
        # Tools need a template that renders them; the demo model's does not.
        status, _, data = self.post("/v1/chat/completions", {
            "messages": USER, "tools": [{"type": "function", "function": {"name": "f"}}]})
        error_of(self, status, data, 400, param="tools")

    def test_context_length_exceeded(self):
        # The slot holds 256 tokens (the model's context).
        status, _, data = self.post("/v1/completions", {"prompt": "ROMEO:", "max_tokens": 255})
        error_of(self, status, data, 400, code="context_length_exceeded")
        status, _, data = self.post("/v1/chat/completions",
                                    {"messages": [{"role": "user", "content": "Speak. " * 300}]})
        error_of(self, status, data, 400, code="context_length_exceeded")
        status, _, data = self.post("/v1/embeddings", {"input": "Speak. " * 300})
        error_of(self, status, data, 400, code="context_length_exceeded")
        # Without max_tokens the answer may use what the prompt leaves.
        status, _, data = self.post("/v1/completions", {"prompt": "ROMEO:", "max_tokens": 250, "temperature": 0})
        self.assertEqual(status, 200, data)

    def test_paths_and_methods(self):
        s = self.server
        status, _, data = s.request("GET", "/v1/nothing")
        error_of(self, status, json.loads(data), 404)
        status, _, data = s.request("POST", "/v2/chat/completions", body="{}")
        error_of(self, status, json.loads(data), 404)
        status, hdrs, data = s.request("GET", "/v1/chat/completions")
        error_of(self, status, json.loads(data), 405)
        self.assertEqual(hdrs["allow"], "POST")
        status, hdrs, data = s.request("DELETE", "/v1/models")
        error_of(self, status, json.loads(data), 405)
        self.assertEqual(hdrs["allow"], "GET")
        status, _, data = s.request("GET", "/health")
        self.assertEqual((status, json.loads(data)), (200, {"status": "ok"}))

    def test_host_header(self):
        s = self.server
        for host in ("evil.example", "evil.example:%d" % s.port, "127.0.0.1.evil.example"):
            status, _, data = s.request("GET", "/v1/models", headers={"Host": host})
            error_of(self, status, json.loads(data), 403)
        for host in ("localhost:%d" % s.port, "127.0.0.1:%d" % s.port, "[::1]:%d" % s.port, "localhost"):
            status, _, _ = s.request("GET", "/v1/models", headers={"Host": host})
            self.assertEqual(status, 200, host)

    def test_huge_body(self):
        c = self.server.conn()
        body = b'{"prompt": "' + b"a" * (9 << 20) + b'"}'
        try:
            c.request("POST", "/v1/completions", body=body, headers={"Content-Type": "application/json"})
            r = c.getresponse()
            status, data = r.status, r.read()
        except (BrokenPipeError, ConnectionResetError):
            self.fail("the server must answer 413, not drop the connection")
        c.close()
        error_of(self, status, json.loads(data), 413)

    def test_sse_framing(self):
        c = self.server.conn()
        c.request("POST", "/v1/chat/completions", headers={"Content-Type": "application/json"},
                  body=json.dumps({"messages": USER, "max_tokens": 8, "stream": True, "temperature": 0}))
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertTrue(r.getheader("Content-Type").startswith("text/event-stream"))
        events = list(sse_events(r))
        c.close()
        self.assertEqual(events[-1], "[DONE]")
        chunks = [json.loads(e) for e in events[:-1]]
        self.assertEqual(chunks[0]["choices"][0]["delta"]["role"], "assistant")
        self.assertTrue(all(c["object"] == "chat.completion.chunk" for c in chunks))
        self.assertEqual(len({c["id"] for c in chunks}), 1)
        self.assertIn(chunks[-1]["choices"][0]["finish_reason"], ("stop", "length"))
        self.assertTrue(all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1]))

    def test_metrics(self):
        self.post("/v1/completions", {"prompt": "ROMEO:", "max_tokens": 4, "temperature": 0})
        m = metrics(self.server)
        for name in ("lineage_requests_total", "lineage_prompt_tokens_total", "lineage_generated_tokens_total",
                     "lineage_tokens_per_second", "lineage_queue_depth", "lineage_busy_slots"):
            self.assertIn(name, m)
        self.assertGreaterEqual(m["lineage_requests_total"], 1)
        self.assertGreaterEqual(m["lineage_generated_tokens_total"], 1)
        self.assertGreater(m["lineage_tokens_per_second"], 0)
        self.assertEqual(m["lineage_slots"], 2)
        self.assertGreaterEqual(m['lineage_http_requests_total{endpoint="/v1/completions",status="200"}'], 1)


def open_stream(server, body):
    """Starts a streamed completion and returns (connection, response, first event)."""
    c = server.conn()
    c.request("POST", "/v1/completions", body=json.dumps(dict(body, stream=True)),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    return c, r


def hang_up(conn):
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()


# A generation that runs far longer than the test needs: most of a
# 4096-token slot, past end-of-text, on a model copy without a stop string.
LONG = {"prompt": "ROMEO:", "max_tokens": 4000, "ignore_eos": True, "temperature": 1.0, "seed": 7}


class ServeLimits(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.long_model = model_without_stop_string(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_queue_full_is_503(self):
        with Server("--parallel", "1", "--queue", "1", "--ctx-size", "4096", model=self.long_model) as s:
            a, ra = open_stream(s, LONG)
            first = next(sse_events(ra))  # running in the one slot
            self.assertTrue(json.loads(first)["choices"])
            b, rb = open_stream(s, LONG)  # waits in the one queue place
            while metrics(s)["lineage_queue_depth"] < 1:
                time.sleep(0.01)
            status, hdrs, data = s.post("/v1/completions", LONG)
            e = error_of(self, status, data, 503)
            self.assertEqual(e["type"], "server_error")
            self.assertIn("retry-after", hdrs)
            hang_up(a)
            hang_up(b)
            # Both are cancelled (the queued one when the server next probes
            # its connection); then the server takes requests again.
            while metrics(s).get('lineage_requests_finished_total{reason="cancelled"}', 0) < 2:
                time.sleep(0.05)
            status, _, data = s.post("/v1/completions", {"prompt": "ROMEO:", "max_tokens": 4})
            self.assertEqual(status, 200, data)

    def test_disconnect_frees_the_slot(self):
        with Server("--parallel", "1", "--ctx-size", "4096", model=self.long_model) as s:
            c, r = open_stream(s, LONG)
            next(sse_events(r))
            hang_up(c)
            # With the only slot freed, this request runs; had the abandoned
            # one kept generating, it would only start after 4000 tokens.
            status, _, data = s.post("/v1/completions", {"prompt": "ROMEO:", "max_tokens": 4, "temperature": 0})
            self.assertEqual(status, 200, data)
            m = metrics(s)
            self.assertEqual(m["lineage_requests_total"], 2)
            self.assertEqual(m['lineage_requests_finished_total{reason="cancelled"}'], 1)
            self.assertLess(m["lineage_generated_tokens_total"], 4000)

    def test_stalled_client_is_dropped_and_others_are_served(self):
        with Server("--timeout", "2") as s:
            stalled = socket.create_connection(("127.0.0.1", s.port), timeout=30)
            # Headers promise a body that never comes.
            stalled.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
            status, _, data = s.post("/v1/completions", {"prompt": "ROMEO:", "max_tokens": 4, "temperature": 0})
            self.assertEqual(status, 200, data)
            t0 = time.monotonic()
            try:
                while stalled.recv(4096):
                    pass  # whatever the server says, it must then close the connection
            except ConnectionResetError:
                pass
            # Dropped after the 2 s read timeout, long before the socket's own 30 s.
            self.assertLess(time.monotonic() - t0, 20)
            stalled.close()
            status, _, data = s.request("GET", "/health")
            self.assertEqual(status, 200, data)

    def test_sigterm_finishes_open_streams_and_exits_0(self):
        s = Server("--parallel", "1")
        try:
            c, r = open_stream(s, {"prompt": "ROMEO:", "max_tokens": 60, "temperature": 0})
            events = sse_events(r)
            next(events)
            s.proc.send_signal(signal.SIGTERM)
            rest = list(events)
            self.assertEqual(rest[-1], "[DONE]", "the open stream finishes")
            c.close()
        finally:
            code = s.stop()
        self.assertEqual(code, 0, "".join(s.log))
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", s.port), timeout=5).close()

    def test_sigint_when_idle_exits_0(self):
        s = Server()
        self.assertEqual(s.stop(signal.SIGINT), 0, "".join(s.log))


class ServeBadStart(unittest.TestCase):
    def test_bad_invocations_fail_cleanly(self):
        code, out, err = run("serve", "-m", "/nonexistent/model.gguf", "--port", "0")
        self.assertEqual(code, 1)
        self.assertIn("error: /nonexistent/model.gguf", err)
        self.assertEqual(out, b"")
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            code, out, err = run("serve", "-m", MODEL, "--port", str(busy.getsockname()[1]))
        self.assertEqual(code, 1)
        self.assertIn("error: cannot listen on 127.0.0.1:", err)
        code, _, err = run("serve", "-m", MODEL, "--parallel", "0")
        self.assertNotEqual(code, 0)
        self.assertIn("parallel", err)


if __name__ == "__main__":
    unittest.main()
