"""Hostile or broken input ends with one clear error line and a non-zero exit, never a crash."""
import os
import struct
import unittest

from cli_common import run, shared, tmpdir

GOLDEN = shared("golden", "llamacpp", "tiny-11-F32.gguf")


def tensor_info_offset(data, name):
    """Byte offset of the tensor info that follows the given tensor name."""
    key = struct.pack("<Q", len(name)) + name.encode()
    at = data.find(key)
    assert at >= 0, name
    return at + len(key)


class BadInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tmpdir()
        with open(GOLDEN, "rb") as f:
            cls.good = f.read()

    def write(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def assert_clean_failure(self, args, *needles):
        code, out, err = run(*args)
        self.assertGreater(code, 0, f"exit {code} (a negative code is a signal: a crash)\n{err}")
        lines = [l for l in err.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("error: "), err)
        for n in needles:
            self.assertIn(n, lines[0])
        self.assertNotIn("Sanitizer", err)

    def assert_every_command_fails(self, path, *needles):
        self.assert_clean_failure(["run", "-m", path, "-p", "hi", "-n", "2"], *needles)
        self.assert_clean_failure(["eval", "-m", path, "--ids", "1,2"], *needles)

    def test_truncated_files(self):
        for n in (0, 3, 10, 24, 200, len(self.good) // 2, len(self.good) - 1):
            path = self.write(f"trunc{n}.gguf", self.good[:n])
            self.assert_every_command_fails(path)
            self.assert_clean_failure(["inspect", path])

    def test_wrong_magic(self):
        path = self.write("magic.gguf", b"GGML" + self.good[4:])
        self.assert_every_command_fails(path, "not a GGUF file")

    def test_absurd_counts(self):
        data = bytearray(self.good)
        struct.pack_into("<Q", data, 8, 1 << 60)  # tensor count
        self.assert_every_command_fails(self.write("ntensors.gguf", data), "tensor count")
        data = bytearray(self.good)
        struct.pack_into("<Q", data, 16, 1 << 62)  # metadata count
        self.assert_every_command_fails(self.write("nkv.gguf", data), "metadata count")

    def test_offset_past_the_end(self):
        data = bytearray(self.good)
        at = tensor_info_offset(data, "output.weight")
        n_dims = struct.unpack_from("<I", data, at)[0]
        struct.pack_into("<Q", data, at + 4 + 8 * n_dims + 4, 1 << 40)
        self.assert_every_command_fails(self.write("offset.gguf", data), "output.weight", "past the end")

    def test_unknown_type(self):
        data = bytearray(self.good)
        at = tensor_info_offset(data, "output.weight")
        n_dims = struct.unpack_from("<I", data, at)[0]
        struct.pack_into("<I", data, at + 4 + 8 * n_dims, 77)
        self.assert_every_command_fails(self.write("type.gguf", data), "unknown type id 77")

    def test_unsupported_type(self):
        # output.weight (F32, 256 x 512) relabelled IQ4_NL: a known layout
        # lineage has no kernels for; its blocks fit in the F32 bytes.
        data = bytearray(self.good)
        at = tensor_info_offset(data, "output.weight")
        n_dims = struct.unpack_from("<I", data, at)[0]
        struct.pack_into("<I", data, at + 4 + 8 * n_dims, 20)
        path = self.write("iq4_nl.gguf", data)
        self.assert_every_command_fails(path, "output.weight", "IQ4_NL", "cannot compute")
        code, out, err = run("inspect", path)  # inspect still shows such a file
        self.assertEqual(code, 0, err)
        self.assertIn(b"IQ4_NL", out)

    def test_missing_tensor(self):
        data = self.good.replace(b"blk.1.ffn_up.weight", b"blk.1.ffn_XX.weight")
        self.assert_every_command_fails(self.write("missing.gguf", data), "blk.1.ffn_up.weight")

    def test_missing_file(self):
        self.assert_every_command_fails(os.path.join(self.dir, "nope.gguf"), "cannot open")

    def test_prompt_longer_than_context(self):
        model = shared("models", "shakespeare-5M.gguf")
        self.assert_clean_failure(["run", "-m", model, "-p", "To be or not to be, that is the question " * 4,
                                   "--ctx-size", "16"], "context")

    def test_bad_token_ids(self):
        model = shared("models", "shakespeare-5M.gguf")
        self.assert_clean_failure(["eval", "-m", model, "--ids", "1,99999"], "99999")
        self.assert_clean_failure(["eval", "-m", model, "--ids", "1,abc"], "token id list")
        self.assert_clean_failure(["eval", "-m", model, "--ids", "-5"], "-5")

    def test_bad_prompt_file(self):
        model = shared("models", "shakespeare-5M.gguf")
        self.assert_clean_failure(["run", "-m", model, "-f", os.path.join(self.dir, "absent.txt")], "absent.txt")

    def test_bad_options(self):
        model = shared("models", "shakespeare-5M.gguf")
        for args, needle in ((["-t", "0"], "--threads"), (["-c", "0"], "--ctx-size"), (["-n", "-7"], "--n-predict"),
                             (["--no-such-flag"], "no-such-flag"), (["-c", "many"], "--ctx-size")):
            code, out, err = run("run", "-m", model, "-p", "hi", *args)
            self.assertGreater(code, 0, err)
            self.assertIn(needle, err)
            self.assertEqual(out, b"")
        code, out, err = run()
        self.assertGreater(code, 0)
        self.assertIn("subcommand", err)

    def test_prompt_problems(self):
        model = shared("models", "shakespeare-5M.gguf")
        self.assert_clean_failure(["run", "-m", model, "-p", ""], "prompt is empty")
        self.assert_clean_failure(["run", "-m", model, "-f", self.dir], "not a regular file")
        code, _, err = run("run", "-m", model, "-p", "hi", "--repeat-penalty", "0")
        self.assertGreater(code, 0)
        self.assertIn("--repeat-penalty", err)

    def test_context_larger_than_memory(self):
        with open("/proc/meminfo") as f:
            total_kib = int(f.readline().split()[1])
        if total_kib > 80 * 1024 * 1024:
            self.skipTest("this machine could hold the 94 GiB cache")
        # 16M positions of the demo model need 94 GiB of KV cache: refused
        # before allocating, rather than killed by the kernel later.
        self.assert_clean_failure(["run", "-m", shared("models", "shakespeare-5M.gguf"), "-p", "hi",
                                   "-c", "16000000"], "KV cache", "--ctx-size")

    def test_quantize_refuses_non_finite_weights(self):
        from gguf_read import read_gguf
        _, tensors = read_gguf(GOLDEN)
        blob = tensors["blk.0.attn_q.weight"][2][:64]
        data = bytearray(self.good)
        at = data.find(blob)
        self.assertGreater(at, 0)
        struct.pack_into("<f", data, at + 8, float("nan"))
        src = self.write("nan.gguf", data)
        out = os.path.join(self.dir, "nan-q8.gguf")
        self.assert_clean_failure(["quantize", src, out, "Q8_0"], "blk.0.attn_q.weight", "nan")
        self.assertFalse(os.path.exists(out))

    def test_quantize_refuses_unknown_type(self):
        out = os.path.join(self.dir, "q.gguf")
        self.assert_clean_failure(["quantize", GOLDEN, out, "Q9_9"], "Q9_9")
        self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    unittest.main()
