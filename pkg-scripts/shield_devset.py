#!/usr/bin/env python3
"""The shield's hand-written development set: markup files -> JSONL for `tandem shield eval`.

Each file in tests/data/shield/*.txt holds records like

    ### id: email-001 | domain: email | lang: en
    Hi, I'm ⟦PERSON:Sabine Krüger⟧ from ⟦LOCATION:Hamburg⟧.

A record's text is every line up to the next `###` header (blank lines at either end dropped).
`⟦LABEL:value⟧` marks a span; labels are the shield's kinds or their short names (EMAIL, PHONE,
CARD, IBAN, SSN, IP, URL, SECRET, DOB, PERSON, LOCATION, ORG, ADDRESS). Offsets are written in
code points, as `tandem shield eval` reads them.

The set is split by a hash of each record's id: one record in five is the *final* slice, kept
untouched until a change is done; the rest is the *dev* slice used for error analysis. Neither is
ever used for training.

    python3 pkg-scripts/shield_devset.py dev   > dev.jsonl     # or: final, all
    python3 pkg-scripts/shield_devset.py --check                # validate and print counts
"""
import hashlib
import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "shield"
LABELS = {
    "EMAIL": "EMAIL_ADDRESS", "PHONE": "PHONE_NUMBER", "CARD": "CREDIT_CARD", "IBAN": "IBAN_CODE",
    "SSN": "US_SSN", "IP": "IP_ADDRESS", "URL": "URL", "SECRET": "SECRET", "DOB": "DATE_OF_BIRTH",
    "PERSON": "PERSON", "LOCATION": "LOCATION", "ORG": "ORGANIZATION", "ADDRESS": "STREET_ADDRESS",
}
LABELS.update({v: v for v in list(LABELS.values())})
HEADER = re.compile(r"^### (.*)$")
SPAN = re.compile(r"⟦([A-Z_]+):(.*?)⟧", re.S)


def parse_file(path):
    records, header, lines = [], None, []

    def flush():
        if header is not None:
            records.append(parse_record(path, header, "\n".join(lines).strip("\n")))

    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = HEADER.match(line)
        if m:
            flush()
            header, lines = (number, m.group(1)), []
        elif header is None:
            if line.strip():
                raise ValueError(f"{path}:{number}: text before the first ### header")
        else:
            lines.append(line)
    flush()
    return records


def parse_record(path, header, body):
    number, fields = header
    meta = {}
    for part in fields.split("|"):
        key, _, value = part.partition(":")
        meta[key.strip()] = value.strip()
    if not meta.get("id"):
        raise ValueError(f"{path}:{number}: header without an id")
    text, spans, pos = [], [], 0
    for m in SPAN.finditer(body):
        text.append(body[pos:m.start()])
        label = LABELS.get(m.group(1))
        if label is None:
            raise ValueError(f"{path}:{number} ({meta['id']}): unknown label {m.group(1)}")
        value = m.group(2)
        if not value.strip() or value != value.strip() or "⟦" in value:
            raise ValueError(f"{path}:{number} ({meta['id']}): bad span value {value!r}")
        start = sum(len(t) for t in text)
        text.append(value)
        spans.append({"label": label, "start": start, "end": start + len(value)})
        pos = m.end()
    text.append(body[pos:])
    full = "".join(text)
    if "⟦" in full or "⟧" in full:
        raise ValueError(f"{path}:{number} ({meta['id']}): unbalanced ⟦ ⟧")
    if not full.strip():
        raise ValueError(f"{path}:{number} ({meta['id']}): empty text")
    return {"id": meta["id"], "domain": meta.get("domain", ""), "lang": meta.get("lang", ""),
            "text": full, "spans": spans}


def slice_of(record_id):
    return "final" if hashlib.sha256(record_id.encode()).digest()[0] % 5 == 0 else "dev"


def load():
    records = [r for path in sorted(DATA.glob("*.txt")) for r in parse_file(path)]
    ids = Counter(r["id"] for r in records)
    dup = [i for i, n in ids.items() if n > 1]
    if dup:
        raise ValueError(f"duplicate ids: {', '.join(dup)}")
    return records


def main(argv):
    if not argv or argv[0] not in ("dev", "final", "all", "--check"):
        print(__doc__, file=sys.stderr)
        return 2
    records = load()
    if argv[0] == "--check":
        for part in ("dev", "final"):
            chosen = [r for r in records if slice_of(r["id"]) == part]
            labels = Counter(s["label"] for r in chosen for s in r["spans"])
            negatives = sum(1 for r in chosen if not r["spans"])
            langs = Counter(r["lang"] for r in chosen)
            print(f"{part}: {len(chosen)} texts ({negatives} without entities), langs {dict(langs)}")
            print("  " + ", ".join(f"{k} {v}" for k, v in sorted(labels.items())))
        return 0
    for r in records:
        if argv[0] == "all" or slice_of(r["id"]) == argv[0]:
            print(json.dumps({"text": r["text"], "spans": r["spans"]}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
