"""Reference outputs from `transformers` (PyTorch, CPU, f32) for the encoder
parity tests in crates/tandem-models/tests/encoder.rs and the browser test.

    ~/.cache/tandem/venv/bin/python pkg-scripts/encoder_fixtures.py

Writes crates/tandem-models/tests/fixtures/minilm_reference.json:
* per sentence: token ids, the sentence-transformers embedding of the base
  all-MiniLM-L6-v2 (BertModel → mean pooling over the attention mask → L2
  normalisation, which is what its sentence-transformers modules.json
  declares),
* with the shipped heads (LoRA applied unmerged, as in training) and the
  word-shape bits of pkg-scripts/ner_features.py: the argmax
  NER label per token, its probability, and the routing head's probability.
"""

import json
import pathlib
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import train_encoder as te  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
HEADS = ROOT / "crates/tandem-models/assets/minilm-shield-router.safetensors"
OUT = ROOT / "crates/tandem-models/tests/fixtures/minilm_reference.json"

SENTENCES = [
    "Hi, I'm Jane Doe from Acme Corp. Please send the contract to 42 Baker Street, London.",
    "Explain the difference between a list and a tuple in Python.",
    "Müller wohnt in der Hauptstraße 5, 10115 Berlin – café, naïve, 東京.",
    "Let x be a real number such that x^2 = 4. Find x.\nA. 2\nB. -2\nC. both\nD. neither\nAnswer:",
    "a",
]


def main():
    model, tok = te.load_base()
    model.eval()
    out = {"sentences": []}
    with torch.no_grad():
        rows = []
        for s in SENTENCES:
            tok.enable_truncation(te.ROUTER_LEN)
            ids = tok.encode(s).ids
            t = torch.tensor([ids])
            hidden = model(input_ids=t, attention_mask=torch.ones_like(t)).last_hidden_state
            emb = torch.nn.functional.normalize(te.mean_pool(hidden, torch.ones_like(t)), dim=-1)[0]
            rows.append({"text": s, "ids": ids, "embedding": [round(x, 7) for x in emb.tolist()]})
        # The shipped heads, applied the way training applied them.
        state = load_file(HEADS)
        with safe_open(HEADS, "pt") as f:
            meta = f.metadata()
        rank, alpha = int(meta["lora_rank"]), int(meta["lora_alpha"])
        for name, parent, leaf in te.lora_modules(model):
            wrapped = te.LoRALinear(getattr(parent, leaf), rank, alpha)
            wrapped.a.data = state[f"{name}.lora_a"].float()
            wrapped.b.data = state[f"{name}.lora_b"].float()
            setattr(parent, leaf, wrapped)
        labels = meta["ner_labels"].split(",")
        ner = torch.nn.Linear(384, len(labels))
        ner.weight.data, ner.bias.data = state["ner.weight"], state["ner.bias"]
        shaped = te.Shaped(model)
        shaped.shape.weight.data = state["shape.weight"]
        router = torch.nn.Linear(384, 1)
        router.weight.data, router.bias.data = state["router.weight"], state["router.bias"]
        for row in rows:
            t = torch.tensor([row["ids"]])
            bits = te.shape_bits(row["text"], tok.encode(row["text"]))
            row["shape_bits"] = [float(b) for r in bits for b in r]
            hidden = shaped(t, torch.tensor([bits], dtype=torch.float32), torch.ones_like(t))
            probs = ner(hidden)[0].softmax(-1)
            row["ner_labels"] = [labels[i] for i in probs.argmax(-1).tolist()]
            row["ner_top_prob"] = [round(x, 6) for x in probs.max(-1).values.tolist()]
            pooled = torch.nn.functional.normalize(te.mean_pool(hidden, torch.ones_like(t)), dim=-1)
            row["route_probability"] = torch.sigmoid(router(pooled))[0, 0].item()
    out["sentences"] = rows
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
