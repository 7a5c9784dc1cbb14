#!/usr/bin/env python3
"""Draws the plots in docs/images from the benchmarks' JSON output ($TANDEM_CACHE/bench), one
per file that exists; matplotlib is installed into the setup venv on first use.

    ~/.cache/tandem/venv/bin/python pkg-scripts/plot_bench.py     (the bench scripts run it last)

- speculative.json (pkg-scripts/bench-speculative): tokens/s against the link's round trip,
  speculative rows against the target alone, each measured in the same run.
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
import matplotlib.pyplot as plt  # noqa: E402


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
        ax.plot(xs, ys, marker="o", label=name, linestyle="--" if name == "target alone" else "-")
    ax.set_xlabel("round trip to the verifier (ms)")
    ax.set_ylabel("tokens/s")
    ax.set_ylim(0, 1.15 * max(y for points in rows.values() for _, y in points))
    ax.set_title(f"Speculative decoding across a link ({data['max_tokens']} tokens per answer)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = OUT / "speculative-rtt.svg"
    fig.savefig(out, metadata={"Date": None})
    return out


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    drawn = []
    for name, draw in [("speculative.json", speculative)]:
        path = BENCH / name
        data = json.loads(path.read_text()) if path.exists() else None
        if data and "remote" in data:
            drawn.append(draw(data))
    for path in drawn:
        print(f"wrote {path.relative_to(ROOT)}")
    if not drawn:
        print(f"no benchmark output in {BENCH}")


if __name__ == "__main__":
    main()
