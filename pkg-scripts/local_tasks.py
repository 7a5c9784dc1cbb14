"""Simple chat tasks with keyword checks, for labelling what a local model can do.

    python3 pkg-scripts/local_tasks.py [N] > cases.jsonl

Writes N (default 480) cases in the format of tests/data/local/simple-prompts.jsonl
(`tandem local eval --set`): greetings, rewordings, short facts and small code-debugging
questions, and general knowledge past the basics, each with groups of words a usable answer contains. `tandem local eval` answers
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
    ("call me back when you get this", ["call*"]),
    ("pay the rent on time", ["rent"]),
    ("reply to the customer", ["customer"]),
    ("lock the door when you leave", ["door"]),
    ("sign the form", ["form"]),
    ("come to the office early", ["office"]),
    ("fill in the survey", ["survey"]),
    ("pick up the kids at five", ["kid*", "child*"]),
    ("share the photos from the trip", ["photo*", "picture*"]),
    ("review my pull request", ["pull request", "review*"]),
    ("restart the server", ["server"]),
    ("order more coffee", ["coffee"]),
    ("cancel my subscription", ["subscription"]),
    ("tell me the results", ["result*"]),
    ("wait outside", ["wait*", "outside"]),
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

# General knowledge past the basics: a small model often answers these with confidence and wrong,
# so they teach the routing head where a model's knowledge ends (each model's own answers label them).
KNOWLEDGE = [
    ("Who wrote the novel 'One Hundred Years of Solitude'?", ["marquez", "márquez"]),
    ("What is the chemical symbol for gold?", ["au"]),
    ("Who painted 'The Night Watch'?", ["rembrandt"]),
    ("In which year did the Berlin Wall fall?", ["1989"]),
    ("Which organ produces insulin?", ["pancreas"]),
    ("Who developed the theory of general relativity?", ["einstein"]),
    ("What is the longest river in South America?", ["amazon"]),
    ("What is the currency of Japan?", ["yen"]),
    ("Who was the first person to walk on the Moon?", ["armstrong"]),
    ("Which gas makes up most of Earth's atmosphere?", ["nitrogen"]),
    ("Who composed the opera 'The Magic Flute'?", ["mozart"]),
    ("Which country has the largest population in Africa?", ["nigeria"]),
    ("What does DNA stand for?", ["deoxyribonucleic"]),
    ("Who discovered penicillin?", ["fleming"]),
    ("In which city is the Hagia Sophia?", ["istanbul"]),
    ("Which metal is liquid at room temperature?", ["mercury"]),
    ("Who wrote 'Pride and Prejudice'?", ["austen"]),
    ("What is the tallest mountain in Africa?", ["kilimanjaro"]),
    ("How many bones are in the adult human body?", ["206"]),
    ("Which ocean is the deepest?", ["pacific"]),
    ("What is the freezing point of water in Fahrenheit?", ["32"]),
    ("Who was the first emperor of Rome?", ["augustus", "octavian"]),
    ("What is the largest bone in the human body?", ["femur"]),
    ("Which country gave the Statue of Liberty to the United States?", ["france", "french"]),
    ("What is the atomic number of carbon?", ["6", "six"]),
    ("Who invented the telephone?", ["bell"]),
    ("In what year did World War II end?", ["1945"]),
    ("Who wrote 'On the Origin of Species'?", ["darwin"]),
    ("What is the chemical formula of table salt?", ["nacl"]),
    ("Which philosopher wrote 'The Republic'?", ["plato"]),
    ("What is the unit of electrical resistance?", ["ohm*"]),
    ("Which element has the chemical symbol Fe?", ["iron"]),
    ("Who painted the ceiling of the Sistine Chapel?", ["michelangelo"]),
    ("In which country is Machu Picchu?", ["peru"]),
    ("What is the most abundant element in the universe?", ["hydrogen"]),
    ("Who wrote the play 'Hamlet'?", ["shakespeare"]),
    ("What is the capital of Turkey?", ["ankara"]),
    ("What is the capital of New Zealand?", ["wellington"]),
    ("What is the name of the process by which plants turn sunlight into food?", ["photosynthesis"]),
    ("Which instrument has 88 keys?", ["piano"]),
    ("Who was the US president during the American Civil War?", ["lincoln"]),
    ("What language is spoken in Brazil?", ["portuguese"]),
    ("What mainly causes the tides on Earth?", ["moon"]),
    ("Which treaty ended the First World War?", ["versailles"]),
    ("What is the derivative of x squared?", ["2x"]),
    ("What is 15 percent of 200?", ["30", "thirty"]),
    ("What is 7 times 8?", ["56", "fifty-six"]),
    ("Who founded Microsoft together with Paul Allen?", ["gates"]),
    ("What does HTTP stand for?", ["hypertext transfer protocol"]),
    ("Which layer of the atmosphere contains the ozone layer?", ["stratosphere"]),
    ("Who proposed that the Earth orbits the Sun, in the 16th century?", ["copernicus"]),
    ("What is the SI unit of force?", ["newton*"]),
    ("Who created the Python programming language?", ["guido", "van rossum"]),
    ("What is the pH of pure water at room temperature?", ["7", "seven"]),
    ("Which planet is closest to the Sun?", ["mercury"]),
    ("Who wrote '1984'?", ["orwell"]),
    ("Which blood type can be given to anyone in an emergency?", ["o negative", "o-negative", "o neg", "type o"]),
    ("What is the smallest country in the world?", ["vatican"]),
    ("Who discovered radioactivity together with Pierre Curie and Henri Becquerel?", ["marie"]),
    ("Which civilization built the pyramids of Giza?", ["egypt*"]),
    ("What is the square root of 169?", ["13", "thirteen"]),
    ("How many degrees are in the angles of a triangle, added up?", ["180"]),
    ("Which country hosted the 2016 Summer Olympics?", ["brazil", "rio"]),
    ("What is the hardest natural material?", ["diamond*"]),
    ("Which author created Sherlock Holmes?", ["doyle"]),
    ("What part of the cell holds its genetic material?", ["nucleus"]),
    ("Which Roman god is the king of the gods?", ["jupiter"]),
    ("In which year did the French Revolution begin?", ["1789"]),
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
    ("Git says 'fatal: not a git repository'. What should I do?", [["init", "clone", "directory", "folder"]]),
    ("npm install fails with 'EACCES: permission denied'. How do I fix it?", [["permission*", "sudo", "owner*", "chown", "prefix", "nvm"]]),
    ("Why does my C program crash with 'Segmentation fault (core dumped)'?", [["memory", "pointer*", "null", "bounds", "array"]]),
    ("In JavaScript, why is 0.1 + 0.2 not equal to 0.3?", [["floating", "binary", "precision"]]),
    ("Why does Python raise 'UnboundLocalError: local variable referenced before assignment'?", [["global", "nonlocal", "assign*"]]),
    ("My Go program panics with 'assignment to entry in nil map'. Why?", [["make", "initiali*"]]),
    ("Why does my useEffect run twice in React development mode?", [["strict*"]]),
    ("kubectl shows my pod in 'ImagePullBackOff'. What does it mean?", [["image"], ["pull*", "registry", "tag", "credential*"]]),
    ("My SQL UPDATE changed every row in the table. What did I do wrong?", [["where"]]),
    ("Why does Python's list.sort() return None?", [["in place", "in-place", "sorted"]]),
    ("TypeScript says 'Object is possibly undefined'. How do I fix it?", [["check", "optional", "guard", "undefined"]]),
    ("Why does my shell script fail with 'bad interpreter: /bin/bash^M'?", [["line ending*", "crlf", "carriage", "dos2unix", "windows"]]),
    ("Why do I get 'TypeError: can only concatenate str (not \"int\") to str' in Python?", [["str", "convert*", "f-string", "cast*", "format*"]]),
    ("Why does my CSS z-index have no effect?", [["position*", "stacking"]]),
    ("My server fails to start with 'EADDRINUSE: address already in use'. Why?", [["port"]]),
    ("Node.js says 'Cannot use import statement outside a module'. Why?", [["module", "esm", "mjs", "commonjs", "require"]]),
    ("Why does Rust say 'cannot borrow as mutable because it is also borrowed as immutable'?", [["borrow*"], ["scope", "immutable", "reference*"]]),
    ("pandas warns 'SettingWithCopyWarning'. What does it mean?", [["copy", "loc", "view"]]),
    ("Why does my Python recursion fail with 'RecursionError: maximum recursion depth exceeded'?", [["base case", "limit", "iterat*", "infinite"]]),
]


def cases(n: int, rng: random.Random):
    makers = [greeting, polite, grammar, formal, shorten, capital, fact, translate, code, knowledge, knowledge, code]
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
    ask = rng.choice([
        "Rewrite this more politely: {}.", "Make this request polite: {}.", "Say this nicely: {}!", "Rephrase politely: {}.",
        "Can you reword this to sound friendlier: {}.", "Please rephrase this in a kinder way: {}.",
        "How can I say this more nicely? \"{}\"", "Soften this message: {}.", "Turn this into a polite request: {}.",
    ])
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
    long = rng.choice([
        "I wanted to ask whether it would at all be possible for you to {} when you find a moment",
        "Hi, sorry to bother you again, but I was wondering if you could maybe {} at some point today if that works",
        "Just a quick reminder, in case it slipped your mind, that we agreed you would {} before the end of the week",
    ]).format(text)
    ask = rng.choice(["Make this shorter: {}.", "Shorten this message: {}.", "Say this in fewer words: {}.", "Trim this down: {}."])
    return "rewording", ask.format(long), [keys]


def knowledge(rng):
    text, any_ = rng.choice(KNOWLEDGE)
    return "factual", text, [any_]


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
