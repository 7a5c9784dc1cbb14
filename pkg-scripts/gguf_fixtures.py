"""Writes the GGUF reader's test fixtures with the `gguf` Python package (the
reference implementation maintained with llama.cpp).

Outputs, in crates/tandem-gguf/tests/fixtures/:
  all_types.gguf           one 2x512 tensor per supported type, and a metadata value of every type
  all_types.expected.json  what the reader must report: metadata, tensor infos, f32 reference offsets
  all_types.f32            gguf.quants.dequantize() of every tensor, little-endian f32, in order

Quantizable types are quantized from random normal data; for the k-quants,
which gguf-py cannot quantize, blocks are random bytes with sane f16 scales.
Run: ~/.cache/tandem/venv/bin/python pkg-scripts/gguf_fixtures.py  (needs gguf==0.19.0, numpy)
"""

import json
from importlib.metadata import version
import pathlib

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf import quants

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/tandem-gguf/tests/fixtures"
ROWS, COLS = 2, 512
TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q4_K", "Q5_K", "Q6_K"]
# Byte offsets of the f16 scale fields inside each k-quant block.
K_SCALES = {"Q4_K": (0, 2), "Q5_K": (0, 2), "Q6_K": (208,)}


def raw_tensor(rng: np.random.Generator, name: str) -> tuple[np.ndarray, Q | None]:
    data = rng.standard_normal((ROWS, COLS)).astype(np.float32)
    if name == "F32":
        return data, None
    qtype = Q[name]
    if name not in K_SCALES:
        return quants.quantize(data, qtype), qtype
    block_elems, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, (ROWS * COLS // block_elems, block_bytes), dtype=np.uint8)
    for off in K_SCALES[name]:
        scales = rng.uniform(0.001, 0.05, blocks.shape[0]).astype(np.float16)
        blocks[:, off : off + 2] = scales.view(np.uint8).reshape(-1, 2)
    return blocks.reshape(ROWS, -1), qtype


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261121)
    writer = gguf.GGUFWriter(str(OUT / "all_types.gguf"), arch="llama")
    metadata = {
        "test.u8": ("uint8", 200), "test.i8": ("int8", -100), "test.u16": ("uint16", 60000),
        "test.i16": ("int16", -30000), "test.u32": ("uint32", 4_000_000_000), "test.i32": ("int32", -2_000_000_000),
        "test.f32": ("float32", 0.5), "test.bool": ("bool", True), "test.string": ("string", "héllo 🎉"),
        "test.u64": ("uint64", 2**63 + 5), "test.i64": ("int64", -(2**62)), "test.f64": ("float64", -1.25),
    }
    for key, (kind, value) in metadata.items():
        getattr(writer, f"add_{kind}")(key, value)
    writer.add_array("test.array_i32", [1, -2, 3])
    writer.add_array("test.array_str", ["a", "bc", ""])

    expected_tensors, refs = [], []
    offset = 0
    for name in TYPES:
        raw, qtype = raw_tensor(rng, name)
        writer.add_tensor(f"t.{name.lower()}", raw, raw_dtype=qtype)
        ref = raw if qtype is None else quants.dequantize(raw, qtype)
        ref = np.ascontiguousarray(ref, dtype=np.float32).reshape(-1)
        expected_tensors.append({"name": f"t.{name.lower()}", "type": name, "dims": [COLS, ROWS], "ref_offset": offset, "elements": ref.size})
        offset += ref.size
        refs.append(ref)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    np.concatenate(refs).astype("<f4").tofile(OUT / "all_types.f32")
    expected = {
        "generator": f"gguf {version('gguf')}",
        "metadata": {k: v for k, (_, v) in metadata.items()},
        "arrays": {"test.array_i32": [1, -2, 3], "test.array_str": ["a", "bc", ""]},
        "tensors": expected_tensors,
    }
    (OUT / "all_types.expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
