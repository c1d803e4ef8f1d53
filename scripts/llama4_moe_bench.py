#!/usr/bin/python3
"""Speed of a Llama 4 mixture of experts against a dense Llama 4 of the same
active size: writes two random Hugging Face Llama 4 checkpoints with numpy,
converts them with `lineage convert` (F16), then runs `lineage bench` on them
in turn, several rounds, so both see the same neighbours' load.

  MoE:   every layer 16 experts of width FF, 1 chosen per token, plus a
         shared expert of width FF (Scout's layout)
  dense: every layer one SwiGLU of width 2 * FF

Per token both read the same attention weights and 2 * FF-wide FFN weights,
so generation (memory bound) should run at about the same speed even though
the MoE file is about 9 times larger.

  scripts/llama4_moe_bench.py --lineage build/lineage --dir /tmp/l4bench [--rounds 3]
"""
import argparse
import json
import os
import statistics
import struct
import subprocess

import numpy as np

SHAPE = dict(hidden=768, layers=6, heads=12, kv_heads=4, head_dim=64, ff=1536, experts=16, vocab=32000)


def write_safetensors(path, tensors):
    header, off = {}, 0
    for k, a in tensors.items():
        header[k] = {"dtype": "F16", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    h = json.dumps(header).encode()
    h += b" " * ((-len(h)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for a in tensors.values():
            f.write(np.ascontiguousarray(a).tobytes())


def make_checkpoint(path, moe, rng):
    s = SHAPE
    E, L, H, KV, D, FF, X, V = (s[k] for k in ("hidden", "layers", "heads", "kv_heads", "head_dim", "ff", "experts",
                                                "vocab"))
    os.makedirs(path, exist_ok=True)

    def w(*shape):
        return (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float16)

    t = {"model.embed_tokens.weight": w(V, E), "model.norm.weight": np.ones(E, np.float16), "lm_head.weight": w(V, E)}
    for l in range(L):
        p = f"model.layers.{l}."
        t[p + "input_layernorm.weight"] = np.ones(E, np.float16)
        t[p + "post_attention_layernorm.weight"] = np.ones(E, np.float16)
        t[p + "self_attn.q_proj.weight"] = w(H * D, E)
        t[p + "self_attn.k_proj.weight"] = w(KV * D, E)
        t[p + "self_attn.v_proj.weight"] = w(KV * D, E)
        t[p + "self_attn.o_proj.weight"] = w(E, H * D)
        f = p + "feed_forward."
        if moe:
            t[f + "router.weight"] = w(X, E)
            t[f + "experts.gate_up_proj"] = w(X, E, 2 * FF)
            t[f + "experts.down_proj"] = w(X, FF, E)
            t[f + "shared_expert.gate_proj.weight"] = w(FF, E)
            t[f + "shared_expert.up_proj.weight"] = w(FF, E)
            t[f + "shared_expert.down_proj.weight"] = w(E, FF)
        else:
            t[f + "gate_proj.weight"] = w(2 * FF, E)
            t[f + "up_proj.weight"] = w(2 * FF, E)
            t[f + "down_proj.weight"] = w(E, 2 * FF)
    write_safetensors(os.path.join(path, "model.safetensors"), t)
    config = {
        "architectures": ["Llama4ForCausalLM"], "hidden_act": "silu", "hidden_size": E, "num_hidden_layers": L,
        "num_attention_heads": H, "num_key_value_heads": KV, "head_dim": D, "vocab_size": V,
        "intermediate_size": FF, "intermediate_size_mlp": 2 * FF, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
        "max_position_embeddings": 4096, "interleave_moe_layer_step": 1, "tie_word_embeddings": False,
        "num_local_experts": X if moe else 0, "num_experts_per_tok": 1,
    }
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lineage", default="build/lineage")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    rng = np.random.default_rng(4)
    models = {}
    for kind in ("moe", "dense"):
        gguf = os.path.join(args.dir, f"llama4-{kind}.gguf")
        if not os.path.exists(gguf):
            src = os.path.join(args.dir, f"hf-{kind}")
            make_checkpoint(src, kind == "moe", rng)
            subprocess.run([args.lineage, "convert", src, gguf], check=True, stdout=subprocess.DEVNULL)
            os.remove(os.path.join(src, "model.safetensors"))
        models[kind] = gguf
        print(f"{kind}: {gguf} ({os.path.getsize(gguf) / 2**20:.0f} MiB)")
    results = {k: {} for k in models}
    for r in range(args.rounds):
        for kind, gguf in models.items():
            cmd = [args.lineage, "bench", "-m", gguf, "-p", "512", "-n", "128", "-r", "3", "-t", str(args.threads),
                   "--json"]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            for row in json.loads(out):
                results[kind].setdefault(row["test"], []).append((row["avg_ts"], row.get("cpu_ts", 0.0)))
                print(f"round {r + 1} {kind:5s} {row['test']:6s} {row['avg_ts']:8.2f} t/s"
                      f"  {row.get('cpu_ts', 0.0):8.2f} t/cpu-s", flush=True)
    # Tokens per CPU-second (cpu_ts) stay comparable when neighbours take
    # the cores and wall-clock rates swing.
    print("\nmedian over rounds: tokens/s (tokens per CPU-second)")
    for test in results["moe"]:
        med = {k: [statistics.median(x[i] for x in results[k][test]) for i in (0, 1)] for k in results}
        m, d = med["moe"], med["dense"]
        print(f"  {test:6s} moe {m[0]:8.2f} ({m[1]:7.2f})  dense {d[0]:8.2f} ({d[1]:7.2f})"
              f"  moe/dense {m[0] / d[0]:.2f} ({m[1] / d[1]:.2f})")


if __name__ == "__main__":
    main()
