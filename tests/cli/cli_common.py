"""Helpers for the end-to-end tests: run the real binary as a user would."""
import os
import subprocess
import tempfile

BIN = os.environ.get("LINEAGE_BIN", "build/lineage")
SHARED = os.environ.get("LINEAGE_SHARED_DIR", "../shared")
SOURCE = os.environ.get("LINEAGE_SOURCE_DIR", ".")


def shared(*parts):
    return os.path.join(SHARED, *parts)


def run(*args, timeout=300, input_bytes=None):
    """Runs lineage with args; returns (exit code, stdout bytes, stderr text)."""
    p = subprocess.run([BIN, *args], capture_output=True, timeout=timeout, input=input_bytes)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def tmpdir():
    return tempfile.mkdtemp(prefix="lineage_cli_")
