#!/usr/bin/env python3
"""Load test for `lineage serve`: N concurrent streaming clients for a
bounded time, then a report of throughput, latency, errors and memory.

Every request is greedy (temperature 0) and drawn from a small set of
prompts, so each answer can be checked against the same prompt answered
alone, before the load starts: under load a request must see exactly its
own output, whatever else is being decoded beside it.

    load.py --bin build/lineage -m models/shakespeare-5M.gguf \
        --clients 64 --seconds 60 --parallel 8

starts the server itself (port 0, reads the port it prints), or
    load.py --url http://127.0.0.1:8080 --clients 16 --seconds 30
uses a running one (RSS then needs --pid). Exit status 1 when any request
failed or differed from its sequential answer.
"""
import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

PROMPTS = [
    "ROMEO:",
    "First Citizen:\nBefore we proceed any further, hear me speak.",
    "KING RICHARD II:\nNo matter where; of comfort no man speak:",
    "The quality of mercy",
    "JULIET:\nO Romeo, Romeo! wherefore art thou",
    "To be, or not to be, that is the question:",
    "MENENIUS:\nI tell you, friends, most charitable care",
    "Now is the winter of our discontent",
]


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * (len(s) - 1)))))
    return s[k]


def rss_bytes(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class Client:
    """One streaming /v1/completions request over its own connection."""

    def __init__(self, url, api_key, timeout, ignore_eos=False):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port or 80
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = "Bearer " + api_key
        self.timeout = timeout
        self.ignore_eos = ignore_eos

    def stream(self, prompt, max_tokens):
        """Returns (text, n_tokens, ttft, gaps) or raises on any failure."""
        body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
                           "stream": True, "stream_options": {"include_usage": True},
                           "ignore_eos": self.ignore_eos})
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            t0 = time.monotonic()
            conn.request("POST", "/v1/completions", body=body, headers=self.headers)
            resp = conn.getresponse()
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:200]!r}")
            text, n_tokens, ttft, gaps, last, done = [], None, None, [], None, False
            while True:
                line = resp.readline()
                if not line:
                    break
                line = line.strip()
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    done = True
                    break
                chunk = json.loads(data)
                if chunk.get("usage"):
                    n_tokens = chunk["usage"]["completion_tokens"]
                for ch in chunk.get("choices", []):
                    piece = ch.get("text", "")
                    if piece:
                        now = time.monotonic()
                        if ttft is None:
                            ttft = now - t0
                        else:
                            gaps.append(now - last)
                        last = now
                        text.append(piece)
            if not done:
                raise RuntimeError("stream ended without [DONE]")
            return "".join(text), n_tokens or 0, ttft, gaps
        finally:
            conn.close()


def start_server(args):
    cmd = [args.bin, "serve", "-m", args.model, "--port", "0", "--parallel", str(args.parallel),
           "--ctx-size", str(args.ctx_size), "-t", str(args.threads)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    log = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        log.append(line)
        m = re.search(r"http://([0-9.]+|\[[0-9a-f:]+\]|localhost):(\d+)", line)
        if m:
            # Keep draining the server's output so it never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, f"http://{m.group(1)}:{m.group(2)}"
    proc.kill()
    sys.exit("server did not start:\n" + "".join(log))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url")
    ap.add_argument("--pid", type=int, help="server pid, for RSS (with --url)")
    ap.add_argument("--bin")
    ap.add_argument("-m", "--model")
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--ctx-size", type=int, default=512)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--api-key")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--ignore-eos", action="store_true",
                    help="generate max_tokens every time (random-weight models end early otherwise)")
    ap.add_argument("--timeout", type=float, default=300, help="per-request socket timeout")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    args = ap.parse_args()

    proc = None
    if args.url:
        url, pid = args.url, args.pid
    else:
        if not (args.bin and args.model):
            ap.error("give --url, or --bin and -m to start a server")
        proc, url = start_server(args)
        pid = proc.pid
    client = Client(url, args.api_key, args.timeout, args.ignore_eos)
    try:
        # The truth: each prompt answered alone, with nothing else running.
        expected = {p: client.stream(p, args.max_tokens)[0] for p in PROMPTS}
        rss_before = rss_bytes(pid) if pid else None

        lock = threading.Lock()
        stats = {"requests": 0, "tokens": 0, "errors": [], "mismatches": [], "ttft": [], "gaps": []}
        stop_at = time.monotonic() + args.seconds

        def worker(i):
            k = i
            while time.monotonic() < stop_at:
                p = PROMPTS[k % len(PROMPTS)]
                k += 1
                try:
                    text, n, ttft, gaps = client.stream(p, args.max_tokens)
                except Exception as e:  # noqa: BLE001 - every failure is counted and shown
                    with lock:
                        stats["errors"].append(f"{type(e).__name__}: {e}")
                    continue
                with lock:
                    stats["requests"] += 1
                    stats["tokens"] += n
                    if ttft is not None:
                        stats["ttft"].append(ttft)
                    stats["gaps"].extend(gaps)
                    if text != expected[p]:
                        stats["mismatches"].append({"prompt": p, "got": text, "want": expected[p]})

        # Memory is judged after a warm-up (every slot's cache and every
        # connection thread touched once) against the end, with the peak.
        warm_at = min(5.0, args.seconds / 6)
        rss = {"warm": None, "peak": 0}

        def monitor():
            while time.monotonic() < stop_at:
                r = rss_bytes(pid) if pid else None
                if r:
                    rss["peak"] = max(rss["peak"], r)
                    if rss["warm"] is None and time.monotonic() - t0 >= warm_at:
                        rss["warm"] = r
                time.sleep(0.25)

        t0 = time.monotonic()
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.clients)]
        threads.append(threading.Thread(target=monitor))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        rss_after = rss_bytes(pid) if pid else None
        report = {
            "clients": args.clients,
            "seconds": round(elapsed, 2),
            "requests": stats["requests"],
            "requests_per_s": round(stats["requests"] / elapsed, 2),
            "tokens_per_s": round(stats["tokens"] / elapsed, 1),
            "ttft_p50_ms": round(1000 * percentile(stats["ttft"], 50), 1),
            "ttft_p99_ms": round(1000 * percentile(stats["ttft"], 99), 1),
            "itl_p50_ms": round(1000 * percentile(stats["gaps"], 50), 2),
            "itl_p99_ms": round(1000 * percentile(stats["gaps"], 99), 2),
            "errors": len(stats["errors"]),
            "mismatches": len(stats["mismatches"]),
            "rss_before_mib": round(rss_before / 2**20, 1) if rss_before else None,
            "rss_warm_mib": round(rss["warm"] / 2**20, 1) if rss["warm"] else None,
            "rss_peak_mib": round(rss["peak"] / 2**20, 1) if rss["peak"] else None,
            "rss_after_mib": round(rss_after / 2**20, 1) if rss_after else None,
        }
        if args.json:
            print(json.dumps(report))
        else:
            for k, v in report.items():
                print(f"{k:>16}: {v}")
        for e in stats["errors"][:5]:
            print("error:", e, file=sys.stderr)
        for m in stats["mismatches"][:3]:
            print("mismatch:", json.dumps(m), file=sys.stderr)
        return 1 if stats["errors"] or stats["mismatches"] or stats["requests"] == 0 else 0
    finally:
        if proc:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            SERVER_EXIT.append(proc.returncode)


SERVER_EXIT = []

if __name__ == "__main__":
    rc = main()
    # A server this script started must shut down cleanly on SIGTERM (a
    # sanitizer report or a hang counts as a failure).
    if SERVER_EXIT and SERVER_EXIT[0] != 0:
        print(f"error: lineage serve exited with {SERVER_EXIT[0]}", file=sys.stderr)
        rc = 1
    sys.exit(rc)
