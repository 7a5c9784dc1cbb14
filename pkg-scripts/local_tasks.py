"""Simple chat tasks with keyword checks, for labelling what a local model can do.

    python3 pkg-scripts/local_tasks.py [N] > cases.jsonl

Writes N (default 480) cases in the format of tests/data/local/simple-prompts.jsonl
(`tandem local eval --set`): greetings, rewordings, short facts and small code-debugging
questions, each with groups of words a usable answer contains. `tandem local eval` answers
them with a local model and judges the answers; the verdicts label the per-model routing
head's chat tasks (docs/router.md, "Routing heads per local model").

Seeded, and written from templates and word lists of this file only: none of the cases of
tests/data/local/*.jsonl (the development and final sets) is generated here.
"""

import json
import random
import sys

GREETINGS = [
    ("Hey!", [["hello", "hi", "hey"]]),
    ("Hello there, nice to meet you.", [["nice", "pleasure", "hello", "hi"]]),
    ("Good afternoon!", [["afternoon", "hello", "hi"]]),
    ("Hi, how is it going?", [["good", "well", "great", "fine", "going"]]),
    ("Thanks so much!", [["welcome", "glad", "happy", "pleasure"]]),
    ("Thank you for the quick answer.", [["welcome", "glad", "happy", "pleasure"]]),
    ("See you tomorrow!", [["see you", "bye", "tomorrow", "take care"]]),
    ("Goodnight!", [["night", "sleep", "sweet dreams", "rest"]]),
    ("Happy birthday to you!", [["thank*"]]),
    ("Merry Christmas!", [["merry", "christmas", "thank*", "holiday*"]]),
    ("Happy new year!", [["happy", "new year", "thank*"]]),
    ("I'm back, did you miss me?", [["welcome", "back", "hello", "hi"]]),
]

SENTENCES = [
    ("give me your notes", ["note*"]),
    ("answer my email today", ["email", "e-mail"]),
    ("move your car", ["car"]),
    ("stop talking during the meeting", ["meeting", "talk*"]),
    ("clean the kitchen", ["kitchen"]),
    ("send the contract by noon", ["contract"]),
    ("bring your laptop tomorrow", ["laptop"]),
    ("fix the printer", ["printer"]),
    ("return my book", ["book"]),
    ("turn the music down", ["music"]),
    ("check the numbers again", ["number*"]),
    ("update the website", ["website", "site"]),
    ("book the meeting room", ["room", "meeting"]),
    ("water the plants", ["plant*"]),
    ("finish the slides", ["slide*"]),
]

POLITE = ["please", "could you", "would you", "kindly", "appreciat*", "mind"]

GRAMMAR = [
    ("he go to work every day", ["goes to work"]),
    ("we was happy", ["were happy"]),
    ("i has a dog", ["have a dog"]),
    ("the childs are playing", ["children are playing"]),
    ("she can sings well", ["can sing"]),
    ("they is late", ["are late"]),
    ("he don't know", ["doesn't know", "does not know"]),
    ("i seen that movie", ["have seen", "saw"]),
]

FORMAL = [
    ("gonna be late, traffic is crazy", [["late", "delay*"]]),
    ("can u send the file asap", [["file"], ["soon", "possible", "please", "could", "would"]]),
    ("got ur message, will reply later", [["message"], ["reply", "respond", "response"]]),
    ("thx for the help", [["thank*"], ["help*", "assist*", "support*"]]),
    ("need the report by friday", [["report"], ["friday"]]),
]

CAPITALS = [
    ("Italy", "rome"), ("Spain", "madrid"), ("Germany", "berlin"), ("the United Kingdom", "london"),
    ("Russia", "moscow"), ("China", "beijing"), ("Egypt", "cairo"), ("Canada", "ottawa"),
    ("Australia", "canberra"), ("Portugal", "lisbon"), ("Greece", "athens"), ("Norway", "oslo"),
    ("Sweden", "stockholm"), ("Ireland", "dublin"), ("Austria", "vienna"), ("Poland", "warsaw"),
    ("Kenya", "nairobi"), ("Peru", "lima"), ("Argentina", "buenos aires"), ("Thailand", "bangkok"),
]

FACTS = [
    ("How many wheels does a bicycle have?", ["two", "2"]),
    ("How many sides does a triangle have?", ["three", "3"]),
    ("What do bees make?", ["honey"]),
    ("What is frozen water called?", ["ice"]),
    ("Which animal says 'meow'?", ["cat", "cats"]),
    ("What color are ripe bananas?", ["yellow"]),
    ("What is the opposite of up?", ["down"]),
    ("What is the opposite of big?", ["small", "little"]),
    ("How many minutes are in an hour?", ["60", "sixty"]),
    ("What gas do humans need to breathe?", ["oxygen"]),
    ("What is the largest planet in our solar system?", ["jupiter"]),
    ("How many continents are there?", ["seven", "7"]),
    ("What is the boiling point of water in Celsius?", ["100", "hundred"]),
    ("Which season comes after winter?", ["spring"]),
    ("How many letters are in the English alphabet?", ["26", "twenty-six", "twenty six"]),
]

WORDS = [
    ("good morning", "French", ["bonjour"]), ("cat", "Spanish", ["gato"]), ("water", "French", ["eau"]),
    ("yes", "German", ["ja"]), ("goodbye", "Spanish", ["adiós", "adios"]), ("please", "French", ["s'il vous plaît", "s'il vous plait", "s'il te plaît"]),
    ("dog", "German", ["hund"]), ("friend", "Spanish", ["amigo", "amiga"]), ("book", "French", ["livre"]),
]

CODE = [
    ("Why do I get 'TypeError: Cannot read properties of undefined (reading 'map')' in my React component?", [["undefined"], ["array", "data", "initial*", "state", "check"]]),
    ("My Python script fails with 'IndentationError: unexpected indent'. What is wrong?", [["indent*", "space*", "tab*"]]),
    ("Why does `git push` say 'rejected: non-fast-forward'?", [["pull", "fetch", "rebase", "merge"]]),
    ("fetch() in the browser fails with a CORS error. What does it mean?", [["origin", "header*", "access-control*"]]),
    ("What does 'ModuleNotFoundError: No module named requests' mean?", [["install*", "pip"]]),
    ("Why is my SQL query 'SELECT * FROM users WHERE name = NULL' returning no rows?", [["is null"]]),
    ("In Rust, why does the compiler say 'borrowed value does not live long enough'?", [["lifetime*", "scope", "outlive*", "dropped"]]),
    ("My Java program throws NullPointerException on user.getName(). Why?", [["null"], ["user"]]),
    ("Why does JSON.parse throw 'Unexpected token < in JSON at position 0'?", [["html"]]),
    ("Docker says 'port is already allocated'. How do I fix it?", [["port"], ["stop", "kill", "another", "different", "change", "free"]]),
]


def cases(n: int, rng: random.Random):
    makers = [greeting, polite, grammar, formal, shorten, capital, fact, translate, code]
    out = []
    while len(out) < n:
        kind, content, any_ = rng.choice(makers)(rng)
        out.append({"id": f"{kind}-{len(out)}", "kind": kind, "messages": [{"role": "user", "content": content}], "any": any_})
    return out


def greeting(rng):
    text, any_ = rng.choice(GREETINGS)
    return "greeting", text, any_


def polite(rng):
    text, keys = rng.choice(SENTENCES)
    ask = rng.choice(["Rewrite this more politely: {}.", "Make this request polite: {}.", "Say this nicely: {}!", "Rephrase politely: {}."])
    return "rewording", ask.format(text), [POLITE, keys]


def grammar(rng):
    text, fixed = rng.choice(GRAMMAR)
    ask = rng.choice(["Fix the grammar: {}.", "Correct this sentence: {}.", "Grammar check: {}."])
    return "rewording", ask.format(text), [fixed]


def formal(rng):
    text, any_ = rng.choice(FORMAL)
    ask = rng.choice(["Make this more formal: {}", "Rewrite in a professional tone: {}", "Turn this into a formal sentence: {}"])
    return "rewording", ask.format(text), any_


def shorten(rng):
    text, keys = rng.choice(SENTENCES)
    long = f"I wanted to ask whether it would at all be possible for you to {text} when you find a moment"
    return "rewording", f"Make this shorter: {long}.", [keys]


def capital(rng):
    country, city = rng.choice(CAPITALS)
    ask = rng.choice(["What is the capital of {}?", "Which city is the capital of {}?", "Name the capital city of {}."])
    return "factual", ask.format(country), [[city]]


def fact(rng):
    text, any_ = rng.choice(FACTS)
    return "factual", text, [any_]


def translate(rng):
    word, language, any_ = rng.choice(WORDS)
    return "factual", f"How do you say '{word}' in {language}?", [any_]


def code(rng):
    text, any_ = rng.choice(CODE)
    return "code", text, any_


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 480
    seen = set()
    for case in cases(n * 4, random.Random(20261203)):
        key = case["messages"][0]["content"]
        if key in seen:
            continue
        seen.add(key)
        print(json.dumps(case, ensure_ascii=False))
        if len(seen) == n:
            break


if __name__ == "__main__":
    main()
