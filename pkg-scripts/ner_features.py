"""Word-shape features for the shield's tagger, one bit vector per word piece.

The base encoder (all-MiniLM-L6-v2) lower-cases its input, so capitals, the
strongest signal for names, never reach it. These bits are added to the
input embeddings (one learned vector per bit), so every layer sees them.

This is the reference for `tandem_core::shield::shape` (Rust); both must
compute the same bits. `python3 pkg-scripts/ner_features.py --fixture`
rewrites the fixture the Rust test compares against.
"""

import json
import pathlib
import sys

# Bit order is part of the shipped model (`shape_features` in the heads file).
NAMES = [
    "capitalized",  # first letter upper, some lower-case letter: "Sabine", "McKay"
    "all_caps",  # two or more letters, all upper: "KRÜGER", "JSON"
    "lower",  # letters, all lower: "sabine", "json"
    "inner_upper",  # an upper letter after a lower one: "JavaScript", "getUser", "McKay"
    "digit",  # an ASCII digit in the word
    "non_ascii",  # a non-ASCII letter: "Krüger", "Łódź"
    "code_token",  # its whitespace-delimited token holds _ / \ = < > { } [ ] @ # $ % ^ * | ~ `
    "line_start",  # first word of its line
    "sentence_start",  # after . ! ? (not at a line start)
    "after_field",  # after : = " ' > | , ; ( [ {
    "prev_capitalized",  # the word before is capitalized or all caps
    "next_capitalized",  # the word after is capitalized or all caps
    "punctuation",  # the piece holds no letter or digit
]
K = len(NAMES)
CODE_CHARS = set("_/\\=<>{}[]@#$%^*|~`")
FIELD_CHARS = set(":=\"'>|,;([{")


def _words(text: str):
    """Maximal runs of alphanumeric characters, as (start, end) char offsets."""
    words, i, n = [], 0, len(text)
    while i < n:
        if text[i].isalnum():
            j = i
            while j < n and text[j].isalnum():
                j += 1
            words.append((i, j))
            i = j
        else:
            i += 1
    return words


def _word_bits(text: str, start: int, end: int) -> list[int]:
    w = text[start:end]
    letters = [c for c in w if c.isalpha()]
    upper = [c.isupper() for c in letters]
    lower = [c.islower() for c in letters]
    bits = [0] * K
    bits[0] = int(bool(letters) and upper[0] and any(lower))
    bits[1] = int(len(letters) >= 2 and all(upper))
    bits[2] = int(bool(letters) and all(lower))
    bits[3] = int(any(upper[k] and lower[k - 1] for k in range(1, len(letters))))
    bits[4] = int(any("0" <= c <= "9" for c in w))
    bits[5] = int(any(not c.isascii() for c in letters))
    a, b = start, end
    while a > 0 and not text[a - 1].isspace():
        a -= 1
    while b < len(text) and not text[b].isspace():
        b += 1
    bits[6] = int(any(c in CODE_CHARS for c in text[a:b]))
    p = start - 1
    while p >= 0 and text[p].isspace() and text[p] != "\n":
        p -= 1
    line_start = p < 0 or text[p] == "\n"
    if not line_start:
        # Skip leading bullets and quotes on the line: "- Jane", "> Jane".
        q = p
        while q >= 0 and text[q] != "\n" and not text[q].isalnum():
            q -= 1
        line_start = q < 0 or text[q] == "\n"
    bits[7] = int(line_start)
    while p >= 0 and text[p].isspace():
        p -= 1
    prev = text[p] if p >= 0 else ""
    bits[8] = int(not line_start and prev in (".", "!", "?"))
    bits[9] = int(prev != "" and prev in FIELD_CHARS)
    return bits


def features(text: str, offsets) -> list[list[int]]:
    """Bits per piece; `offsets` are the pieces' (start, end) char offsets."""
    words = _words(text)
    owner = [-1] * len(text)
    for k, (a, b) in enumerate(words):
        for i in range(a, b):
            owner[i] = k
    bits = [_word_bits(text, a, b) for a, b in words]
    capital = [wb[0] or wb[1] for wb in bits]
    out = []
    for s, e in offsets:
        k = next((owner[i] for i in range(s, min(e, len(text))) if owner[i] >= 0), -1)
        if k < 0:
            row = [0] * K
            row[12] = 1
        else:
            row = list(bits[k])
            row[10] = int(k > 0 and capital[k - 1])
            row[11] = int(k + 1 < len(words) and capital[k + 1])
        out.append(row)
    return out


FIXTURE_TEXTS = [
    "Hi, I'm Sabine Krüger from Hamburg. My JSON parser throws a Traceback.",
    "NAME: JOHN O'NEILL\nCity: Łódź\n- maria garcía lives in madrid",
    '{"name": "Jane Doe", "city": "Paris"} // getUser(id=42) McKay',
    "Dear Mr. Smith,\n\nthanks! See you in São Paulo? ok. Bye\n> Quoted Line",
    "user_id=77 path=/home/ana/file.txt — naïve café 2024-03-01 x",
]


def write_fixture(path: pathlib.Path):
    from tokenizers import Tokenizer

    cache = pathlib.Path.home() / ".cache/tandem/models/all-minilm-l6-v2/tokenizer.json"
    tok = Tokenizer.from_file(str(cache))
    cases = []
    for text in FIXTURE_TEXTS:
        enc = tok.encode(text, add_special_tokens=False)
        offsets = [list(o) for o in enc.offsets]
        cases.append({"text": text, "offsets": offsets, "bits": features(text, offsets)})
    path.write_text(json.dumps({"names": NAMES, "cases": cases}, ensure_ascii=False, indent=None) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--fixture"]:
        root = pathlib.Path(__file__).resolve().parent.parent
        write_fixture(root / "crates/tandem-core/tests/data/shape_features.json")
    else:
        sys.exit("usage: ner_features.py --fixture")
