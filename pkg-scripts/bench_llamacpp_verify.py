"""llama.cpp's verification curve (through llama-cpp-python): the time of one
batch eval of k new tokens on a cached context, relative to k = 1, the same
way `tandem verify-curve` measures it. Prints one JSON line.

    python pkg-scripts/bench_llamacpp_verify.py MODEL.gguf CONTEXT THREADS K[,K...] [REPEAT]
"""

import json
import sys
import time

from llama_cpp import Llama


def main() -> None:
    path, context, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ks = [int(k) for k in sys.argv[4].split(",")]
    repeat = int(sys.argv[5]) if len(sys.argv) > 5 else 7
    llm = Llama(model_path=path, n_ctx=context + max(ks) + 8, n_threads=threads, n_threads_batch=threads,
                n_batch=512, verbose=False, seed=0)
    vocab = llm.n_vocab()
    tokens = [(i * 7919 + 13) % vocab for i in range(context + max(ks))]
    llm.eval(tokens[:context])
    curve = {}
    for k in ks:
        times = []
        for rep in range(repeat + 1):
            llm.n_tokens = context  # eval() drops cached positions from n_tokens on
            start = time.perf_counter()
            llm.eval(tokens[context:context + k])
            if rep:
                times.append((time.perf_counter() - start) * 1e3)
        times.sort()
        curve[k] = times[len(times) // 2]
    print(json.dumps({"system": f"llama.cpp, {threads} thread(s)", "context": context, "ms": curve}))


if __name__ == "__main__":
    main()
