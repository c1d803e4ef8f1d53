"""`convert` on the tiny Hugging Face checkpoints in shared/golden/hf: the converted
files reproduce the logits and greedy continuations the transformers library
computed (reference.json), other GGUF readers take them, and broken input ends
in one clear error with no output file left behind."""
import glob
import json
import math
import os
import shutil
import struct
import subprocess
import tarfile
import unittest

from cli_common import run, shared, tmpdir
from gguf_read import read_gguf

MODELS = ["llama2-mha", "llama3-gqa-ropescaled-tied", "mistral-swa", "mixtral-moe"]
NPM = os.environ.get("LINEAGE_NPM_DIR", "tests/npm")


def extract(name, into):
    with tarfile.open(shared("golden", "hf", f"{name}.tar.gz")) as t:
        t.extractall(into)
    found = glob.glob(os.path.join(into, "**", "config.json"), recursive=True)
    assert len(found) == 1, found
    return os.path.dirname(found[0])


def eval_logits(model, ids, greedy=0):
    args = ["eval", "-m", model, "--ids", ",".join(map(str, ids))]
    if greedy:
        args += ["--greedy", str(greedy)]
    code, out, err = run(*args)
    assert code == 0, err
    lines = [json.loads(l) for l in out.decode().splitlines()]
    logits = [l["logits"] for l in lines if "logits" in l]
    cont = [l["greedy"] for l in lines if "greedy" in l]
    return logits, (cont[0] if cont else None)


def argmax(row):
    return max(range(len(row)), key=row.__getitem__)


class Convert(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tmpdir()
        cls.src, cls.ref, cls.f32, cls.f16 = {}, {}, {}, {}
        for name in MODELS:
            cls.src[name] = extract(name, os.path.join(cls.dir, "src", name))
            with open(os.path.join(cls.src[name], "reference.json")) as f:
                cls.ref[name] = json.load(f)
            for kind, extra, table in (("f32", ["--type", "f32"], cls.f32), ("f16", [], cls.f16)):
                out = os.path.join(cls.dir, f"{name}.{kind}.gguf")
                code, _, err = run("convert", cls.src[name], out, *extra)
                assert code == 0, err
                table[name] = out

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_f32_logits_match_transformers(self):
        for name in MODELS:
            ref = self.ref[name]
            logits, _ = eval_logits(self.f32[name], ref["tokens"])
            self.assertEqual(len(logits), len(ref["logits"]))
            for pos, (ours, want) in enumerate(zip(logits, ref["logits"])):
                tol = 1e-3 * max(abs(x) for x in want)
                worst = max(abs(a - b) for a, b in zip(ours, want))
                self.assertLessEqual(worst, tol, f"{name} position {pos}: off by {worst} (allowed {tol})")

    def test_f32_greedy_continuation_matches_transformers(self):
        for name in MODELS:
            ref = self.ref[name]
            _, cont = eval_logits(self.f32[name], ref["greedy_prompt"], greedy=len(ref["greedy_output"]))
            self.assertEqual(cont, ref["greedy_output"], name)

    def test_default_f16_loads_and_agrees(self):
        for name in MODELS:
            meta, tensors = read_gguf(self.f16[name])
            self.assertEqual(meta["general.file_type"], 1)
            for tname, (t, dims, _) in tensors.items():
                keep_f32 = len(dims) == 1 or tname.endswith("_norm.weight") or tname.endswith("ffn_gate_inp.weight")
                self.assertEqual(t, 0 if keep_f32 else 1, tname)
            ref = self.ref[name]
            logits, _ = eval_logits(self.f16[name], ref["tokens"])
            for pos, (ours, want) in enumerate(zip(logits, ref["logits"])):
                top = sorted(want, reverse=True)
                if top[0] - top[1] > 0.1:
                    self.assertEqual(argmax(ours), argmax(want), f"{name} position {pos}")

    def test_metadata_and_tensor_names(self):
        meta, tensors = read_gguf(self.f32["mixtral-moe"])
        self.assertEqual(meta["general.architecture"], "llama")
        self.assertEqual(meta["llama.expert_count"], 4)
        self.assertEqual(meta["llama.expert_used_count"], 2)
        self.assertEqual(meta["llama.attention.head_count_kv"], 3)
        self.assertNotIn("llama.attention.key_length", meta)  # head_dim is null in its config.json
        self.assertEqual(tensors["blk.0.ffn_gate_exps.weight"][1], [96, 128, 4])
        self.assertEqual(tensors["blk.0.ffn_down_exps.weight"][1], [128, 96, 4])
        self.assertEqual(tensors["blk.0.ffn_gate_inp.weight"][1], [96, 4])
        self.assertIn("output.weight", tensors)

        meta, tensors = read_gguf(self.f32["llama3-gqa-ropescaled-tied"])
        self.assertNotIn("output.weight", tensors)  # tied: the embedding table is reused
        self.assertEqual(meta["llama.attention.key_length"], 16)
        self.assertEqual(meta["llama.rope.freq_base"], 500000.0)

        meta, _ = read_gguf(self.f32["mistral-swa"])
        self.assertEqual(meta["llama.attention.sliding_window"], 8)

    def test_llama3_rope_factors(self):
        # transformers' llama3 rule, written out from its definition: the
        # rotation of pair i is slowed by inv_freq / scaled_inv_freq.
        with open(os.path.join(self.src["llama3-gqa-ropescaled-tied"], "config.json")) as f:
            cfg = json.load(f)
        rp = cfg["rope_parameters"]
        dim = cfg["head_dim"]
        old, lo, hi, factor = rp["original_max_position_embeddings"], rp["low_freq_factor"], rp["high_freq_factor"], rp["factor"]
        want = []
        for i in range(0, dim, 2):
            inv = 1.0 / rp["rope_theta"] ** (i / dim)
            wavelen = 2 * math.pi / inv
            if wavelen < old / hi:
                scaled = inv
            elif wavelen > old / lo:
                scaled = inv / factor
            else:
                smooth = (old / wavelen - lo) / (hi - lo)
                scaled = (1 - smooth) * inv / factor + smooth * inv
            want.append(inv / scaled)
        _, tensors = read_gguf(self.f32["llama3-gqa-ropescaled-tied"])
        t, dims, data = tensors["rope_freqs.weight"]
        self.assertEqual((t, dims), (0, [dim // 2]))
        got = struct.unpack(f"<{dim // 2}f", data)
        for g, w in zip(got, want):
            self.assertAlmostEqual(g, w, delta=1e-5 * w)
        self.assertGreater(max(got), 1.0)  # this config does scale some pairs

    def test_sliding_window_is_honoured(self):
        # Converted without its window, Mistral agrees with transformers only
        # where the window hides nothing (positions 0..W-1), which shows the
        # window is what makes the other positions match.
        name = "mistral-swa"
        ref = self.ref[name]
        src = os.path.join(self.dir, "mistral-nowindow")
        shutil.copytree(self.src[name], src)
        with open(os.path.join(src, "config.json")) as f:
            cfg = json.load(f)
        window = cfg["sliding_window"]
        cfg["sliding_window"] = None
        with open(os.path.join(src, "config.json"), "w") as f:
            json.dump(cfg, f)
        out = os.path.join(self.dir, "mistral-nowindow.gguf")
        code, _, err = run("convert", src, out, "--type", "f32")
        self.assertEqual(code, 0, err)
        logits, _ = eval_logits(out, ref["tokens"])
        for pos, (ours, want) in enumerate(zip(logits, ref["logits"])):
            worst = max(abs(a - b) for a, b in zip(ours, want))
            tol = 1e-3 * max(abs(x) for x in want)
            if pos < window:
                self.assertLessEqual(worst, tol, pos)
            else:
                self.assertGreater(worst, 10 * tol, f"position {pos} should see past the window")

    def test_other_gguf_readers_take_the_files(self):
        for path in (self.f16["mixtral-moe"], self.f32["llama3-gqa-ropescaled-tied"]):
            p = subprocess.run(["/usr/bin/node", os.path.join(NPM, "read_gguf.mjs"), path], capture_output=True,
                               text=True, cwd=NPM, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            theirs = json.loads(p.stdout)
            meta, tensors = read_gguf(path)
            for k, v in meta.items():
                got = theirs["metadata"][k]
                if isinstance(v, float):
                    self.assertAlmostEqual(got, v, places=6, msg=k)
                else:
                    self.assertEqual(got, v, k)
            self.assertEqual([t["name"] for t in theirs["tensors"]], list(tensors))
            for t in theirs["tensors"]:
                self.assertEqual((t["dtype"], t["shape"]), tuple(tensors[t["name"]][:2]), t["name"])

    def test_model_without_vocabulary(self):
        path = self.f32["llama2-mha"]
        meta, _ = read_gguf(path)
        self.assertFalse(any(k.startswith("tokenizer.") for k in meta))
        for args in (["run", "-m", path, "-p", "hi", "-n", "2"], ["tokenize", "-m", path, "hi"]):
            code, _, err = run(*args)
            self.assertEqual(code, 1, err)
            self.assertTrue(err.startswith("error: "), err)
            self.assertIn("vocabulary", err)


    def test_older_config_style_gives_the_same_file(self):
        # Published Llama 3.1 checkpoints write rope_theta at the top level and
        # the scaling in rope_scaling (older ones say "type", newer "rope_type").
        name = "llama3-gqa-ropescaled-tied"
        for type_key in ("rope_type", "type"):
            d = os.path.join(self.dir, f"old-style-{type_key}")
            shutil.copytree(self.src[name], d)
            with open(os.path.join(d, "config.json")) as f:
                cfg = json.load(f)
            rp = cfg.pop("rope_parameters")
            cfg["rope_theta"] = rp.pop("rope_theta")
            rp[type_key] = rp.pop("rope_type")
            cfg["rope_scaling"] = rp
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(cfg, f)
            out = os.path.join(self.dir, f"old-style-{type_key}.gguf")
            code, _, err = run("convert", d, out, "--type", "f32")
            self.assertEqual(code, 0, err)
            meta, tensors = read_gguf(out)
            ref_meta, ref_tensors = read_gguf(self.f32[name])
            self.assertEqual(tensors, ref_tensors)
            meta.pop("general.name"), ref_meta.pop("general.name")
            self.assertEqual(meta, ref_meta)

    def test_sharded_checkpoint_converts_like_a_single_file(self):
        # Split llama2-mha's weights into two shards listed by an index, as
        # large checkpoints are published; the tensors must come out the same.
        name = "llama2-mha"
        with open(os.path.join(self.src[name], "model.safetensors"), "rb") as f:
            raw = f.read()
        n = struct.unpack_from("<Q", raw)[0]
        header = json.loads(raw[8:8 + n])
        header.pop("__metadata__", None)
        names = sorted(header)
        d = os.path.join(self.dir, "sharded")
        os.makedirs(d)
        shutil.copy(os.path.join(self.src[name], "config.json"), d)
        weight_map = {}
        for k, part in enumerate((names[: len(names) // 2], names[len(names) // 2:])):
            shard = f"model-{k + 1:05d}-of-00002.safetensors"
            h, data = {}, b""
            for t in reversed(part):  # another order than the original file's
                b, e = header[t]["data_offsets"]
                h[t] = dict(header[t], data_offsets=[len(data), len(data) + e - b])
                data += raw[8 + n + b:8 + n + e]
                weight_map[t] = shard
            hb = json.dumps(h).encode()
            with open(os.path.join(d, shard), "wb") as f:
                f.write(struct.pack("<Q", len(hb)) + hb + data)
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": weight_map}, f)
        out = os.path.join(self.dir, "sharded.gguf")
        code, _, err = run("convert", d, out, "--type", "f32")
        self.assertEqual(code, 0, err)
        _, ours = read_gguf(out)
        _, single = read_gguf(self.f32[name])
        self.assertEqual(ours, single)

    def test_generation_config_end_of_turn_ids(self):
        # Llama 3 Instruct lists <|end_of_text|> and <|eot_id|> as EOS in
        # generation_config.json; the second becomes the EOT id.
        src = os.path.join(NPM, "node_modules", "@lenml", "tokenizer-llama3", "models")
        d = os.path.join(self.dir, "llama3-tok")
        shutil.copytree(src, d)
        with open(os.path.join(d, "generation_config.json"), "w") as f:
            json.dump({"bos_token_id": 128000, "eos_token_id": [128001, 128009]}, f)
        out = os.path.join(self.dir, "llama3-tok.gguf")
        code, _, err = run("convert", "--vocab-only", d, out)
        self.assertEqual(code, 0, err)
        meta, _ = read_gguf(out)
        self.assertEqual(meta["tokenizer.ggml.eos_token_id"], 128001)
        self.assertEqual(meta["tokenizer.ggml.eot_token_id"], 128009)
        self.assertEqual(meta["tokenizer.ggml.tokens"][128009], "<|eot_id|>")
        self.assertNotIn("tokenizer.ggml.eom_token_id", meta)


class ConvertBadInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tmpdir()
        cls.good = extract("llama2-mha", os.path.join(cls.dir, "good"))
        with open(os.path.join(cls.good, "model.safetensors"), "rb") as f:
            cls.weights = f.read()
        with open(os.path.join(cls.good, "config.json")) as f:
            cls.config = json.load(f)
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def variant(self, weights=None, config=None):
        """A copy of the good checkpoint with its weights or config replaced."""
        ConvertBadInput.n += 1
        d = os.path.join(self.dir, f"bad{ConvertBadInput.n}")
        os.makedirs(d)
        with open(os.path.join(d, "model.safetensors"), "wb") as f:
            f.write(self.weights if weights is None else weights)
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(config if isinstance(config, str) else json.dumps(self.config if config is None else config))
        return d

    def header(self):
        n = struct.unpack_from("<Q", self.weights)[0]
        return json.loads(self.weights[8:8 + n]), self.weights[8 + n:]

    def with_header(self, header, data):
        h = json.dumps(header).encode()
        return struct.pack("<Q", len(h)) + h + data

    def assert_fails(self, src, *needles, extra=()):
        outdir = os.path.join(self.dir, "out")
        os.makedirs(outdir, exist_ok=True)
        out = os.path.join(outdir, "model.gguf")
        code, _, err = run("convert", src, out, *extra)
        self.assertEqual(code, 1, err)
        lines = [l for l in err.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("error: "), err)
        for n in needles:
            self.assertIn(n, lines[0])
        self.assertEqual(os.listdir(outdir), [], "a failed conversion left a file behind")

    def test_good_copy_converts(self):
        out = os.path.join(self.dir, "ok.gguf")
        code, _, err = run("convert", self.variant(), out)
        self.assertEqual(code, 0, err)
        self.assertTrue(os.path.getsize(out) > 0)

    def test_missing_inputs(self):
        self.assert_fails(os.path.join(self.dir, "nonexistent"), "config.json")
        d = self.variant()
        os.remove(os.path.join(d, "model.safetensors"))
        self.assert_fails(d, "no model.safetensors")

    def test_corrupt_safetensors(self):
        self.assert_fails(self.variant(weights=b"\x00" * 7), "too short")
        self.assert_fails(self.variant(weights=b"\xff" * 64), "header length")
        self.assert_fails(self.variant(weights=struct.pack("<Q", 10) + b"{not json}"), "JSON")
        self.assert_fails(self.variant(weights=self.weights[: len(self.weights) // 2]), "past the end")

    def test_header_pointing_past_the_end(self):
        header, data = self.header()
        name = "model.layers.0.self_attn.q_proj.weight"
        begin, end = header[name]["data_offsets"]
        header[name]["data_offsets"] = [len(data) - (end - begin) + 4, len(data) + 4]
        self.assert_fails(self.variant(weights=self.with_header(header, data)), "past the end of the data", name)

    def test_unsupported_dtype(self):
        header, data = self.header()
        header["model.norm.weight"]["dtype"] = "I32"  # same size as F32, so only the dtype is wrong
        self.assert_fails(self.variant(weights=self.with_header(header, data)), "dtype I32")

    def test_unsupported_architecture(self):
        cfg = dict(self.config, architectures=["GPT2LMHeadModel"])
        self.assert_fails(self.variant(config=cfg), "GPT2LMHeadModel", "not supported")

    def test_missing_and_bad_config_keys(self):
        for key in ("hidden_size", "num_hidden_layers", "vocab_size", "intermediate_size", "num_attention_heads"):
            cfg = {k: v for k, v in self.config.items() if k != key}
            self.assert_fails(self.variant(config=cfg), key)
        self.assert_fails(self.variant(config=dict(self.config, hidden_size="96")), "hidden_size", "integer")
        self.assert_fails(self.variant(config="{ not json"), "JSON")
        rope = dict(self.config["rope_parameters"], rope_type="yarn")
        self.assert_fails(self.variant(config=dict(self.config, rope_parameters=rope)), "yarn")

    def test_config_that_disagrees_with_the_weights(self):
        self.assert_fails(self.variant(config=dict(self.config, num_hidden_layers=4)), "model.layers.3")
        self.assert_fails(self.variant(config=dict(self.config, intermediate_size=128)), "shape")

    def test_bad_shard_index(self):
        d = self.variant()
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"weight_map": {"model.norm.weight": "../model.safetensors"}}, f)
        self.assert_fails(d, "not a plain file name")
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"weight_map": {"model.norm.weight": "model.safetensors", "extra.weight": "model.safetensors"}}, f)
        self.assert_fails(d, "extra.weight")
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            f.write("[")
        self.assert_fails(d, "index.json")

    def test_tokenizer_larger_than_the_model(self):
        d = self.variant()
        src = os.path.join(NPM, "node_modules", "@lenml", "tokenizer-llama2", "models")
        for f in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(src, f), d)
        self.assert_fails(d, "does not fit", "512")

    def test_bad_output_type(self):
        self.assert_fails(self.variant(), "--type", extra=("--type", "q4_0"))

    def test_output_over_an_input_is_refused(self):
        d = self.variant()
        target = os.path.join(d, "model.safetensors")
        code, _, err = run("convert", d, target)
        self.assertEqual(code, 1, err)
        self.assertIn("own files", err)
        with open(target, "rb") as f:
            self.assertEqual(f.read(), self.weights)


if __name__ == "__main__":
    unittest.main()
