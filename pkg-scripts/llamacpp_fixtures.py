"""llama.cpp's greedy continuation of the SmolLM2 parity prompt, for the
quantized path's test (crates/tandem-models/tests/smollm2.rs). Run once; the
output is committed.

    ~/.cache/tandem/venv/bin/pip install llama-cpp-python==0.3.36   # pkg-scripts/bench-models installs it too
    ~/.cache/tandem/venv/bin/python pkg-scripts/llamacpp_fixtures.py

Reads the prompt ids from smollm2_reference.json (pkg-scripts/model_fixtures.py)
and writes smollm2_llamacpp.json beside it: the same ids and llama.cpp's
32 greedy tokens (its CPU backend, one thread, Q4_1/Q8_0 blocks as stored).
"""

import json
import os
import pathlib

from llama_cpp import Llama

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "crates/tandem-models/tests/fixtures"
CACHE = pathlib.Path(os.environ.get("TANDEM_CACHE", pathlib.Path.home() / ".cache/tandem"))


def main() -> None:
    ref = json.loads((FIXTURES / "smollm2_reference.json").read_text())
    llm = Llama(model_path=str(CACHE / "models/smollm2-135m.gguf"), n_ctx=256, n_threads=1, n_batch=64,
                verbose=False, seed=0)
    llm.eval(ref["prompt_ids"])
    greedy = []
    for _ in range(32):
        token = llm.sample(temp=0.0)
        greedy.append(int(token))
        llm.eval([token])
    out = {"model": "smollm2-135m", "llama_cpp_python": "0.3.36", "prompt_ids": ref["prompt_ids"], "greedy_32": greedy}
    (FIXTURES / "smollm2_llamacpp.json").write_text(json.dumps(out) + "\n")
    print(f"llama.cpp greedy: {greedy}")
    print(f"transformers:     {ref['greedy_32']}")


if __name__ == "__main__":
    main()
