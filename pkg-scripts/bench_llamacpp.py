"""llama.cpp (through llama-cpp-python) on a GGUF file: prefill and decode
tokens/s, the same way `tandem generate` reports them. Prints one JSON line.

    python pkg-scripts/bench_llamacpp.py MODEL.gguf PROMPT_FILE MAX_TOKENS THREADS
"""

import json
import sys
import time

from llama_cpp import Llama


def main() -> None:
    path, prompt_file, max_tokens, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    prompt = open(prompt_file, encoding="utf-8").read()
    llm = Llama(model_path=path, n_ctx=1024, n_threads=threads, n_threads_batch=threads, n_batch=512, verbose=False, seed=0)
    tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
    start = time.perf_counter()
    llm.eval(tokens)
    prefill = time.perf_counter() - start
    generated = 0
    decode_start = time.perf_counter()
    for _ in range(max_tokens):
        token = llm.sample(temp=0.0)
        if token == llm.token_eos():
            break
        llm.eval([token])
        generated += 1
    decode = time.perf_counter() - decode_start
    print(json.dumps({
        "system": f"llama.cpp (llama-cpp-python), {threads} thread(s)",
        "prompt_tokens": len(tokens), "prefill_tok_s": len(tokens) / prefill,
        "decode_tokens": generated, "decode_tok_s": generated / decode,
    }))


if __name__ == "__main__":
    main()
