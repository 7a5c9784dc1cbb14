"""Reference outputs from Hugging Face `transformers` (PyTorch, CPU, f32) for
the burn decoder's parity tests. Run once; the outputs are committed.

    ~/.cache/tandem/venv/bin/pip install torch transformers accelerate safetensors   # not installed by setup: CI only reads the outputs
    ~/.cache/tandem/venv/bin/python pkg-scripts/model_fixtures.py

Writes to crates/tandem-models/tests/fixtures/:
  tiny-llama/, tiny-qwen2/   random tiny models (config.json, model.safetensors) with
                             reference.json (tokens, greedy continuation) and logits.f32
                             (f32 LE, [tokens, vocab]); llama uses GQA, untied output and
                             llama3 RoPE scaling, qwen2 uses q/k/v biases, tied embeddings, MQA
  smollm2_reference.json     the real SmolLM2-135M-Instruct GGUF (fetched by pkg-scripts/setup)
                             loaded by transformers: prompt token ids, argmax at every position
                             of a 64-token prompt, and 32 greedy tokens
"""

import json
import os
import pathlib

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/tandem-models/tests/fixtures"
CACHE = pathlib.Path(os.environ.get("TANDEM_CACHE", pathlib.Path.home() / ".cache/tandem"))

TINY = {
    "tiny-llama": (
        LlamaForCausalLM,
        LlamaConfig(
            vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=10000.0, max_position_embeddings=128,
            tie_word_embeddings=False, initializer_range=0.3,
            rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                          "original_max_position_embeddings": 16},
        ),
    ),
    "tiny-qwen2": (
        Qwen2ForCausalLM,
        Qwen2Config(
            vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=1, rms_norm_eps=1e-6, rope_theta=1_000_000.0, max_position_embeddings=128,
            tie_word_embeddings=True, initializer_range=0.3,
        ),
    ),
}


def tiny(name: str) -> None:
    cls, cfg = TINY[name]
    torch.manual_seed(7)
    model = cls(cfg).eval()
    with torch.no_grad():  # biases are zero at init; make them matter
        for p_name, p in model.named_parameters():
            if p_name.endswith("bias") or "norm" in p_name:
                p.add_(torch.randn_like(p) * 0.1)
    tokens = torch.randint(0, cfg.vocab_size, (1, 24), generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        logits = model(tokens).logits[0].float().numpy()
        prompt = tokens[:, :8]
        generated = model.generate(prompt, max_new_tokens=12, do_sample=False, pad_token_id=0, eos_token_id=None)
    d = OUT / name
    d.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if cfg.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    save_file(state, str(d / "model.safetensors"))
    (d / "config.json").write_text(cfg.to_json_string())
    logits.astype("<f4").tofile(d / "logits.f32")
    ref = {"tokens": tokens[0].tolist(), "vocab": cfg.vocab_size, "greedy_prompt": prompt[0].tolist(),
           "greedy_continuation": generated[0, prompt.shape[1]:].tolist()}
    (d / "reference.json").write_text(json.dumps(ref) + "\n")
    print(f"{name}: logits {logits.shape}, greedy {ref['greedy_continuation']}")


PROMPT = (
    "The history of the bicycle begins in the early nineteenth century, when inventors in Germany and France "
    "experimented with two-wheeled machines pushed along by the rider's feet. Pedals arrived decades later, "
    "and with them a craze that changed how cities were built and how people travelled to work. "
    "By 1900 millions of riders had taken to the roads, and clubs lobbied for smooth paved streets."
)


def smollm2() -> None:
    path = CACHE / "models/smollm2-135m.gguf"
    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32).eval()
    ids = tok(PROMPT, add_special_tokens=False)["input_ids"][:64]
    assert len(ids) == 64, len(ids)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
        generated = model.generate(torch.tensor([ids]), max_new_tokens=32, do_sample=False, eos_token_id=None, pad_token_id=2)
    ref = {
        "model": "smollm2-135m", "prompt": PROMPT, "prompt_ids": ids,
        "argmax": logits.argmax(-1).tolist(),
        "top2_margin": (logits.topk(2, -1).values[:, 0] - logits.topk(2, -1).values[:, 1]).tolist(),
        "greedy_32": generated[0, len(ids):].tolist(),
        "chat_prompt": tok.apply_chat_template([{"role": "user", "content": "What is 2+2?"}], add_generation_prompt=True, tokenize=False),
    }
    ref["chat_ids"] = tok(ref["chat_prompt"], add_special_tokens=False)["input_ids"]
    (OUT / "smollm2_reference.json").write_text(json.dumps(ref) + "\n")
    print(f"smollm2: greedy {tok.decode(ref['greedy_32'])!r}")


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for name in TINY:
        tiny(name)
    smollm2()
