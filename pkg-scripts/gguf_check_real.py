"""Checks the Rust GGUF reader against the `gguf` Python package on real model files.

    python pkg-scripts/gguf_check_real.py TANDEM_BIN MODEL_FILE [MODEL_FILE ...]

For each file: every tensor's name, type and shape must match gguf-py's
GGUFReader, and so must the metadata that `tandem gguf info` prints; then,
for every tensor type in the file, the smallest tensor of that type is
dequantized by both (`tandem gguf dequant` and gguf.quants.dequantize) and
must agree to 1e-6 relative. Exits non-zero on any mismatch.
"""

import pathlib
import subprocess
import sys
import tempfile

import numpy as np
from gguf import GGUFReader
from gguf import quants


def check(binary: str, path: str) -> list[str]:
    problems = []
    reader = GGUFReader(path)
    info = subprocess.run([binary, "gguf", "info", "--tensors", path], capture_output=True, text=True, check=True).stdout
    ours = {}
    for line in info.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and " = " not in line and parts[2].startswith("["):
            ours[parts[0]] = (parts[1], [int(x) for x in parts[2].strip("[]").split(",")])
    if len(ours) != len(reader.tensors):
        problems.append(f"tensor count: ours {len(ours)}, gguf-py {len(reader.tensors)}")
    smallest = {}
    for t in reader.tensors:
        name, ty, shape = t.name, t.tensor_type.name, [int(x) for x in t.shape]
        if ours.get(name) != (ty, shape):
            problems.append(f"{name}: ours {ours.get(name)}, gguf-py {(ty, shape)}")
        if ty not in smallest or t.n_elements < smallest[ty].n_elements:
            smallest[ty] = t
    arch = str(bytes(reader.fields["general.architecture"].parts[-1]), "utf-8")
    if f'general.architecture = "{arch}"' not in info:
        problems.append(f"architecture {arch} not reported")
    with tempfile.TemporaryDirectory() as tmp:
        for ty, t in sorted(smallest.items()):
            out = pathlib.Path(tmp) / "t.f32"
            subprocess.run([binary, "gguf", "dequant", path, "--tensor", t.name, "--out", str(out)], check=True)
            mine = np.fromfile(out, dtype="<f4")
            theirs = quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
            if mine.shape != theirs.shape:
                problems.append(f"{t.name} ({ty}): {mine.shape} values, gguf-py {theirs.shape}")
                continue
            rel = np.max(np.abs(mine - theirs) / np.maximum(np.abs(theirs), 1e-3))
            status = "ok" if rel <= 1e-6 else "MISMATCH"
            print(f"  {pathlib.Path(path).name}: {ty:<5} {t.name:<32} {t.n_elements:>9} values, max rel diff {rel:.2e} {status}")
            if rel > 1e-6:
                problems.append(f"{t.name} ({ty}): max relative difference {rel}")
    return problems


def main() -> None:
    binary, files = sys.argv[1], sys.argv[2:]
    failed = False
    for path in files:
        problems = check(binary, path)
        for p in problems:
            print(f"  {path}: {p}")
        failed |= bool(problems)
        print(f"{path}: {'FAILED' if problems else 'matches gguf-py'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
