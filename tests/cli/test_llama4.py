"""Llama 4 (arch llama4): `convert` of the tiny Llama4ForCausalLM checkpoint in
shared/golden/hf reproduces the logits and greedy continuation the transformers
library computed (reference.json; its chunk size 8 and floor scale 8 make the
32-token sequence cross chunk and temperature steps), the experts' transposes
are checked value by value against the safetensors, each Llama 4 feature is
shown to matter, the multimodal class converts to the same text model, and a
split GGUF loads like the single file."""
import json
import os
import shutil
import struct
import unittest

import numpy as np

from cli_common import run, tmpdir
from gguf_read import read_gguf
from gguf_split_write import _raw_layout, kv_name, split_gguf, write_gguf
from test_convert import argmax, eval_logits, extract
from test_convert_vocab import NPM, lenml_ids

NAME = "llama4-moe"


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack_from("<Q", data)[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32", v
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[8 + n + a:8 + n + b], dtype="<f4").reshape(v["shape"])
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for k, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def gguf_matrix(tensors, name):
    t, dims, data = tensors[name]
    assert t == 0, (name, t)
    return np.frombuffer(data, dtype="<f4").reshape(list(reversed(dims)))


class Llama4(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tmpdir()
        cls.src = extract(NAME, os.path.join(cls.dir, "src"))
        with open(os.path.join(cls.src, "reference.json")) as f:
            cls.ref = json.load(f)
        with open(os.path.join(cls.src, "config.json")) as f:
            cls.config = json.load(f)
        cls.f32 = cls.convert(cls.src, "f32", "--type", "f32")
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def convert(cls, src, name, *extra):
        out = os.path.join(cls.dir, name + ".gguf")
        code, _, err = run("convert", src, out, *extra)
        assert code == 0, err
        return out

    def variant(self, config_edit=None, weights=None):
        """A copy of the checkpoint with config.json edited (a function of the
        dict) or the weights replaced."""
        Llama4.n += 1
        d = os.path.join(self.dir, f"v{Llama4.n}")
        shutil.copytree(self.src, d)
        cfg = json.loads(json.dumps(self.config))
        if config_edit:
            config_edit(cfg)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f)
        if weights is not None:
            write_safetensors(os.path.join(d, "model.safetensors"), weights)
        return d

    def worst_errors(self, model):
        logits, _ = eval_logits(model, self.ref["tokens"])
        self.assertEqual(len(logits), len(self.ref["logits"]))
        out = []
        for ours, want in zip(logits, self.ref["logits"]):
            tol = 1e-3 * max(abs(x) for x in want)
            out.append(max(abs(a - b) for a, b in zip(ours, want)) / tol)
        return out  # per position, in units of the allowed error

    def test_f32_logits_match_transformers(self):
        for pos, e in enumerate(self.worst_errors(self.f32)):
            self.assertLessEqual(e, 1.0, f"position {pos}: off by {e:.2f} times the allowed error")

    def test_f32_greedy_continuation_matches_transformers(self):
        _, cont = eval_logits(self.f32, self.ref["greedy_prompt"], greedy=len(self.ref["greedy_output"]))
        self.assertEqual(cont, self.ref["greedy_output"])

    def test_default_f16_agrees(self):
        out = self.convert(self.src, "f16")
        logits, _ = eval_logits(out, self.ref["tokens"])
        for pos, (ours, want) in enumerate(zip(logits, self.ref["logits"])):
            top = sorted(want, reverse=True)
            if top[0] - top[1] > 0.1:
                self.assertEqual(argmax(ours), argmax(want), f"position {pos}")

    def test_metadata_and_tensor_names(self):
        meta, tensors = read_gguf(self.f32)
        c = self.config
        self.assertEqual(meta["general.architecture"], "llama4")
        self.assertEqual(meta["llama4.feed_forward_length"], c["intermediate_size_mlp"])
        self.assertEqual(meta["llama4.expert_feed_forward_length"], c["intermediate_size"])
        self.assertEqual(meta["llama4.interleave_moe_layer_step"], c["interleave_moe_layer_step"])
        self.assertEqual(meta["llama4.expert_count"], c["num_local_experts"])
        self.assertEqual(meta["llama4.expert_used_count"], c["num_experts_per_tok"])
        self.assertEqual(meta["llama4.attention.chunk_size"], c["attention_chunk_size"])
        self.assertEqual(meta["llama4.no_rope_layers"], c["no_rope_layers"])
        self.assertEqual(meta["llama4.attention.floor_scale"], c["floor_scale"])
        self.assertAlmostEqual(meta["llama4.attention.attn_scale"], c["attn_scale"], places=6)
        self.assertIs(meta["llama4.attention.temperature_tuning"], True)
        self.assertIs(meta["llama4.use_qk_norm"], True)
        self.assertEqual(meta["llama4.rope.freq_base"], c["rope_parameters"]["rope_theta"])
        E, F, FE, X = c["hidden_size"], c["intermediate_size_mlp"], c["intermediate_size"], c["num_local_experts"]
        self.assertEqual(tensors["blk.0.ffn_gate.weight"][1], [E, F])
        self.assertEqual(tensors["blk.0.ffn_down.weight"][1], [F, E])
        self.assertNotIn("blk.0.ffn_gate_inp.weight", tensors)
        self.assertEqual(tensors["blk.1.ffn_gate_inp.weight"][1], [E, X])
        self.assertEqual(tensors["blk.1.ffn_gate_exps.weight"][1], [E, FE, X])
        self.assertEqual(tensors["blk.1.ffn_up_exps.weight"][1], [E, FE, X])
        self.assertEqual(tensors["blk.1.ffn_down_exps.weight"][1], [FE, E, X])
        self.assertEqual(tensors["blk.1.ffn_up_shexp.weight"][1], [E, FE])

    def test_expert_and_attention_values(self):
        # The golden's experts are square (ffn == hidden), so a wrong
        # transpose would still fit every shape: compare the values.
        st = read_safetensors(os.path.join(self.src, "model.safetensors"))
        _, tensors = read_gguf(self.f32)
        FE = self.config["intermediate_size"]
        for l in (1, 3):
            p = f"model.layers.{l}.feed_forward."
            gate_up, down = st[p + "experts.gate_up_proj"], st[p + "experts.down_proj"]
            gate = gguf_matrix(tensors, f"blk.{l}.ffn_gate_exps.weight")
            up = gguf_matrix(tensors, f"blk.{l}.ffn_up_exps.weight")
            dn = gguf_matrix(tensors, f"blk.{l}.ffn_down_exps.weight")
            for e in range(gate_up.shape[0]):
                np.testing.assert_array_equal(gate[e], gate_up[e][:, :FE].T)
                np.testing.assert_array_equal(up[e], gate_up[e][:, FE:].T)
                np.testing.assert_array_equal(dn[e], down[e].T)
            np.testing.assert_array_equal(gguf_matrix(tensors, f"blk.{l}.ffn_gate_inp.weight"), st[p + "router.weight"])
        # Llama 4 checkpoints already rotate adjacent pairs: Q and K are not permuted.
        np.testing.assert_array_equal(gguf_matrix(tensors, "blk.0.attn_q.weight"),
                                      st["model.layers.0.self_attn.q_proj.weight"])
        np.testing.assert_array_equal(gguf_matrix(tensors, "blk.0.attn_k.weight"),
                                      st["model.layers.0.self_attn.k_proj.weight"])

    def assert_feature_matters(self, edit, first_bad):
        """Converted with one feature changed, the model still matches before
        position first_bad (where the feature has no effect yet) and misses
        the reference (by more than the allowed error) somewhere after it."""
        out = self.convert(self.variant(edit), f"v{Llama4.n}")
        errors = self.worst_errors(out)
        self.assertTrue(all(e <= 1.0 for e in errors[:first_bad]), errors[:first_bad])
        self.assertGreater(max(errors[first_bad:]), 2.0)

    def test_chunked_attention_matters(self):
        # With a chunk as long as the context, positions 0..7 (one chunk) are unchanged.
        self.assert_feature_matters(lambda c: c.update(attention_chunk_size=256), 8)

    def test_temperature_tuning_matters(self):
        # The scale is 1 while floor((pos + 1) / 8) == 0, i.e. for positions 0..6.
        self.assert_feature_matters(lambda c: c.update(attn_temperature_tuning=False), 7)

    def test_qk_norm_matters(self):
        self.assert_feature_matters(lambda c: c.update(use_qk_norm=False), 0)

    def test_nope_layer_matters(self):
        self.assert_feature_matters(lambda c: c.update(no_rope_layers=[1, 1, 1, 1], layer_types=None), 1)

    def test_published_style_file_uses_the_released_defaults(self):
        # Published Llama 4 GGUFs have none of lineage's llama4.* keys; without
        # them the model must behave as config.json with the released values
        # (chunk 8192, floor_scale 8192, attn_scale 0.1, NoPE on every 4th
        # layer, QK norm and temperature tuning on).
        with open(self.f32, "rb") as f:
            data = f.read()
        version, kvs, tensors, align = _raw_layout(data)
        ours = ("llama4.attention.chunk_size", "llama4.no_rope_layers", "llama4.attention.temperature_tuning",
                "llama4.attention.floor_scale", "llama4.attention.attn_scale", "llama4.use_qk_norm")
        kept = [kv for kv in kvs if kv_name(kv) not in ours]
        self.assertEqual(len(kvs) - len(kept), len(ours))
        bare = os.path.join(self.dir, "bare.gguf")
        write_gguf(bare, version, kept, tensors, align)

        def released(c):
            c.update(attention_chunk_size=8192, floor_scale=8192, attn_scale=0.1, use_qk_norm=True,
                     attn_temperature_tuning=True, no_rope_layers=None, no_rope_layer_interval=4)

        want, _ = eval_logits(self.convert(self.variant(released), "released", "--type", "f32"), self.ref["tokens"])
        got, _ = eval_logits(bare, self.ref["tokens"])
        self.assertTrue(got == want, "the file without lineage's keys computes other logits")  # no slow list diff

    def test_bad_llama4_keys(self):
        with open(self.f32, "rb") as f:
            version, kvs, tensors, align = _raw_layout(f.read())

        def u32(key, v):
            return struct.pack("<Q", len(key)) + key.encode() + struct.pack("<II", 4, v)

        def u32s(key, vs):
            return (struct.pack("<Q", len(key)) + key.encode() + struct.pack("<IIQ", 9, 4, len(vs)) +
                    b"".join(struct.pack("<I", v) for v in vs))

        cases = [
            ("llama4.no_rope_layers", u32s("llama4.no_rope_layers", [1, 1, 0]), "has 3 values"),
            ("llama4.no_rope_layers", u32s("llama4.no_rope_layers", [1, 2, 1, 0]), "holds 2"),
            ("llama4.interleave_moe_layer_step", u32("llama4.interleave_moe_layer_step", 0), "outside"),
            ("llama4.expert_feed_forward_length", None, "missing metadata key llama4.expert_feed_forward_length"),
        ]
        for key, record, needle in cases:
            path = os.path.join(self.dir, "badkey.gguf")
            kept = [kv for kv in kvs if kv_name(kv) != key] + ([record] if record else [])
            write_gguf(path, version, kept, tensors, align)
            code, out, err = run("eval", "-m", path, "--ids", "1,2,3")
            self.assertEqual(code, 1, err)
            self.assertEqual(out, b"")
            self.assertTrue(err.startswith("error: ") and needle in err and key in err, err)

    def test_conditional_generation_converts_the_text_model(self):
        st = read_safetensors(os.path.join(self.src, "model.safetensors"))
        weights = {"language_model." + k: v for k, v in st.items()}
        weights["vision_model.patch_embedding.linear.weight"] = np.ones((4, 4), dtype=np.float32)
        weights["multi_modal_projector.linear_1.weight"] = np.ones((4, 4), dtype=np.float32)

        def nest(c):
            text = dict(c)
            del text["architectures"]
            c.clear()
            c.update(architectures=["Llama4ForConditionalGeneration"], model_type="llama4", text_config=text,
                     vision_config={"hidden_size": 4})

        out = self.convert(self.variant(nest, weights), "multimodal", "--type", "f32")
        meta_a, tensors_a = read_gguf(self.f32)
        meta_b, tensors_b = read_gguf(out)
        self.assertEqual(sorted(tensors_a), sorted(tensors_b))
        for name in tensors_a:
            self.assertEqual(tensors_a[name], tensors_b[name], name)
        for k, v in meta_a.items():
            if k != "general.name":
                self.assertEqual(meta_b.get(k), v, k)

    def test_bad_llama4_configs(self):
        cases = [
            (lambda c: c.update(moe_layers=[0, 2]), "moe_layers"),
            (lambda c: c.update(no_rope_layers=[1, 1, 0]), "no_rope_layers"),
            (lambda c: c.update(no_rope_layers=[1, 2, 1, 0]), "no_rope_layers"),
            (lambda c: c.update(layer_types=["full_attention", "chunked_attention", "chunked_attention",
                                             "full_attention"]), "layer_types"),
            (lambda c: c.update(architectures=["Llama4ForConditionalGeneration"]), "text_config"),
        ]
        for edit, needle in cases:
            src = self.variant(edit)
            out = os.path.join(self.dir, "bad.gguf")
            code, _, err = run("convert", src, out)
            self.assertEqual(code, 1, err)
            self.assertTrue(err.startswith("error: ") and needle in err, err)
            self.assertFalse(os.path.exists(out))


class SplitGGUF(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tmpdir()
        src = extract(NAME, os.path.join(cls.dir, "src"))
        with open(os.path.join(src, "reference.json")) as f:
            cls.ids = json.load(f)["tokens"]
        cls.whole = os.path.join(cls.dir, "whole.gguf")
        code, _, err = run("convert", src, cls.whole, "--type", "f32")
        assert code == 0, err
        cls.want, _ = eval_logits(cls.whole, cls.ids)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def sub(self, name):
        d = os.path.join(self.dir, name)
        os.makedirs(d)
        return d

    def assert_error(self, model, *needles):
        code, out, err = run("eval", "-m", model, "--ids", "1,2,3")
        self.assertEqual(code, 1, err)
        self.assertEqual(out, b"")
        lines = [l for l in err.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("error: "), err)
        for n in needles:
            self.assertIn(n, lines[0])

    def test_split_model_gives_the_same_logits(self):
        parts = split_gguf(self.whole, os.path.join(self.sub("ok"), "tiny"), 3)
        meta, tensors = read_gguf(parts[1])
        self.assertEqual((meta["split.no"], meta["split.count"]), (1, 3))
        self.assertNotIn("general.architecture", meta)
        self.assertGreater(len(tensors), 0)
        got, _ = eval_logits(parts[0], self.ids)
        self.assertTrue(got == self.want, "the split model computes other logits")

    def test_missing_part(self):
        parts = split_gguf(self.whole, os.path.join(self.sub("missing"), "tiny"), 3)
        os.remove(parts[2])
        self.assert_error(parts[0], "part 3 of 3", "missing", "tiny-00003-of-00003.gguf")

    def test_mismatched_count(self):
        parts = split_gguf(self.whole, os.path.join(self.sub("count"), "tiny"), 3, count_override=4)
        self.assert_error(parts[0], "tiny-00003-of-00003.gguf", "split.count is 4", "says 3")

    def test_wrong_tensor_total(self):
        parts = split_gguf(self.whole, os.path.join(self.sub("total"), "tiny"), 2, total_override=7)
        self.assert_error(parts[0], "split.tensors.count is 7")

    def test_opening_a_later_part(self):
        parts = split_gguf(self.whole, os.path.join(self.sub("later"), "tiny"), 2)
        self.assert_error(parts[1], "part 2 of 2", "open the first part", "tiny-00001-of-00002.gguf")

    def test_renamed_first_part(self):
        parts = split_gguf(self.whole, os.path.join(self.sub("renamed"), "tiny"), 2)
        renamed = os.path.join(os.path.dirname(parts[0]), "model.gguf")
        os.rename(parts[0], renamed)
        self.assert_error(renamed, "-00001-of-00002.gguf", "cannot be found")


# Llama 4's chat control tokens and their ids in the released tokenizer.
LLAMA4_SPECIALS = {"<|begin_of_text|>": 200000, "<|end_of_text|>": 200001, "<|header_start|>": 200005,
                   "<|header_end|>": 200006, "<|eom|>": 200007, "<|eot|>": 200008}


class Llama4Tokenizer(unittest.TestCase):
    """A Llama 4 style tokenizer: GPT-4o's tokenizer.json (the same split
    expression and byte-level BPE) with Llama 4's chat control tokens added,
    checked against @lenml/tokenizers on the same files."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tmpdir()
        pkg = os.path.join(NPM, "node_modules", "@lenml", "tokenizer-gpt4o", "models")
        with open(os.path.join(pkg, "tokenizer.json"), encoding="utf-8") as f:
            tj = json.load(f)
        for text, i in LLAMA4_SPECIALS.items():
            tj["added_tokens"].append({"id": i, "content": text, "single_word": False, "lstrip": False,
                                       "rstrip": False, "normalized": False, "special": True})
        cls.src = os.path.join(cls.dir, "tok")
        os.makedirs(cls.src)
        with open(os.path.join(cls.src, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tj, f, ensure_ascii=False)
        with open(os.path.join(cls.src, "tokenizer_config.json"), "w") as f:
            json.dump({"bos_token": "<|begin_of_text|>", "eos_token": "<|eot|>", "add_bos_token": True,
                       "tokenizer_class": "PreTrainedTokenizerFast"}, f)
        with open(os.path.join(cls.src, "generation_config.json"), "w") as f:
            json.dump({"bos_token_id": 200000, "eos_token_id": [200001, 200007, 200008]}, f)
        cls.out = os.path.join(cls.dir, "tok.gguf")
        code, _, err = run("convert", "--vocab-only", cls.src, cls.out)
        assert code == 0, err

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_keys(self):
        meta, _ = read_gguf(self.out)
        self.assertEqual(meta["tokenizer.ggml.model"], "gpt2")
        self.assertEqual(meta["tokenizer.ggml.pre"], "llama4")
        self.assertEqual(meta["tokenizer.ggml.bos_token_id"], 200000)
        self.assertEqual(meta["tokenizer.ggml.eot_token_id"], 200008)
        self.assertEqual(meta["tokenizer.ggml.eom_token_id"], 200007)
        for text, i in LLAMA4_SPECIALS.items():
            self.assertEqual(meta["tokenizer.ggml.tokens"][i], text)
            self.assertEqual(meta["tokenizer.ggml.token_type"][i], 3, text)  # control

    def test_chat_turn_tokenizes_like_hugging_face(self):
        turn = ("<|header_start|>system<|header_end|>\n\nYou're terse.<|eot|>"
                "<|header_start|>user<|header_end|>\n\nWHAT's 12345 + 0.5?  Ünïcödé\tok<|eot|>"
                "<|header_start|>assistant<|header_end|>\n\n")
        want = lenml_ids(self.src, [turn])[0]
        for text, i in LLAMA4_SPECIALS.items():
            if text in turn:
                self.assertIn(i, want)
        code, out, err = run("tokenize", "-m", self.out, "--ids", "--no-bos", turn)
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out), want)


if __name__ == "__main__":
    unittest.main()
