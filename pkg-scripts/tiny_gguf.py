"""Writes the tiny Llama test model (crates/tandem-models/tests/fixtures/tiny-llama) as a GGUF
file (matrices in Q8_0) with a byte-level BPE tokenizer: a valid model small enough to seed the `gguf` fuzz target,
so that mutations reach every stage of the loader, not only the reader.

    ~/.cache/tandem/venv/bin/python pkg-scripts/tiny_gguf.py crates/tandem-fuzz/corpus/gguf/tiny-llama.gguf
"""

import json
import struct
import sys
from pathlib import Path

import gguf
import numpy as np

FIXTURE = Path(__file__).resolve().parent.parent / "crates/tandem-models/tests/fixtures/tiny-llama"


def safetensors(path):
    """The tensors of a safetensors file (F32 only), by name."""
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + size])
    data = raw[8 + size :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        start, end = info["data_offsets"]
        out[name] = np.frombuffer(data[start:end], dtype=np.float32).reshape(info["shape"])
    return out


def permute(w, heads):
    """llama.cpp's order of the query and key rows (convert_hf_to_gguf.py)."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


MERGES = ["Ġ t", "h e", "Ġt he", "i n", "e r"]


def byte_tokens(count):
    """GPT-2's byte-level characters for the first printable ASCII bytes, `Ġ` (space), the
    tokens MERGES make, and an end token: `count` in all."""
    merged = [m.replace(" ", "") for m in MERGES]
    chars = [chr(b) for b in range(33, 127)][: count - 2 - len(merged)]
    for needed in "theinr":
        assert needed in chars, needed
    return chars + ["Ġ"] + merged + ["<|endoftext|>"]


def main(out):
    config = json.loads((FIXTURE / "config.json").read_text())
    tensors = safetensors(FIXTURE / "model.safetensors")
    w = gguf.GGUFWriter(out, "llama")
    w.add_context_length(config["max_position_embeddings"])
    w.add_embedding_length(config["hidden_size"])
    w.add_block_count(config["num_hidden_layers"])
    w.add_feed_forward_length(config["intermediate_size"])
    w.add_head_count(config["num_attention_heads"])
    w.add_head_count_kv(config["num_key_value_heads"])
    w.add_layer_norm_rms_eps(config["rms_norm_eps"])
    w.add_rope_freq_base(config["rope_parameters"]["rope_theta"])
    w.add_vocab_size(config["vocab_size"])
    tokens = byte_tokens(config["vocab_size"])
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_types([1] * (len(tokens) - 1) + [3])
    w.add_token_merges(MERGES)
    w.add_bos_token_id(len(tokens) - 1)
    w.add_eos_token_id(len(tokens) - 1)
    names = {
        "model.embed_tokens.weight": "token_embd.weight",
        "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight",
    }
    layer = {
        "input_layernorm.weight": "attn_norm.weight",
        "post_attention_layernorm.weight": "ffn_norm.weight",
        "self_attn.q_proj.weight": "attn_q.weight",
        "self_attn.k_proj.weight": "attn_k.weight",
        "self_attn.v_proj.weight": "attn_v.weight",
        "self_attn.o_proj.weight": "attn_output.weight",
        "mlp.gate_proj.weight": "ffn_gate.weight",
        "mlp.up_proj.weight": "ffn_up.weight",
        "mlp.down_proj.weight": "ffn_down.weight",
    }
    for name, value in tensors.items():
        if name in names:
            target = names[name]
        else:
            index, tail = name.removeprefix("model.layers.").split(".", 1)
            target = f"blk.{index}.{layer[tail]}"
        if name.endswith("q_proj.weight"):
            value = permute(value, config["num_attention_heads"])
        elif name.endswith("k_proj.weight"):
            value = permute(value, config["num_key_value_heads"])
        if value.ndim == 2:
            # Matrices as Q8_0 (the quantized loading paths too), norms as F32.
            kind = gguf.GGMLQuantizationType.Q8_0
            w.add_tensor(target, gguf.quants.quantize(np.ascontiguousarray(value), kind), raw_dtype=kind)
        else:
            w.add_tensor(target, np.ascontiguousarray(value))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main(sys.argv[1])
