"""Synthetic training text for the shield's NER head (PERSON, LOCATION,
ORGANIZATION), generated with Faker in several locales from this file's and
ner_templates.py's templates: chat-style requests, e-mails, forms, notes,
code, CSV and JSON, and many hard negatives (tech text, code from Python's
standard library, general-knowledge questions with public figures and famous
places, the routing set's training prompts).

The labels follow the policy of docs/shield.md: private people, places and
organizations in a personal context are entities; public figures, places in
informational questions, brands and tools are not. Street addresses appear
unlabelled: the rule-based recognizer owns them, and places inside an address
are not separate entities.

The evaluation set (../shared/data/pii/presidio_synth_dataset_v2.json) is
never read here: its templates and values stay unseen, so the F1 measured on
it is honest.

Each example is (text, spans) with spans = [(start, end, label)] in
character offsets. Entities the patterns already find (e-mails, phones,
cards, IBANs…) appear unlabelled, so the model learns to leave them to the
validators.
"""

import pathlib
import random
import re
import sysconfig

import ner_templates as T
from faker import Faker
from faker.providers.geo import Provider as GeoProvider

LOCALES = ["en_US", "en_GB", "en_IN", "en_AU", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "sv_SE", "pl_PL", "fi_FI", "tr_TR"]

# {P} person, {F} first name, {L} last name, {C} city, {N} country, {S} state/region,
# {O} organization, Unlabelled: {A} full address, {SA} street address, {E} email,
# {PH} phone, {D} date, {CC} card, {NUM} number, {URL} url.
TEMPLATES = [
    "Hi, I'm {P} from {O}. Can you help me write a cover letter?",
    "My name is {P} and I live at {A}.",
    "Please send the contract to {P}, {A}",
    "Ship the order to {SA}, {C}.",
    "Can you summarize this email from {P} ({E}) about the meeting in {C}?",
    "{P} called from {PH} and asked whether {O} could move the delivery to {D}.",
    "Draft a reply to {F}: thanks for the invite, I'll be in {C} until {D}.",
    "Dear {P},\n\nThank you for your application to {O}. We will contact you at {E}.",
    "Translate to French: {F} works at {O} in {C}, {N}.",
    "I need a reference letter for {P}, who worked with me at {O} for {NUM} years.",
    "Write a birthday message for my friend {F} who just moved to {N}.",
    "Customer: {P}\nAddress: {A}\nPhone: {PH}",
    "Name: {P}\nEmployer: {O}\nCity: {C}",
    "{F} {L} lives in {C} and works as an engineer at {O}.",
    "Is it safe to travel from {C} to {N} in winter?",
    "What is the best way to get from {C} to {C2}?",
    "Our office moved to {A}. Please update your records.",
    "Hey {F}, can you ask {F2} to send me the slides before {D}?",
    "Meeting notes: {P} ({O}) and {P2} agreed to open a branch in {C}.",
    "The invoice for {O} should be addressed to {P}, {SA}, {C} {NUM}.",
    "My landlord {P} refuses to fix the heating at {SA}. What are my rights in {S}?",
    "Please book a table for {F} at a restaurant near {SA}.",
    "{P} was born in {C}, {N} and studied at the University of {C2}.",
    "Remind me to call {F} at {PH} tomorrow.",
    "How do I reply politely to {P} from {O} who keeps emailing {E}?",
    "I am {P}, card {CC}, please refund my order to {A}",
    "Forward this to {P2} at {O2}: the audit of {O} is done.",
    "Write a LinkedIn recommendation for {P}, a data analyst at {O}.",
    "The package for {P} was left at {A} on {D}.",
    "Contact person: {P}, {O}, {SA}, {C}",
    "{F}'s new address is {A}",
    "We are flying {F} and {F2} from {C} to {C2} on {D}.",
    "I got a letter from {O} addressed to {P} at {SA} but I don't know them.",
    "Can you check the grammar: my sister {F} live in {S} since {NUM} years",
    "Please register {P} (born {D}) for the course at {O}.",
    "{P}\n{A}",
    "Dear Mr. {L}, your appointment at {O} in {C} is confirmed.",
    "Dear Ms. {L},\nyour parcel will be delivered to {SA}.",
    "Hello {F}! Welcome to the {O} team in {C}.",
    "user {P} reported a bug from {URL} while travelling in {N}",
    "The suspect, {P}, was last seen near {SA} in {C}.",
    "Send the samples to {O}, attn. {P}, {A}",
    "{P} <{E}> wrote: see you in {C} next week.",
    "i think {f} from {o} lives somewhere in {c}",
    "can u send it to {sa} {c} pls",
    "my boss {p} wants the report by friday",
    "They had {NUM} kids: {F}, {F2}, {F3} and {F4}.",
    "invited: {F}, {F2}, {F3}, {F4}",
    "{F}: \"Are you coming?\" {F2}: \"Only if {F3} drives.\"",
    "Is {P}'s phone number still the same?",
    "Dr. {L} will see you now, {F}.",
    "Prof. {P} teaches at the University of {C}.",
    "Please ask Mrs. {L} whether {O} accepted the offer.",
    "follow up with {p} in a couple of weeks",
]

# Templates in the languages of the locales they are rendered with.
LOCAL_TEMPLATES = {
    "de_DE": [
        "Hallo {F}, kannst du das Paket an {A} schicken?",
        "Mein Name ist {P} und ich wohne in {C}.",
        "Grüße an {P} aus {C}, schreib mir bald.",
        "{P} arbeitet seit {NUM} Jahren bei {O} in {C}.",
        "Bitte leite die Rechnung an {O}, z. Hd. {P}, {SA}, {C} weiter.",
        "Sehr geehrte Frau {L}, Ihr Termin bei {O} ist bestätigt.",
    ],
    "fr_FR": [
        "Bonjour {F}, peux-tu envoyer le colis à {A} ?",
        "Je m'appelle {P} et j'habite à {C}.",
        "{P} travaille chez {O} à {C} depuis {NUM} ans.",
        "Merci d'envoyer la facture à {P}, {SA}, {C}.",
    ],
    "es_ES": [
        "Hola {F}, ¿puedes enviar el paquete a {A}?",
        "Me llamo {P} y vivo en {C}, {N}.",
        "{P} trabaja en {O} en {C}.",
    ],
    "it_IT": [
        "Ciao {F}, puoi spedire il pacco a {A}?",
        "Mi chiamo {P} e abito a {C}.",
        "{P} lavora per {O} a {C}.",
    ],
    "nl_NL": [
        "Hoi {F}, kun je het pakket naar {A} sturen?",
        "Mijn naam is {P} en ik woon in {C}.",
    ],
}

# Texts with no entity at all: questions and code, to keep false positives down.
NEGATIVES = [
    "Explain the difference between a list and a tuple in Python.",
    "What is the capital gains tax rate for long-term investments?",
    "Write a SQL query that returns the ten most recent orders.",
    "How many grams of sugar are in a tablespoon?",
    "Give me three ideas for a weekend project with a Raspberry Pi.",
    "fn main() { println!(\"Hello, world!\"); }",
    "Summarize the plot of a detective novel in three sentences.",
    "What does HTTP status 418 mean?",
    "Sort this array in place: [5, 3, 9, 1].",
    "Can you make this paragraph sound more professional?",
    "Which is heavier, a kilogram of feathers or a kilogram of steel?",
    "Write a haiku about autumn leaves.",
    "What are the symptoms of vitamin D deficiency?",
    "Convert 72 degrees Fahrenheit to Celsius.",
    "The meeting is at 10 am on Monday in room B.",
    "Please review the attached pull request and leave comments.",
    "Apple pie needs apples, flour, butter and sugar.",
    "The Great Depression began in 1929.",
    "Let x be a real number such that x^2 = 4. Find x.",
    "Statement 1 | Every group of order 4 is cyclic. Statement 2 | Z_4 is abelian.",
]


# First names that are also ordinary English words: as names they are
# PERSON ("ask Will"), as words they are not ("Will it rain?", "in May").
WORD_NAMES = ["Will", "May", "June", "April", "Bill", "Rose", "Grace", "Mark", "Hope", "Faith", "Summer", "Frank",
              "Art", "Jack", "Pat", "Sky", "Dawn", "Iris", "Ivy", "Joy", "Max", "Rob", "Sue", "Ray", "Don", "Penny"]

# Organizations as people write them: a place or a surname with a kind of
# institution, in the locale's language.
ORG_PATTERNS = {
    "de_DE": ["Klinikum {C}", "Stadtwerke {C}", "Sparkasse {C}", "{L} GmbH", "{L} & {L2} Rechtsanwälte", "Praxis Dr. {L}",
              "Wohnbau {C} GmbH", "Gymnasium {C}", "Hausverwaltung {L}", "Autohaus {L}", "Volksbank {C}"],
    "fr_FR": ["Cabinet {L}", "Clinique de {C}", "Lycée {L}", "Mutuelle de {C}", "{L} & Associés", "Crédit {C}",
              "Agence immobilière {L}", "Mairie de {C}"],
    "es_ES": ["Hospital General de {C}", "Clínica {L}", "Colegio {L}", "Inmobiliaria {L}", "Gestoría {L}",
              "Banco de {C}", "Seguros {L}"],
    "it_IT": ["Ospedale di {C}", "Studio Legale {L}", "Liceo {L}", "Banca di {C}", "Condominio {L}"],
    "nl_NL": ["Ziekenhuis {C}", "Woonstichting {C}", "Advocatenkantoor {L}", "Gemeente {C}"],
    "en": ["{C} Dental Clinic", "{C} Community College", "{L} & {L2} LLP", "{L} Property Management", "{C} Medical Center",
           "{L} Plumbing", "First National Bank of {C}", "{C} Credit Union", "St. {L}'s Hospital", "{L} Family Practice",
           "University of {C}", "{L} Insurance", "{C} Veterinary Clinic", "{L} Accounting", "{C} High School"],
}


# Real places for the {C}/{N} slots beside Faker's invented English towns ("West Davidmouth"):
# the famous cities and countries that the informational negatives use (the same words must be
# entities in a personal context and nothing in a general question), and the ~970 real towns of
# Faker's geo provider.
LANDMARKS = {"Machu Picchu", "Mount Everest", "Mount Fuji", "Angkor Wat", "Stonehenge", "Yellowstone",
             "Niagara Falls", "Victoria Falls", "Silicon Valley", "Wall Street", "Times Square", "Petra",
             "Chichén Itzá", "Antarctica"}
FAMOUS_CITIES = [p for p in T.FAMOUS_PLACES if not p.startswith("the ") and p not in LANDMARKS]
REAL_TOWNS = sorted({name for _, _, name, _, _ in GeoProvider.land_coords
                     if re.fullmatch(r"[^\W\d_]+(?:[ '-][^\W\d_]+)*", name)})


def _values(fake: Faker, rng: random.Random, real_places: bool) -> dict:
    def addr() -> str:
        a = fake.address()
        return a if rng.random() < 0.6 else a.replace("\n", ", ")

    def state() -> str:
        for attr in ("state", "region", "administrative_unit", "county"):
            if hasattr(fake, attr):
                try:
                    return getattr(fake, attr)()
                except AttributeError:
                    continue
        return fake.city()

    def person() -> str:
        # Faker's name() may carry a title ("Dr.", "Mrs.") or suffix ("MD"):
        # titles are not part of the name (the policy), so build it.
        first, last = fake.first_name(), fake.last_name()
        r = rng.random()
        if r < 0.1:
            return f"{first} {rng.choice('ABCDEFGHJKLMNPRSTW')}. {last}"
        if r < 0.15:
            return f"{first} {fake.first_name()} {last}"
        return f"{first} {last}"

    def pick(xs):
        return lambda: rng.choice(xs)

    def city() -> str:
        if not real_places:
            return fake.city()
        r = rng.random()
        if r < 0.2:
            return rng.choice(REAL_TOWNS)
        if r < 0.35:
            return rng.choice(FAMOUS_CITIES)
        return fake.city()

    def first() -> str:
        return rng.choice(WORD_NAMES) if rng.random() < 0.08 else fake.first_name()

    def company() -> str:
        if rng.random() < 0.5:
            return fake.company()
        lang = fake.locales[0] if fake.locales[0] in ORG_PATTERNS else "en"
        pattern = rng.choice(ORG_PATTERNS[lang])
        return pattern.format(C=fake.city(), L=fake.last_name(), L2=fake.last_name())

    return {
        "P": ("PERSON", person),
        "P2": ("PERSON", person),
        "F": ("PERSON", first),
        "F2": ("PERSON", first),
        "F3": ("PERSON", first),
        "F4": ("PERSON", first),
        "L": ("PERSON", fake.last_name),
        "L2": ("PERSON", fake.last_name),
        "L3": ("PERSON", fake.last_name),
        "C": ("LOCATION", city),
        "C2": ("LOCATION", city),
        "N": ("LOCATION", fake.country),
        "S": ("LOCATION", state),
        "O": ("ORGANIZATION", company),
        "O2": ("ORGANIZATION", company),
        "A": (None, addr),
        "SA": (None, fake.street_address),
        "E": (None, fake.email),
        "PH": (None, fake.phone_number),
        "D": (None, lambda: fake.date(pattern=rng.choice(["%d %B %Y", "%B %d", "%Y-%m-%d", "%m/%d/%Y"]))),
        "CC": (None, fake.credit_card_number),
        "NUM": (None, lambda: str(rng.randint(2, 90))),
        "URL": (None, fake.url),
        "FIG": (None, pick(T.PUBLIC_FIGURES)),
        "FIG2": (None, pick(T.PUBLIC_FIGURES)),
        "PLACE": (None, pick(T.FAMOUS_PLACES)),
        "PLACE2": (None, pick(T.FAMOUS_PLACES)),
        "BRAND": (None, pick(T.BRANDS)),
        "BRAND2": (None, pick(T.BRANDS)),
    }


def render(template: str, fake: Faker, rng: random.Random, real_places: bool = False):
    """Fills `{KEY}` slots (`{key}`: lower case, `{!KEY}`: all caps; `{{`
    and `}}` are literal braces) and returns (text, labelled spans)."""
    values = _values(fake, rng, real_places)
    text, spans, i = "", [], 0
    while i < len(template):
        two = template[i : i + 2]
        if two in ("{{", "}}"):
            text += two[0]
            i += 2
        elif template[i] == "{":
            j = template.index("}", i)
            key = template[i + 1 : j]
            caps = key.startswith("!")
            key = key.lstrip("!")
            label, make = values[key.upper()]
            value = make()
            if caps:
                value = value.upper()
            elif key.islower():
                value = value.lower()
            if label is not None:
                spans.append((len(text), len(text) + len(value), label))
            text += value
            i = j + 1
        else:
            text += template[i]
            i += 1
    return text, spans


def code_negatives(n: int, seed: int) -> list[str]:
    """`n` windows of 2–12 lines from Python's standard library: real code,
    docstrings and comments, full of capitalized identifiers that are not
    names. Lines that credit people (authors, copyright, e-mails) are left out.
    The files are this interpreter's, so another Python version draws slightly
    different windows (the shipped heads were trained with CPython 3.11.7)."""
    rng = random.Random(seed)
    root = pathlib.Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.glob("*.py") if p.stat().st_size > 2000)
    out = []
    while files and len(out) < n:
        lines = [
            l
            for l in rng.choice(files).read_text(errors="replace").splitlines()
            if l.strip() and not re.search(r"(?i)copyright|author|@|thanks|contributed|written by|\bby [A-Z]", l)
        ]
        if len(lines) < 12:
            continue
        k = rng.randint(2, 12)
        a = rng.randrange(len(lines) - k)
        out.append("\n".join(lines[a : a + k]))
    return out


def generate(n: int, seed: int, negatives: list[str] = (), real_places: bool = False):
    """`n` examples: a third hard negatives (no entity at all); the others
    from chat, structured, local-language and mixed templates, a third of
    them embedded in negative text so that context alone does not decide.
    `negatives` adds the caller's entity-free texts (routing prompts).
    `real_places` draws 35 % of the {C} slots from real places (see
    REAL_TOWNS) and lower-cases 18 % of the texts instead of 12 %: tried
    on 2026-12-02, not in the shipped heads (docs/shield.md)."""
    rng = random.Random(seed)
    fakers = {loc: Faker(loc) for loc in LOCALES}
    for i, f in enumerate(fakers.values()):
        f.seed_instance(seed * 1000 + i)
    pool = list(NEGATIVES) + list(T.NEGATIVE_TEXTS) + code_negatives(max(n // 10, 20), seed) + list(negatives)
    en = fakers["en_US"]

    def negative() -> str:
        r = rng.random()
        if r < 0.25:
            return render(rng.choice(T.GENERIC_QUESTION_TEMPLATES), en, rng)[0]
        if r < 0.35:
            # German, French and Italian word salad: capitalized nouns that are no names.
            return fakers[rng.choice(["de_DE", "de_DE", "fr_FR", "it_IT"])].paragraph(nb_sentences=rng.randint(1, 3))
        if r < 0.45:
            return render(rng.choice(T.MEDICAL_NEGATIVES), en, rng)[0]
        return rng.choice(pool)

    families = [
        (0.30, TEMPLATES + T.CHAT_TEMPLATES),
        (0.18, T.STRUCTURED_TEMPLATES),
        (0.12, T.MIXED_TEMPLATES),
    ]
    out = []
    for _ in range(n):
        if rng.random() < 0.3:
            out.append((negative(), []))
            continue
        loc = rng.choice(LOCALES) if rng.random() < 0.6 else "en_US"
        local = LOCAL_TEMPLATES.get(loc, []) + T.LOCAL_TEMPLATES.get(loc, []) + T.LOCAL_FORMS.get(loc, [])
        r, template = rng.random() * 0.7, None
        for share, family in families:
            if r < share:
                template = rng.choice(family)
                break
            r -= share
        if template is None:
            template = rng.choice(local) if local else rng.choice(T.CHAT_TEMPLATES)
        text, spans = render(template, fakers[loc], rng, real_places)
        if rng.random() < (0.18 if real_places else 0.12):
            text = text.lower()  # informal typing: case is a hint, not a rule
        if rng.random() < 0.33:
            before = negative() + rng.choice([" ", "\n", "\n\n"]) if rng.random() < 0.5 else ""
            after = rng.choice([" ", "\n", "\n\n"]) + negative() if not before or rng.random() < 0.5 else ""
            spans = [(a + len(before), b + len(before), k) for a, b, k in spans]
            text = before + text + after
        out.append((text, spans))
    return out
