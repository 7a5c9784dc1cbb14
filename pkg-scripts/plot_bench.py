#!/usr/bin/env python3
"""Draws the plots in docs/images from the benchmarks' JSON output ($TANDEM_CACHE/bench), one
per file that exists; matplotlib is installed into the setup venv on first use.

    ~/.cache/tandem/venv/bin/python pkg-scripts/plot_bench.py     (the bench scripts run it last)

- speculative.json (pkg-scripts/bench-speculative): tokens/s against the link's round trip,
  speculative rows against the target alone, each measured in the same run.
- shield-presidio-set.json and shield-chat-final.json (pkg-scripts/eval-shield): F1 per entity
  kind, Tandem (patterns; patterns + NER model) against Presidio on the same texts.
- models-MODEL.json and browser-MODEL.json (pkg-scripts/bench-models): decode speed as a ratio
  to llama.cpp natively and to wllama in Chromium, at equal thread counts, per model.
- router-eval.json (pkg-scripts/eval-router): the router's PGR curve against prompt length and
  random routing.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("TANDEM_CACHE", Path.home() / ".cache/tandem")) / "bench"
OUT = ROOT / "docs" / "images"

try:
    import matplotlib
except ImportError:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "matplotlib==3.10.7"], check=True)
    import matplotlib
matplotlib.use("svg")
# Stable element ids: a plot whose data did not change redraws byte for byte.
matplotlib.rcParams["svg.hashsalt"] = "tandem"
import matplotlib.pyplot as plt  # noqa: E402


def save(fig, name: str) -> Path:
    """Writes `fig` to docs/images/NAME without a date, so that unchanged data redraws unchanged."""
    fig.tight_layout()
    out = OUT / name
    fig.savefig(out, metadata={"Date": None})
    plt.close(fig)
    return out


def speculative(data: dict) -> Path:
    """Tokens/s per round trip, one line per row of the run (the target alone among them)."""
    rtts = sorted(data["remote"]["rtt"], key=float)
    rows = {}
    for rtt in rtts:
        for name, row in data["remote"]["rtt"][rtt].items():
            # A drafting row is a dict of measures; the target alone is its tokens/s.
            tps = row.get("tokens_per_second") if isinstance(row, dict) else row
            if isinstance(tps, (int, float)):
                rows.setdefault(name, []).append((float(rtt), tps))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, points in rows.items():
        xs, ys = zip(*points)
        ax.plot(xs, ys, marker="o", label=name, linestyle="--" if name.startswith("target alone") else "-")
    ax.set_xlabel("round trip to the verifier (ms)")
    ax.set_ylabel("tokens/s")
    ax.set_ylim(0, 1.15 * max(y for points in rows.values() for _, y in points))
    ax.set_title(f"Speculative decoding across a link ({data['max_tokens']} tokens per answer)")
    ax.legend()
    ax.grid(alpha=0.3)
    return save(fig, "speculative-rtt.svg")


def f1(counts: dict) -> float | None:
    """F1 from `{tp, fp, fn_}`; None where the kind never occurs and nothing was predicted."""
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn_"]
    return None if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)


def shield_f1(sets: dict) -> Path:
    """Exact-match F1 per entity kind, one panel per data set, one bar per system."""
    fig, axes = plt.subplots(1, len(sets), figsize=(6 * len(sets), 5.5), squeeze=False)
    for ax, (title, data) in zip(axes[0], sets.items()):
        systems = {s["name"]: s["exact"] for s in data["systems"]}
        # Kinds with gold entities in this set, as the first system counts them.
        first = next(iter(systems.values()))["per_label"]
        kinds = sorted(k for k, c in first.items() if c["tp"] + c["fn_"] > 0)
        height = 0.8 / len(systems)
        for i, (name, exact) in enumerate(systems.items()):
            values = [f1(exact["per_label"].get(k, {"tp": 0, "fp": 0, "fn_": 0})) or 0.0 for k in kinds]
            micro = f1(exact["micro"])
            ax.barh([y + i * height for y in range(len(kinds))], values, height, label=f"{name} (micro {micro:.3f})")
        ax.set_yticks([y + height * (len(systems) - 1) / 2 for y in range(len(kinds))], kinds)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("F1, exact spans")
        ax.set_title(f"{title} ({data['texts']} texts)")
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    return save(fig, "shield-f1.svg")


def decode_speed(models: dict) -> Path:
    """Decode tok/s of Tandem as a multiple of llama.cpp (native) and wllama (Chromium), per model."""
    fig, (native_ax, browser_ax) = plt.subplots(1, 2, figsize=(11, 4))
    names = list(models)
    width = 0.38
    for ax, title, pairs in [
        (native_ax, "native CPU: Tandem ÷ llama.cpp, equal threads", [("1 thread each", "native", 1), ("2 threads each", "native", 2)]),
        # Two threads: Tandem's threaded build (pkg-scripts/build-web models --threads).
        (browser_ax, "Chromium wasm, CPU: Tandem ÷ wllama, equal threads", [("1 thread each", "browser", 1), ("2 threads each", "browser", 2)]),
    ]:
        for i, (label, where, threads) in enumerate(pairs):
            xs, ys, notes = [], [], []
            for x, name in enumerate(names):
                ratio = models[name].get(where, {}).get(threads)
                if ratio:
                    xs.append(x + (i - 0.5) * width)
                    ys.append(ratio[0] / ratio[1])
                    notes.append(f"{ratio[0]:.0f}/{ratio[1]:.0f}" if ratio[0] >= 10 else f"{ratio[0]:.1f}/{ratio[1]:.1f}")
            bars = ax.bar(xs, ys, width, label=label)
            ax.bar_label(bars, notes, fontsize=7, padding=2)
        ax.axhline(1.0, color="gray", linestyle="--", linewidth=1)
        ax.set_xticks(range(len(names)), names, fontsize=8)
        ax.set_ylabel("decode speed ratio (labels: tok/s, Tandem/baseline)")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    return save(fig, "decode-speed.svg")


def decode_pairs() -> dict:
    """Per model: {"native": {threads: (tandem, llama.cpp)}, "browser": {threads: (tandem, wllama)}} in tok/s."""
    models = {}
    for path in sorted(BENCH.glob("models-*.json")):
        data = json.loads(path.read_text())
        rows = {r["system"]: r["decode_tok_s"] for r in data["rows"]}
        native = {}
        for name, tps in rows.items():
            if name.startswith("tandem, quantized, "):
                threads = int(name.split(", ")[2].split()[0])
                base = rows.get(f"llama.cpp, {threads} thread" + ("s" if threads > 1 else ""))
                if base:
                    native[threads] = (tps, base)
        models.setdefault(data["model"], {})["native"] = native
    for path in sorted(BENCH.glob("browser-*.json")):
        data = json.loads(path.read_text())
        results = data["results"]
        browser = {}
        for threads, run in ((1, "tandem/cpu"), (2, "tandem/cpu-threads2")):
            tandem = results.get(run, {}).get("decode_tok_s")
            base = results.get(f"wllama/cpu{threads}", {}).get("decode_tok_s")
            if tandem and base:
                browser[threads] = (tandem, base)
        models.setdefault(data["model"], {})["browser"] = browser
    return models


def router_apgr(data: dict) -> Path:
    """PGR against the share of queries sent to the strong model: the router, prompt length, random."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, report in data["systems"].items():
        xs, ys = zip(*report["pgr_curve"])
        ax.plot([100 * x for x in xs], ys, marker="." if name == "tandem router" else None, label=f"{name} (APGR {report['apgr']:.3f}, AUC {report['auc']:.3f})")
    ax.plot([0, 100], [0, 1], color="gray", linestyle="--", label="random (APGR 0.500)")
    ax.set_xlabel("queries sent to the strong (cloud) model, %")
    ax.set_ylabel("performance gap recovered")
    ax.set_title(f"Router on {data['queries']} held-out routing queries", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save(fig, "router-apgr.svg")


def load(name: str) -> dict | None:
    path = BENCH / name
    return json.loads(path.read_text()) if path.exists() else None


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    drawn = []
    data = load("speculative.json")
    if data and "remote" in data:
        drawn.append(speculative(data))
    sets = {title: d for title, d in [("Presidio's synthetic set", load("shield-presidio-set.json")), ("realistic chat text (final slice)", load("shield-chat-final.json"))] if d}
    if sets:
        drawn.append(shield_f1(sets))
    models = decode_pairs()
    if models:
        drawn.append(decode_speed(models))
    data = load("router-eval.json")
    if data and all("pgr_curve" in r for r in data["systems"].values()):
        drawn.append(router_apgr(data))
    for path in drawn:
        print(f"wrote {path.relative_to(ROOT)}")
    if not drawn:
        print(f"no benchmark output in {BENCH}")


if __name__ == "__main__":
    main()
