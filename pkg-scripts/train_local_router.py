"""Trains a routing head for one local model: P(this local model's answer suffices).

    tandem router features --cases TASKS.jsonl --out FEATURES.jsonl
    tandem local eval --set TASKS.jsonl --json-out TASKS-LABELS.json
    python3 pkg-scripts/train_local_router.py FEATURES.jsonl TASKS-LABELS.json OUT.safetensors \
        --local-model smollm2-135m [--judged FINAL.json ...]

Inputs: the pooled encoder state of every routing prompt and chat task (`tandem router
features`, with the shipped heads file), and the local model's judged answers to the chat
tasks (`tandem local eval --json-out`; tasks from pkg-scripts/local_tasks.py).

Labels, "the local model suffices":
* chat tasks: its answer was usable (the keyword checks passed, it did not loop and did
  not decline the task);
* MMLU and GSM8K: the strong model (GPT-4) was wrong too. The local model's own MMLU
  answers cannot be scored (the routing data holds no gold letters), and in chat there are
  no choices to guess among, so a small local model is taken to be wrong on them: a proxy,
  stated in docs/router.md.

Splits: the routing data's (held-out MMLU subjects, contaminated prompts and 30 % of GSM8K
held out; one in ten of the rest calibrates), and the same sha256 rule for chat tasks
(30 % held out, 10 % of the rest calibrates). The two sources weigh the same in the loss.
A logistic head (L2, full-batch gradient descent; the weight decay chosen by calibration
AUC), then Platt scaling on the calibration split, folded into the weights. Only numpy.

Writes a routing head file (`tandem_models::RoutingHead`: safetensors with router.weight
[1, hidden], router.bias [1] and metadata) and prints AUCs on the held-out parts, beside the
heads file's own weak/strong head on the same prompts.
"""

import argparse
import hashlib
import json
import struct
import sys
from pathlib import Path

import numpy as np

HEADS = Path(__file__).resolve().parent.parent / "crates/tandem-models/assets/minilm-shield-router.safetensors"
LABEL = "the local model suffices: its answer to a chat task was usable (right words, no loop, no refusal), or on MMLU/GSM8K the strong model (GPT-4) was wrong too"


def share(prompt: str) -> int:
    return int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16) % 100


def task_split(prompt: str) -> str:
    h = share(prompt)
    return "eval" if h < 30 else "calib" if h % 10 == 0 else "train"


def read_safetensors(path: Path) -> tuple[dict, dict]:
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        start, end = t["data_offsets"]
        dtype = {"F32": "<f4", "F16": "<f2"}[t["dtype"]]
        tensors[name] = np.frombuffer(data[8 + n + start : 8 + n + end], dtype=dtype).astype(np.float32).reshape(t["shape"])
    return tensors, meta


def write_safetensors(path: Path, tensors: dict, meta: dict) -> None:
    header, blobs, offset = {"__metadata__": meta}, [], 0
    for name, array in tensors.items():
        blob = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def auc(scores, labels) -> float:
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=bool)
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    s = scores[order]
    i = 0
    while i < len(s):  # average ranks of ties
        j = i
        while j < len(s) and s[j] == s[i]:
            j += 1
        ranks[order[i:j]] = (i + j + 1) / 2
        i = j
    pos, neg = labels.sum(), (~labels).sum()
    if pos == 0 or neg == 0:
        return float("nan")
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


def fit(x, y, w, decay, steps=600, lr=0.05):
    """Weighted L2 logistic regression by Adam on the full batch."""
    theta = np.zeros(x.shape[1] + 1)
    xb = np.hstack([x, np.ones((len(x), 1))])
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    for t in range(1, steps + 1):
        p = 1 / (1 + np.exp(-(xb @ theta)))
        grad = xb.T @ (w * (p - y)) / w.sum()
        grad[:-1] += decay * theta[:-1]
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad * grad
        theta -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return theta[:-1], theta[-1]


def platt(z, y):
    """a, b minimising the log loss of sigmoid(a z + b), by Newton steps."""
    a, b = 1.0, 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-(a * z + b)))
        g = np.array([((p - y) * z).sum(), (p - y).sum()])
        s = p * (1 - p)
        h = np.array([[(s * z * z).sum(), (s * z).sum()], [(s * z).sum(), s.sum()]]) + 1e-9 * np.eye(2)
        a, b = np.array([a, b]) - np.linalg.solve(h, g)
    return float(a), float(b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("features")
    ap.add_argument("labels", help="tandem local eval --json-out of the chat tasks")
    ap.add_argument("out")
    ap.add_argument("--local-model", required=True)
    ap.add_argument("--judged", nargs="*", default=[], help="more judged sets (local eval JSON) scored as held out only")
    args = ap.parse_args()

    usable = {}
    for path in [args.labels, *args.judged]:
        for a in json.loads(Path(path).read_text())["answers"]:
            usable[(path, a["id"])] = a["keywords"] and not a["degenerate"] and not a["refused"]
    judged_ids = {a["id"]: path for path in args.judged for a in json.loads(Path(path).read_text())["answers"]}
    task_ids = {a["id"] for a in json.loads(Path(args.labels).read_text())["answers"]}

    rows = []  # (x, label, split, part)
    for line in open(args.features, encoding="utf-8"):
        r = json.loads(line)
        x = np.asarray(r["x"], dtype=np.float32)
        if r["source"] == "routing":
            part = "gsm8k" if r["group"] == "gsm8k" else "mmlu"
            rows.append((x, float(not r["strong"]), r["split"], part))
        elif r["id"] in task_ids and (args.labels, r["id"]) in usable:
            rows.append((x, float(usable[(args.labels, r["id"])]), task_split(r["prompt"]), "tasks"))
        elif r["id"] in judged_ids:
            rows.append((x, float(usable[(judged_ids[r["id"]], r["id"])]), "eval", "judged"))
    x = np.stack([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    split = np.array([r[2] for r in rows])
    part = np.array([r[3] for r in rows])
    # The chat tasks weigh as much as the routing data in total.
    is_task = part == "tasks"
    w = np.where(is_task, (~is_task).sum() / max(is_task.sum(), 1), 1.0)
    counts = {p: {s: int(((part == p) & (split == s)).sum()) for s in ("train", "calib", "eval")} for p in np.unique(part)}
    print("rows", counts, file=sys.stderr)

    tr, ca, ev = split == "train", split == "calib", split == "eval"
    best = None
    for decay in (1e-5, 1e-4, 1e-3, 1e-2):
        wt, b = fit(x[tr], y[tr], w[tr], decay)
        z = x[ca] @ wt + b
        # calibration AUC, each source counted with its weight: the mean of the two parts' AUCs
        score = np.nanmean([auc(z[part[ca] == p], y[ca][part[ca] == p]) for p in ("mmlu", "gsm8k", "tasks")])
        print(f"weight decay {decay}: calibration AUC (mean over parts) {score:.4f}", file=sys.stderr)
        if best is None or score > best[0]:
            best = (score, decay, wt, b)
    _, decay, wt, b = best
    a, c = platt(x[ca] @ wt + b, y[ca])
    weight, bias = wt * a, b * a + c

    tensors, meta = read_safetensors(HEADS)
    old_w, old_b = tensors["router.weight"].reshape(-1), float(tensors["router.bias"].reshape(-1)[0])
    report = {"weight_decay": decay, "platt": [a, c], "splits": counts, "eval": {}}
    for p in ("mmlu", "gsm8k", "tasks", "judged"):
        sel = ev & (part == p)
        if sel.sum() == 0:
            continue
        new_p = 1 / (1 + np.exp(-(x[sel] @ weight + bias)))
        old_p = 1 / (1 + np.exp(-(x[sel] @ old_w + old_b)))
        report["eval"][p] = {
            "n": int(sel.sum()),
            "suffices": float(y[sel].mean()),
            "auc": auc(new_p, y[sel]),
            "auc_weak_strong_head": auc(old_p, y[sel]),
            "routed_local_at_0.5": float((new_p >= 0.5).mean()),
            "weak_strong_head_routed_local_at_0.5": float((old_p >= 0.5).mean()),
        }
    print(json.dumps(report, indent=1))
    heads_sha = hashlib.sha256(HEADS.read_bytes()).hexdigest()
    write_safetensors(
        Path(args.out),
        {"router.weight": weight.reshape(1, -1).astype(np.float32), "router.bias": np.array([bias], dtype=np.float32)},
        {"format": "tandem-routing-head/1", "local_model": args.local_model, "heads_sha256": heads_sha, "label": LABEL, "training": json.dumps(report)},
    )


if __name__ == "__main__":
    main()
