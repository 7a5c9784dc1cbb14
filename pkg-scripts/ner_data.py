"""Synthetic training text for the shield's NER head (PERSON, LOCATION,
ORGANIZATION, STREET_ADDRESS), generated with Faker in several locales from
this file's own templates: chat-style requests, e-mails, forms, notes.

The evaluation set (../shared/data/pii/presidio_synth_dataset_v2.json) is
never read here: its templates and values stay unseen, so the F1 measured on
it is honest.

Each example is (text, spans) with spans = [(start, end, label)] in
character offsets. Entities the patterns already find (e-mails, phones,
cards, IBANs…) appear unlabelled, so the model learns to leave them to the
validators.
"""

import random

from faker import Faker

LOCALES = ["en_US", "en_GB", "en_IN", "en_AU", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "sv_SE", "pl_PL", "fi_FI", "tr_TR"]

# {P} person, {F} first name, {L} last name, {C} city, {N} country, {S} state/region,
# {O} organization, {A} full address, {SA} street address. Unlabelled: {E} email,
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
    "Where in {N} is {C} located?",
    "Write a LinkedIn recommendation for {P}, a data analyst at {O}.",
    "The package for {P} was left at {A} on {D}.",
    "Contact person: {P}, {O}, {SA}, {C}",
    "{F}'s new address is {A}",
    "Tell me about the history of {C}.",
    "We are flying {F} and {F2} from {C} to {C2} on {D}.",
    "Summarize: {O} announced that {P} will lead its {C} office.",
    "I got a letter from {O} addressed to {P} at {SA} but I don't know them.",
    "Can you check the grammar: my sister {F} live in {S} since {NUM} years",
    "Please register {P} (born {D}) for the course at {O}.",
    "{P}\n{A}",
    "Dear Mr. {L}, your appointment at {O} in {C} is confirmed.",
    "Dear Ms. {L},\nyour parcel will be delivered to {SA}.",
    "Hello {F}! Welcome to the {O} team in {C}.",
    "user {P} reported a bug from {URL} while travelling in {N}",
    "{O} and {O2} are merging; {P} becomes CEO.",
    "The suspect, {P}, was last seen near {SA} in {C}.",
    "Please write a short poem about {C} for {F}.",
    "Send the samples to {O}, attn. {P}, {A}",
    "{P} <{E}> wrote: see you in {C} next week.",
    "i think {f} from {o} lives somewhere in {c}",
    "can u send it to {sa} {c} pls",
    "my boss {p} wants the report by friday",
    "They had {NUM} kids: {F}, {F2}, {F3} and {F4}.",
    "invited: {F}, {F2}, {F3}, {F4}",
    "The company was founded by {L}, {L2} and {L3} in {C}.",
    "I loved the song by {P}, especially the live version.",
    "{F}: \"Are you coming?\" {F2}: \"Only if {F3} drives.\"",
    "Is {P}'s phone number still the same?",
    "Dr. {L} will see you now, {F}.",
    "Prof. {P} teaches at the University of {C}.",
    "Please ask Mrs. {L} whether {O} accepted the offer.",
    "{P} ({NUM}) from {C} won the race.",
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


def _values(fake: Faker, rng: random.Random) -> dict:
    def org() -> str:
        return fake.company()

    def addr() -> str:
        a = fake.address()
        return a if rng.random() < 0.6 else a.replace("\n", ", ")

    def city() -> str:
        return fake.city()

    def country() -> str:
        return fake.country()

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
        # titles are not part of the name (Presidio's convention), so build it.
        first, last = fake.first_name(), fake.last_name()
        r = rng.random()
        if r < 0.15:
            return f"{first} {rng.choice('ABCDEFGHJKLMNPRSTW')}. {last}"
        if r < 0.25:
            return f"{first} {rng.choice('ABCDEFGHJKLMNPRSTW')} {last}"
        if r < 0.3:
            return f"{first} {fake.first_name()} {last}"
        return f"{first} {last}"

    return {
        "P": ("PERSON", person),
        "P2": ("PERSON", person),
        "F": ("PERSON", fake.first_name),
        "F2": ("PERSON", fake.first_name),
        "F3": ("PERSON", fake.first_name),
        "F4": ("PERSON", fake.first_name),
        "L": ("PERSON", fake.last_name),
        "L2": ("PERSON", fake.last_name),
        "L3": ("PERSON", fake.last_name),
        "C": ("LOCATION", city),
        "C2": ("LOCATION", city),
        "N": ("LOCATION", country),
        "S": ("LOCATION", state),
        "O": ("ORGANIZATION", org),
        "O2": ("ORGANIZATION", org),
        "A": ("STREET_ADDRESS", addr),
        "SA": ("STREET_ADDRESS", fake.street_address),
        "E": (None, fake.email),
        "PH": (None, fake.phone_number),
        "D": (None, lambda: fake.date(pattern=rng.choice(["%d %B %Y", "%B %d", "%Y-%m-%d", "%m/%d/%Y"]))),
        "CC": (None, fake.credit_card_number),
        "NUM": (None, lambda: str(rng.randint(2, 90))),
        "URL": (None, fake.url),
    }


def render(template: str, fake: Faker, rng: random.Random):
    values = _values(fake, rng)
    text, spans, i = "", [], 0
    while i < len(template):
        if template[i] == "{":
            j = template.index("}", i)
            key = template[i + 1 : j]
            label, make = values[key.upper()]
            value = make()
            if key.islower():
                value = value.lower()
            if label is not None:
                spans.append((len(text), len(text) + len(value), label))
            text += value
            i = j + 1
        else:
            text += template[i]
            i += 1
    return text, spans


def _filler(fakers: dict, rng: random.Random) -> str:
    """Entity-free prose: a fixed question, or Faker's English lorem sentences."""
    if rng.random() < 0.3:
        return rng.choice(NEGATIVES)
    return fakers["en_US"].paragraph(nb_sentences=rng.randint(1, 4))


def generate(n: int, seed: int):
    """`n` examples: about 15% without any entity; a third of the others
    embedded in entity-free prose, so that context alone does not decide."""
    rng = random.Random(seed)
    fakers = {loc: Faker(loc) for loc in LOCALES}
    for i, f in enumerate(fakers.values()):
        f.seed_instance(seed * 1000 + i)
    out = []
    for _ in range(n):
        if rng.random() < 0.15:
            out.append((_filler(fakers, rng), []))
            continue
        loc = rng.choice(LOCALES) if rng.random() < 0.6 else "en_US"
        if loc in LOCAL_TEMPLATES and rng.random() < 0.5:
            template = rng.choice(LOCAL_TEMPLATES[loc])
        else:
            template = rng.choice(TEMPLATES)
        text, spans = render(template, fakers[loc], rng)
        if rng.random() < 0.33:
            before = _filler(fakers, rng) + " " if rng.random() < 0.5 else ""
            after = " " + _filler(fakers, rng) if not before or rng.random() < 0.5 else ""
            spans = [(a + len(before), b + len(before), k) for a, b, k in spans]
            text = before + text + after
        out.append((text, spans))
    return out
