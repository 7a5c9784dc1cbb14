"""Trains the shipped heads of the on-device encoder (all-MiniLM-L6-v2):
LoRA deltas, a word-shape embedding (pkg-scripts/ner_features.py: capitals,
digits, position in a line or field, which the uncased base cannot see), a BIO
token-classification head for the shield's NER, and a calibrated routing head,
all on one forward pass.

    ~/.cache/tandem/venv/bin/python pkg-scripts/train_encoder.py [--out FILE] [--quick]

Reproduces crates/tandem-models/assets/minilm-shield-router.safetensors
(seeded; PyTorch CPU, 2 threads: about 30 minutes here). The previous
recipe, NER alone on Faker's invented towns: `--no-real-places --router-weight 0`. Needs torch,
transformers, safetensors, tokenizers and faker in the venv
(`pkg-scripts/setup --train`) and the base model from
`tandem models pull all-minilm-l6-v2`.

* NER: synthetic chat-style text from pkg-scripts/ner_data.py (Faker, 14
  locales) with hard negatives, among them the routing training split's
  prompts. The Presidio evaluation set and the shield development set
  (tests/data/shield) are never read.
* Joint routing loss (`--router-weight`, 0.3): every NER step also scores 8
  prompts of the routing training split through a throw-away linear head on
  the pooled features, so that the deltas the tagger needs do not cost the
  routing head (which is fitted afterwards, below) its signal.
* Router: ../shared/data/routing. Label: the weak model (Mixtral-8x7B)
  suffices, i.e. it was right or the strong model (GPT-4) was wrong too:
  sending such a query to the cloud buys nothing. Whole MMLU subjects (every 5th subject in sorted
  order) and every contaminated prompt are held out for evaluation; the
  remaining prompts are split 90/10 into training and calibration (Platt
  scaling, folded into the shipped weights so the head outputs a calibrated
  logit). GSM8K prompts are split by hash the same way.

Only what is ours is shipped: LoRA A/B matrices (F16), the shape embedding
and the two heads.
"""

import argparse
import csv
import hashlib
import json
import math
import os
import pathlib
import random
import sys
import time

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import BertConfig, BertModel

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import ner_data  # noqa: E402
import ner_features  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CACHE = pathlib.Path(os.environ.get("TANDEM_CACHE", pathlib.Path.home() / ".cache/tandem"))
BASE = CACHE / "models" / "all-minilm-l6-v2"
LABELS = ["O", "B-PERSON", "I-PERSON", "B-LOCATION", "I-LOCATION", "B-ORGANIZATION", "I-ORGANIZATION"]
LORA_TARGETS = ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense", "intermediate.dense", "output.dense"]
RANK, ALPHA = 16, 32
NER_LEN, ROUTER_LEN = 128, 256
ROUTE_BATCH = 8


class LoRALinear(torch.nn.Module):
    """y = base(x) + (x Aᵀ Bᵀ) · alpha/r, with the base frozen."""

    def __init__(self, base: torch.nn.Linear, r: int, alpha: int):
        super().__init__()
        self.base = base
        self.a = torch.nn.Parameter(torch.randn(r, base.in_features) / math.sqrt(base.in_features))
        self.b = torch.nn.Parameter(torch.zeros(base.out_features, r))
        self.scale = alpha / r

    def forward(self, x):
        return self.base(x) + (x @ self.a.T @ self.b.T) * self.scale


def lora_modules(model: BertModel):
    for i, layer in enumerate(model.encoder.layer):
        for target in LORA_TARGETS:
            parent = layer
            *path, leaf = target.split(".")
            for p in path:
                parent = getattr(parent, p)
            yield f"encoder.layer.{i}.{target}", parent, leaf


def load_base() -> tuple[BertModel, Tokenizer]:
    config = BertConfig.from_json_file(BASE / "config.json")
    model = BertModel(config, add_pooling_layer=False)
    from safetensors.torch import load_file

    state = load_file(BASE / "model.safetensors")
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if "position_ids" not in m]
    assert not missing, missing
    tok = Tokenizer.from_file(str(BASE / "tokenizer.json"))
    tok.no_padding()
    return model, tok


class Shaped(torch.nn.Module):
    """The encoder with the word-shape bits added to its input embeddings."""

    def __init__(self, model: BertModel):
        super().__init__()
        self.model = model
        self.shape = torch.nn.Linear(ner_features.K, model.config.hidden_size, bias=False)
        torch.nn.init.zeros_(self.shape.weight)

    @property
    def config(self):
        return self.model.config

    def forward(self, ids, bits, mask):
        embeds = self.model.embeddings.word_embeddings(ids) + self.shape(bits)
        return self.model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state


def shape_bits(text: str, enc) -> list:
    """Shape bits per token of `enc`; zeros for [CLS]/[SEP]."""
    inner = [o for o, sp in zip(enc.offsets, enc.special_tokens_mask) if not sp]
    rows = iter(ner_features.features(text, inner))
    zero = [0] * ner_features.K
    return [zero if sp else next(rows) for sp in enc.special_tokens_mask]


def encode_ner(tok: Tokenizer, text: str, spans):
    tok.enable_truncation(NER_LEN)
    enc = tok.encode(text)
    labels = []
    seen = set()
    for (s, e), special in zip(enc.offsets, enc.special_tokens_mask):
        if special:
            labels.append(-100)
            continue
        lab = 0
        for k, (a, b, kind) in enumerate(spans):
            if a <= s < b:
                lab = LABELS.index(("I-" if k in seen else "B-") + kind)
                seen.add(k)
                break
        labels.append(lab)
    return enc.ids, labels, shape_bits(text, enc)


def pad(batch, value):
    n = max(len(x) for x in batch)
    return torch.tensor([x + [value] * (n - len(x)) for x in batch])


def pad_bits(batch):
    n = max(len(x) for x in batch)
    zero = [0] * ner_features.K
    return torch.tensor([x + [zero] * (n - len(x)) for x in batch], dtype=torch.float32)


def mean_pool(hidden, mask):
    m = mask.unsqueeze(-1).float()
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


def encode_routing(tok: Tokenizer, rows):
    """Token ids, shape bits and labels of routing rows, for the joint loss."""
    tok.enable_truncation(ROUTER_LEN)
    out = []
    for r in rows:
        enc = tok.encode(r[0])
        out.append((enc.ids, shape_bits(r[0], enc), float(suffices(r))))
    return out


def train_ner(model, tok, head, args, rng, negatives, routing=()):
    """Trains the LoRA deltas, the shape embedding and the NER head.

    With `args.router_weight` > 0, every step also scores a small batch of the
    routing training split with a throw-away linear head on the pooled
    features, so that the deltas keep what the routing head needs; the
    shipped routing head is still fitted afterwards by `train_router`.
    """
    enc_routing = encode_routing(tok, routing) if args.router_weight > 0 else []
    route_rng = random.Random(4)
    route_head = torch.nn.Linear(model.config.hidden_size, 1)
    route_scale = math.sqrt(model.config.hidden_size)
    train = ner_data.generate(args.ner_examples, seed=1 + args.seed, negatives=negatives, real_places=args.real_places)
    dev = ner_data.generate(400, seed=2)
    enc_train = [encode_ner(tok, t, s) for t, s in train]
    enc_dev = [encode_ner(tok, t, s) for t, s in dev]
    params = [p for p in model.parameters() if p.requires_grad] + list(head.parameters())
    if enc_routing:
        params += list(route_head.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    steps = args.epochs * math.ceil(len(enc_train) / args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.1)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-100)
    step, t0 = 0, time.time()
    for epoch in range(args.epochs):
        rng.shuffle(enc_train)
        model.train()
        for i in range(0, len(enc_train), args.batch):
            chunk = enc_train[i : i + args.batch]
            ids = pad([c[0] for c in chunk], 0)
            labels = pad([c[1] for c in chunk], -100)
            mask = (ids != 0).long()
            hidden = model(ids, pad_bits([c[2] for c in chunk]), mask)
            loss = loss_fn(head(hidden).reshape(-1, len(LABELS)), labels.reshape(-1))
            if enc_routing:
                rows = route_rng.sample(enc_routing, ROUTE_BATCH)
                r_ids = pad([r[0] for r in rows], 0)
                r_mask = (r_ids != 0).long()
                pooled = mean_pool(model(r_ids, pad_bits([r[1] for r in rows]), r_mask), r_mask)
                logit = route_head(torch.nn.functional.normalize(pooled, dim=-1) * route_scale).squeeze(-1)
                target = torch.tensor([r[2] for r in rows])
                loss = loss + args.router_weight * torch.nn.functional.binary_cross_entropy_with_logits(logit, target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step % 50 == 0:
                print(f"ner epoch {epoch} step {step}/{steps} loss {loss.item():.4f} ({time.time() - t0:.0f}s)", flush=True)
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for i in range(0, len(enc_dev), 64):
            chunk = enc_dev[i : i + 64]
            ids = pad([c[0] for c in chunk], 0)
            labels = pad([c[1] for c in chunk], -100)
            pred = head(model(ids, pad_bits([c[2] for c in chunk]), (ids != 0).long())).argmax(-1)
            keep = labels != -100
            correct += (pred[keep] == labels[keep]).sum().item()
            total += keep.sum().item()
    print(f"ner dev token accuracy {correct / total:.4f}")
    return correct / total


def routing_rows():
    """(prompt, weak_correct, strong_correct, group, contaminated) for MMLU and GSM8K."""
    routing = SHARED / "data" / "routing"
    contaminated = set()
    for name in ("mmlu_contaminated_prompts.jsonl", "gsm8k_contaminated_prompts.jsonl"):
        for line in (routing / name).read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                contaminated.add((row.get("eval_prompt") or row.get("prompt") or "").strip())
    rows = []
    csv.field_size_limit(1 << 24)
    for path in sorted((routing / "mmlu").glob("*.csv")):
        subject = path.stem.removeprefix("mmlu_")
        with path.open(newline="") as f:
            for r in csv.DictReader(f):
                rows.append((r["prompt"], r["mistralai/Mixtral-8x7B-Instruct-v0.1"] == "True", r["gpt-4-1106-preview"] == "True", subject, r["prompt"].strip() in contaminated))
    with (routing / "gsm8k_responses.csv").open(newline="") as f:
        for r in csv.DictReader(f):
            rows.append((r["prompt"], r["mistralai/Mixtral-8x7B-Instruct-v0.1"] == "True", r["gpt-4-1106-preview"] == "True", "gsm8k", r["prompt"].strip() in contaminated))
    return rows


def suffices(row) -> bool:
    """The weak model loses nothing against the strong one on this prompt."""
    return bool(row[1]) or not bool(row[2])


def split_of(prompt: str, group: str, contaminated: bool, eval_subjects: set) -> str:
    if contaminated or group in eval_subjects:
        return "eval"
    h = int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16) % 100
    if group == "gsm8k" and h < 30:
        return "eval"
    return "calib" if h % 10 == 0 else "train"


def features(model, tok, prompts):
    tok.enable_truncation(ROUTER_LEN)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out = torch.zeros(len(prompts), model.config.hidden_size)
    t0 = time.time()
    with torch.no_grad():
        for n, i in enumerate(range(0, len(order), 32)):
            idx = order[i : i + 32]
            encs = [tok.encode(prompts[j]) for j in idx]
            ids = pad([e.ids for e in encs], 0)
            mask = (ids != 0).long()
            bits = pad_bits([shape_bits(prompts[j], e) for j, e in zip(idx, encs)])
            pooled = mean_pool(model(ids, bits, mask), mask)
            out[idx] = torch.nn.functional.normalize(pooled, dim=-1)
            if n % 50 == 0:
                print(f"router features {i}/{len(prompts)} ({time.time() - t0:.0f}s)", flush=True)
    return out


def auc(scores, labels):
    pairs = sorted(zip(scores, labels))
    rank_sum, n_pos, i = 0.0, sum(labels), 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        avg = (i + j + 1) / 2
        rank_sum += avg * sum(1 for k in range(i, j) if pairs[k][1])
        i = j
    n_neg = len(labels) - n_pos
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def train_router(model, tok, args, eval_subjects):
    rows = routing_rows()
    splits = {"train": [], "calib": [], "eval": []}
    for r in rows:
        splits[split_of(r[0], r[3], r[4], eval_subjects)].append(r)
    print({k: len(v) for k, v in splits.items()})
    feats = {k: features(model, tok, [r[0] for r in v]) for k, v in splits.items()}
    y = {k: torch.tensor([float(suffices(r)) for r in v]) for k, v in splits.items()}
    # The head's regularisation and length are chosen by AUC on the
    # calibration split (the held-out evaluation split is only scored).
    best = None
    for weight_decay in (1e-4, 1e-3, 1e-2, 1e-1):
        for epochs in (100, 300, 1000):
            torch.manual_seed(0)
            candidate = torch.nn.Linear(model.config.hidden_size, 1)
            opt = torch.optim.AdamW(candidate.parameters(), lr=1e-2, weight_decay=weight_decay)
            for _ in range(epochs):
                logit = candidate(feats["train"]).squeeze(-1)
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, y["train"])
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                calib_auc = auc(candidate(feats["calib"]).squeeze(-1).tolist(), [bool(v) for v in y["calib"].tolist()])
            print(f"router head weight_decay={weight_decay} epochs={epochs}: calibration AUC {calib_auc:.4f}")
            if best is None or calib_auc > best[0]:
                best = (calib_auc, candidate, weight_decay, epochs)
    _, head, best_wd, best_epochs = best
    # Platt scaling on the calibration split: p = σ(a·z + b).
    with torch.no_grad():
        z = head(feats["calib"]).squeeze(-1)
    ab = torch.zeros(2, requires_grad=True)
    lbfgs = torch.optim.LBFGS([ab], max_iter=200)

    def closure():
        lbfgs.zero_grad()
        l = torch.nn.functional.binary_cross_entropy_with_logits((1 + ab[0]) * z + ab[1], y["calib"])
        l.backward()
        return l

    lbfgs.step(closure)
    a, b = 1 + ab[0].item(), ab[1].item()
    with torch.no_grad():
        head.weight.mul_(a)
        head.bias.mul_(a).add_(b)
        p_eval = torch.sigmoid(head(feats["eval"]).squeeze(-1)).tolist()
    labels = [suffices(r) for r in splits["eval"]]
    report = {"train": len(splits["train"]), "calib": len(splits["calib"]), "eval": len(splits["eval"]), "eval_auc_python": auc(p_eval, labels), "platt": [a, b], "router_weight_decay": best_wd, "router_epochs": best_epochs}
    print("router", report)
    return head, report


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "crates/tandem-models/assets/minilm-shield-router.safetensors"))
    ap.add_argument("--ner-examples", type=int, default=10000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--quick", action="store_true", help="tiny run to check the pipeline")
    ap.add_argument("--seed", type=int, default=0, help="PyTorch's seed; the NER training texts use seed + 1")
    ap.add_argument("--real-places", action=argparse.BooleanOptionalAction, default=True, help="real towns and famous cities in personal contexts (on in the shipped heads since 2026-12-02, late evening)")
    ap.add_argument("--router-weight", type=float, default=0.3, help="weight of the joint routing loss while the deltas train (0: NER alone, the recipe before 2026-12-02, late evening)")
    ap.add_argument("--router-only", metavar="HEADS", help="keep HEADS' LoRA deltas and NER head, retrain only the routing head")
    args = ap.parse_args()
    if args.quick:
        args.ner_examples, args.epochs = 200, 1
    torch.manual_seed(args.seed)
    torch.set_num_threads(int(os.environ.get("TRAIN_THREADS", "2")))
    rng = random.Random(0)

    model, tok = load_base()
    for p in model.parameters():
        p.requires_grad_(False)
    loras = {}
    for name, parent, leaf in lora_modules(model):
        wrapped = LoRALinear(getattr(parent, leaf), RANK, ALPHA)
        setattr(parent, leaf, wrapped)
        loras[name] = wrapped
    shaped = Shaped(model)
    ner_head = torch.nn.Linear(model.config.hidden_size, len(LABELS))
    subjects = sorted(p.stem.removeprefix("mmlu_") for p in (SHARED / "data/routing/mmlu").glob("*.csv"))
    eval_subjects = set(subjects[::5])
    if args.quick:
        # Only the shape of the pipeline: a few hundred prompts.
        global routing_rows
        full = routing_rows
        routing_rows = lambda: random.Random(0).sample(full(), 600)  # noqa: E731
    if args.router_only:
        from safetensors import safe_open
        from safetensors.torch import load_file

        state = load_file(args.router_only)
        for name, m in loras.items():
            m.a.data = state[f"{name}.lora_a"].float()
            m.b.data = state[f"{name}.lora_b"].float()
        ner_head.weight.data, ner_head.bias.data = state["ner.weight"], state["ner.bias"]
        shaped.shape.weight.data = state["shape.weight"]
        with safe_open(args.router_only, "pt") as f:
            previous = json.loads(f.metadata()["training"])
        dev_acc = previous["ner_dev_token_accuracy"]
        args.ner_examples, args.epochs = previous["ner_examples"], previous["epochs"]
    else:
        # General-knowledge questions are hard negatives for the tagger
        # (public figures, famous places): only the router's training split.
        train_prompts = sorted(r[0] for r in routing_rows() if split_of(r[0], r[3], r[4], eval_subjects) == "train")
        negatives = random.Random(3).sample(train_prompts, min(len(train_prompts), args.ner_examples // 6))
        routing_train = [r for r in routing_rows() if split_of(r[0], r[3], r[4], eval_subjects) == "train"]
        dev_acc = train_ner(shaped, tok, ner_head, args, rng, negatives, routing_train)
    shaped.eval()

    router_head, router_report = train_router(shaped, tok, args, eval_subjects)

    tensors = {}
    for name, m in loras.items():
        tensors[f"{name}.lora_a"] = m.a.detach().to(torch.float16).contiguous()
        tensors[f"{name}.lora_b"] = m.b.detach().to(torch.float16).contiguous()
    tensors["shape.weight"] = shaped.shape.weight.detach().contiguous()
    tensors["ner.weight"] = ner_head.weight.detach().contiguous()
    tensors["ner.bias"] = ner_head.bias.detach().contiguous()
    tensors["router.weight"] = router_head.weight.detach().contiguous()
    tensors["router.bias"] = router_head.bias.detach().contiguous()
    base_sha = (BASE / "model.safetensors.sha256").read_text().strip()
    metadata = {
        "format": "tandem-encoder-heads/2",
        "base": "all-minilm-l6-v2",
        "base_sha256": base_sha,
        "lora_rank": str(RANK),
        "lora_alpha": str(ALPHA),
        "ner_labels": ",".join(LABELS),
        "shape_features": ",".join(ner_features.NAMES),
        "ner_max_tokens": str(NER_LEN),
        "router_max_tokens": str(ROUTER_LEN),
        "router_pooling": "mean,l2",
        "router_label": "weak model suffices (Mixtral-8x7B correct, or GPT-4 wrong too)",
        "router_eval_subjects": ",".join(sorted(eval_subjects)),
        "training": json.dumps({"ner_examples": args.ner_examples, "epochs": args.epochs, "seed": args.seed, "real_places": args.real_places, "router_weight": args.router_weight, "ner_dev_token_accuracy": dev_acc, **router_report}),
    }
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata=metadata)
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
