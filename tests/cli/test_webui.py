"""The chat page `lineage serve` serves at `/`, driven in headless Chromium
(tests/npm/webui_test.mjs, playwright-core) on the demo model.

Truths: the page's streamed greedy answer and its token counts equal what the
server answers to the same request sent directly (non-streamed); a stopped
stream stops and frees the server's slot (/metrics); conversations, renames
and deletions survive a reload; a hostile answer (raw HTML, javascript:
links) served in place of the model's creates no element and runs nothing;
the files served are the bytes of src/server/webui with the headers the
page's security rests on."""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cli_common import BIN  # noqa: E402
from serve_common import NODE, NPM, Server, model_without_stop_string  # noqa: E402

KEY = "sk-webui-0123456789"
CHROMIUM = "/usr/bin/chromium"
SOURCE = os.environ.get("LINEAGE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
WEBUI = os.path.join(SOURCE, "src", "server", "webui")
# Screenshots land next to the binary, in the build tree.
ARTIFACTS = os.path.dirname(os.path.abspath(BIN))


def read_metrics(server):
    status, _, data = server.request("GET", "/metrics", headers={"Authorization": "Bearer " + KEY})
    assert status == 200, status
    return {name: float(value) for name, value in
            (line.rsplit(" ", 1) for line in data.decode().splitlines() if line and not line.startswith("#"))}


def missing_browser():
    if not os.path.exists(CHROMIUM):
        return "Debian's chromium is not installed (%s); scripts/deps.sh installs it" % CHROMIUM
    if not os.path.isdir(os.path.join(NPM, "node_modules", "playwright-core")):
        return "tests/npm/node_modules lacks playwright-core; run npm ci in tests/npm"
    return None


class WebUiFiles(unittest.TestCase):
    """HTTP-level checks of the page, no browser needed."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server("--parallel", "1", "--ctx-size", "256", "--api-key", KEY)

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        assert code == 0, "lineage serve exited with %s:\n%s" % (code, "".join(cls.server.log[-30:]))

    def get(self, path, headers=None):
        return self.server.request("GET", path, headers=headers)

    def test_files_are_the_sources(self):
        names = sorted(os.listdir(WEBUI))
        self.assertIn("index.html", names)
        types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
        for name in names:
            with open(os.path.join(WEBUI, name), "rb") as f:
                want = f.read()
            for path in (["/", "/webui/index.html"] if name == "index.html" else ["/webui/" + name]):
                status, hdrs, body = self.get(path)
                self.assertEqual(status, 200, path)
                self.assertEqual(body, want, path)
                self.assertTrue(hdrs["content-type"].startswith(types[os.path.splitext(name)[1]]), (path, hdrs))
                self.assertEqual(hdrs["x-content-type-options"], "nosniff", path)

    def test_security_headers(self):
        status, hdrs, _ = self.get("/")
        self.assertEqual(status, 200)
        csp = {d.split()[0]: d.split()[1:] for d in hdrs["content-security-policy"].split(";") if d.strip()}
        self.assertEqual(csp["default-src"], ["'none'"])
        self.assertEqual(csp["script-src"], ["'self'"])
        self.assertEqual(csp["connect-src"], ["'self'"])
        self.assertEqual(csp["frame-ancestors"], ["'none'"])
        self.assertNotIn("unsafe-inline", hdrs["content-security-policy"])
        self.assertNotIn("unsafe-eval", hdrs["content-security-policy"])
        self.assertEqual(hdrs["x-content-type-options"], "nosniff")

    def test_revalidation(self):
        status, hdrs, body = self.get("/webui/app.js")
        self.assertEqual(status, 200)
        self.assertEqual(hdrs["cache-control"], "no-cache")
        tag = hdrs["etag"]
        status, hdrs2, body2 = self.get("/webui/app.js", {"If-None-Match": tag})
        self.assertEqual((status, body2), (304, b""))
        self.assertEqual(hdrs2["etag"], tag)
        status, _, body3 = self.get("/webui/app.js", {"If-None-Match": '"0000000000000000"'})
        self.assertEqual((status, body3), (200, body))

    def test_page_needs_no_key_but_the_api_does(self):
        self.assertEqual(self.get("/")[0], 200)
        status, _, body = self.get("/v1/models")
        self.assertEqual(status, 401)
        self.assertEqual(json.loads(body)["error"]["code"], "invalid_api_key")
        # Only reading the page's files goes without a key.
        status, _, body = self.server.request("POST", "/", body="{}")
        self.assertEqual(status, 401)

    def test_unknown_file_is_404(self):
        for path in ("/webui/nope.js", "/webui/", "/webui/../server.cpp", "/index.htm"):
            status, hdrs, body = self.get(path, {"Authorization": "Bearer " + KEY})
            self.assertEqual(status, 404, path)
            self.assertEqual(json.loads(body)["error"]["code"], "not_found", path)

    def test_foreign_host_refused(self):
        status, _, body = self.get("/", {"Host": "attacker.example"})
        self.assertEqual(status, 403)
        self.assertEqual(json.loads(body)["error"]["code"], "forbidden_host")


@unittest.skipIf(missing_browser(), missing_browser())
class WebUiBrowser(unittest.TestCase):
    """One pass through the page in a real browser; each test checks a part."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        # Answers that run as long as asked, so one can be stopped mid-way.
        model = model_without_stop_string(cls.tmp.name)
        cls.server = Server("--parallel", "1", "--ctx-size", "4096", "--api-key", KEY, model=model)
        try:
            p = subprocess.run([NODE, os.path.join(NPM, "webui_test.mjs"), cls.server.url, KEY, ARTIFACTS],
                               capture_output=True, timeout=300)
            if p.returncode != 0:
                raise RuntimeError("webui_test.mjs failed:\n%s\nserver log:\n%s"
                                   % (p.stderr.decode(), "".join(cls.server.log[-20:])))
            cls.out = json.loads(p.stdout)
            # What the server answers to the page's first request, asked directly.
            cls.direct_status, _, cls.direct = cls.server.post(
                "/v1/chat/completions",
                {k: v for k, v in cls.out["greedy"]["request"]["body"].items() if k not in ("stream", "stream_options")},
                {"Authorization": "Bearer " + KEY})
            # The scheduler frees a slot between its steps, a moment after
            # the answer is out; wait for that rather than race it.
            deadline = time.monotonic() + 30
            cls.metrics = read_metrics(cls.server)
            while cls.metrics["lineage_busy_slots"] != 0 and time.monotonic() < deadline:
                time.sleep(0.05)
                cls.metrics = read_metrics(cls.server)
        except BaseException:
            cls.server.stop()
            cls.tmp.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        cls.tmp.cleanup()
        assert code == 0, "lineage serve exited with %s:\n%s" % (code, "".join(cls.server.log[-30:]))

    def test_page_loads_clean(self):
        o = self.out
        self.assertIn("script-src 'self'", o["pageHeaders"]["content-security-policy"])
        self.assertEqual(o["pageErrors"], [])
        self.assertEqual(o["cspAtEnd"], [])
        # The only console error is the 401 of the model list before the key was given.
        self.assertTrue(all("401" in e for e in o["consoleErrors"]), o["consoleErrors"])
        self.assertIn("API key", o["keyNotice"])
        self.assertTrue(o["noticeHiddenAfterKey"])
        self.assertEqual(o["model"], "shakespeare-long.gguf")

    def test_streamed_answer_equals_direct_request(self):
        g = self.out["greedy"]
        req = g["request"]
        self.assertEqual(req["auth"], "Bearer " + KEY)
        body = req["body"]
        self.assertIs(body["stream"], True)
        self.assertEqual(body["stream_options"], {"include_usage": True})
        self.assertEqual(body["temperature"], 0)
        self.assertEqual(body["max_tokens"], 24)
        self.assertEqual(body["messages"], [{"role": "system", "content": "A street in Verona."},
                                            {"role": "user", "content": "Where is fair Juliet tonight?"}])
        self.assertEqual(self.direct_status, 200)
        want = self.direct["choices"][0]["message"]["content"]
        self.assertTrue(want)
        answer = g["stored"]["messages"][1]
        self.assertEqual(answer["content"], want)
        self.assertEqual(answer["state"], "done")
        self.assertEqual(g["userText"], "Where is fair Juliet tonight?")
        # Rendered as paragraphs with line breaks: the same text, less the newlines.
        self.assertEqual(g["answerText"], want.strip().replace("\n", ""))
        usage = self.direct["usage"]
        self.assertEqual(int(g["stats"]["promptTokens"]), usage["prompt_tokens"])
        self.assertEqual(int(g["stats"]["completionTokens"]), usage["completion_tokens"])
        self.assertIn("tokens/s", g["stats"]["text"])

    def test_stop(self):
        s = self.out["stop"]
        self.assertTrue(self.out["stopVisibleWhileStreaming"])
        # The answer grew on screen while it streamed.
        streaming = sorted({n for state, n in s["seen"] if state == "streaming" and n > 0})
        self.assertGreaterEqual(len(streaming), 2, s["seen"][:20])
        self.assertEqual(s["lenLater"], s["lenAtStop"])
        self.assertTrue(s["sendVisible"])
        self.assertTrue(s["stopHidden"])
        self.assertIn("stopped", s["tag"])
        self.assertEqual(s["storedState"], "stopped")
        self.assertEqual(s["maxTokens"], 4000)
        # The server noticed the client leave: the slot is free and the
        # request ended long before its 4000 tokens.
        m = self.metrics
        self.assertEqual(m["lineage_busy_slots"], 0)
        self.assertEqual(m.get('lineage_requests_finished_total{reason="cancelled"}'), 1, m)
        self.assertLess(m["lineage_generated_tokens_total"], 4000)

    def test_reload_keeps_conversations(self):
        o = self.out
        self.assertEqual(sorted(o["titlesAfterReload"]),
                         sorted(["Where is fair Juliet tonight?", "Tell me the whole story of the two houses."]))
        want = self.direct["choices"][0]["message"]["content"]
        self.assertEqual([m["cls"] for m in o["reloaded"]], ["msg user", "msg assistant"])
        self.assertEqual(o["reloaded"][0]["text"], "Where is fair Juliet tonight?")
        self.assertEqual(o["reloaded"][1]["text"], want.strip().replace("\n", ""))

    def test_rename_and_delete(self):
        o = self.out
        self.assertEqual(o["titleAfterRename"], "Verona notes")
        self.assertIn("Verona notes", o["titlesAfterRename"])
        self.assertNotIn("Where is fair Juliet tonight?", o["titlesAfterRename"])
        self.assertEqual(o["titlesAfterDelete"], ["Verona notes"])
        self.assertEqual(o["titlesAfterDeleteReload"], ["Verona notes"])

    def test_hostile_answer_runs_nothing(self):
        c = self.out["crafted"]
        self.assertIsNone(c["pwned"])
        self.assertEqual(c["csp"], [])  # nothing even tried to run inline code
        self.assertEqual(c["dangerous"], 0)
        self.assertEqual(c["bold"], 0)
        for text in ('<img src=x onerror="window.__pwned=1">', "<script>window.__pwned=2</script>",
                     '<a href="javascript:window.__pwned=3">raw anchor</a>',
                     "[click me](javascript:window.__pwned=4)", "[tabbed](java\tscript:window.__pwned=5)",
                     "<javascript:window.__pwned=6>"):
            self.assertIn(text, c["text"])
        self.assertEqual(c["links"], [{"href": "https://example.com/a?b=1", "rel": "noopener noreferrer", "text": "safe"}])

    def test_markdown_rendering(self):
        c = self.out["crafted"]
        self.assertEqual(c["h1"], ["Report"])
        self.assertEqual(c["strong"], ["bold"])
        self.assertEqual(c["em"], ["emphasis"])
        self.assertEqual(c["inlineCode"], ["inline code"])
        self.assertEqual(c["items"], ["first", "second"])
        self.assertEqual(c["codeBlocks"], ["console.log('<b>not bold</b>');"])
        self.assertEqual(c["clipboard"], "console.log('<b>not bold</b>');")

    def test_phone_layout(self):
        p = self.out["phone"]
        self.assertLessEqual(p["scrollWidth"], 390)
        self.assertLessEqual(p["scrollWidthInChat"], 390)
        self.assertTrue(p["toggleVisible"])
        self.assertLessEqual(p["sidebarClosed"]["right"], 0)
        self.assertGreaterEqual(p["sidebarOpen"]["left"], 0)
        self.assertGreater(p["sidebarOpen"]["width"], 200)
        self.assertLessEqual(p["sidebarClosedAgain"]["right"], 0)
        self.assertEqual(p["title"], "Verona notes")
        self.assertLessEqual(p["composer"]["bottom"], 844)
        self.assertLessEqual(p["send"]["right"], 390)
        self.assertTrue(os.path.exists(os.path.join(ARTIFACTS, "webui-phone.png")))
        self.assertTrue(os.path.exists(os.path.join(ARTIFACTS, "webui.png")))


if __name__ == "__main__":
    unittest.main()
