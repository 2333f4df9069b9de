"""PyTorch eager + transformers twin of crates/model/examples/bench_model.rs.

Same architecture, batch and sequence as the Rust bench: forward+backward tokens/s of
full-parameter training in f32 (mean next-token NLL), and greedy decoding tokens/s with the
KV cache (prompt 32, 64 new tokens, batch 1 and 16). Prints one JSON object per measurement.

usage: bench_model.py SIZE [train|sample|all]   (SIZE: tiny | 100m)
"""
import json
import os
import sys
import time

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

PRESETS = {
    # Mirrors Qwen2Config::tiny(512) and Qwen2Config::small_100m() in crates/model/src/config.rs.
    "tiny": dict(vocab_size=512, hidden_size=128, intermediate_size=384, num_hidden_layers=4,
                 num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True),
    "100m": dict(vocab_size=32000, hidden_size=768, intermediate_size=2048, num_hidden_layers=12,
                 num_attention_heads=12, num_key_value_heads=4, tie_word_embeddings=False),
}


def build(name):
    cfg = Qwen2Config(max_position_embeddings=4096, rope_theta=1_000_000.0, rms_norm_eps=1e-6,
                      use_sliding_window=False, attn_implementation="eager", **PRESETS[name])
    torch.manual_seed(0)
    return Qwen2ForCausalLM(cfg).float()


def tokens(b, t, vocab, salt):
    return torch.tensor([[(i * 7919 + r * 104729 + salt * 31) % vocab for i in range(t)] for r in range(b)])


WARMUP_STEPS = 2  # as crates/model/examples/bench_model.rs


def train(model, name, b=4, t=256, steps=5):
    model.train()
    times = []
    for step in range(steps + WARMUP_STEPS):
        ids = tokens(b, t, model.config.vocab_size, step)
        start = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        fwd = time.perf_counter() - start
        loss.backward()
        total = time.perf_counter() - start
        model.zero_grad(set_to_none=True)
        print(f"{name} torch train step {step}: forward {fwd:.3f}s, forward+backward {total:.3f}s", file=sys.stderr)
        if step >= WARMUP_STEPS:
            times.append((fwd, total))
    step_s = sum(x[1] for x in times) / len(times)
    fwd_s = sum(x[0] for x in times) / len(times)
    print(json.dumps({"impl": "pytorch", "size": name, "bench": "train", "batch": b, "seq": t,
                      "forward_s": round(fwd_s, 4), "step_s": round(step_s, 4),
                      "tokens_per_s": round(b * t / step_s, 1)}))


@torch.no_grad()
def sample(model, name, b, prompt=32, new=64):
    model.eval()
    ids = tokens(b, prompt, model.config.vocab_size, 1)
    mask = torch.ones_like(ids)
    start = time.perf_counter()
    model.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=new,
                   min_new_tokens=new, pad_token_id=0)
    total = time.perf_counter() - start
    print(json.dumps({"impl": "pytorch", "size": name, "bench": "sample", "batch": b, "prompt": prompt,
                      "new_tokens": new, "total_s": round(total, 4),
                      "tokens_per_s": round(b * new / total, 1)}))


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "tiny"
    what = sys.argv[2] if len(sys.argv) > 2 else "all"
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}", file=sys.stderr)
    if what in ("sample", "all"):
        model = build(name)
        for b in (1, 16):
            sample(model, name, b)
    if what in ("train", "all"):
        train(build(name), name, steps=int(os.environ.get("BENCH_STEPS", "5")))


if __name__ == "__main__":
    main()
