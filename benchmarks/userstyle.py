"""A user-style data set: invented software libraries, their user reviews, and role queries.

    python benchmarks/userstyle.py OUTDIR [--seed 7]

writes, deterministically (the same seed gives byte-identical files):

* ``kg.tsv`` -- the knowledge graph as a user would export it: triples under the header
  ``library<TAB>relation<TAB>target`` (the user's own column names, not "subject relation
  object").  Relations, in the user's own words: ``used_for`` (library -> task),
  ``replaces`` (library -> library: the newer one replaces the older), ``depends_on``
  (library -> library) and ``written_in`` (library -> language).  Every library has one or
  two ``used_for`` and one ``written_in``; there are 9 ``replaces`` and 11 ``depends_on``.
  Ends are display names ("Brassknot", "JSON parsing", "Rust"), so the TSV works alone.
* ``entities.csv`` -- optional: ``id,name,type,aliases`` (types ``library``, ``task``,
  ``language``; id = name; aliases ``|``-separated, e.g. "JSON parsing" has "parsing
  JSON|JSON decoding", Go has "Golang", a few libraries have a package name).
* ``corpus.jsonl`` -- BEIR layout, one user review a line: ``{"_id", "title": "", "text",
  "metadata": {"library": "<display name>"}}``.  30 invented libraries (names chosen so that
  a language model has no prior about them) get 8-12 reviews each, 1-4 sentences drawn from
  many templates.  A review rarely names its own library (about 1 in 5 do): which library
  it reviews is in ``metadata.library`` only, so a retriever must link by that field.
  Reviews mention *other* libraries, tasks and languages in the ways that make association
  differ from the role: the replacement of Brassknot says "after years of Brassknot"; a
  library that depends on Brassknot says "it pulls in Brassknot"; Brassknot's own reviews
  name its tasks and, sometimes, the library everyone moved to; some reviews say what a
  library is *not* for ("don't use it for PDF generation"), compare it with a competitor,
  or name another language ("coming from Java, ...").
* ``queries.jsonl`` and ``qrels/test.tsv`` (BEIR: ``query-id<TAB>corpus-id<TAB>score`` with
  a header).  ``metadata.category`` is the relation asked for (``used_for``, ``replaces``,
  ``depends_on``, ``written_in``) or ``plain``; role queries also carry ``phrasing``
  (``schema``: the relation's own words, "libraries that depend on Quillpad";
  ``paraphrase``: "which packages pull in Quillpad"), ``relation``, ``object``,
  ``satisfying`` and ``violating`` (as NegConstraint stores them, see
  ../shared/data/README.md; the violating documents are also grade-0 qrels, so
  ``rolecall.eval.load_beir`` computes ``violation`` and ``assoc@10`` from either).

Judgements, for a role query (relation R, object O):

* relevant: every review of a library L with ``L R O`` in the graph -- grade 2 when its text
  names O (the replacement story, "it pulls in Quillpad", the task, the language), else 1;
* violating: a review that names O in its text, or is a review *of* O, while its library
  does not satisfy the role: O's own reviews and its dependents' for "replaces O", the task
  named by a library not used for it, the language named by a library written in another.

Relevant and violating sets are disjoint by construction; every role query has both.
Each relation object gets one schema and one paraphrase query (66 role queries).  The 15
``plain`` queries ("fast JSON parsing", "logging with a clean API") have no role: their
qrels (grade 1) are the reviews that literally match -- they name the task as their own
library's and praise the aspect -- and they have no violating documents; they check that
role machinery never makes a plain search worse.

The data are generated, not collected: the graph is fixed by hand below, the reviews, their
ids, and which phrasing a query uses come from ``random.Random(seed)``.  The judgements are
the graph's (a reader might also accept a competitor as "something instead of Brassknot";
this data set does not).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# -- the knowledge graph ------------------------------------------------------------------------


@dataclass(frozen=True)
class Library:
    name: str
    language: str
    tasks: tuple[str, ...]
    aliases: tuple[str, ...] = ()


LIBRARIES: tuple[Library, ...] = (
    Library("Brassknot", "Python", ("JSON parsing",), ("brassknot-py",)),
    Library("Quillpad", "Python", ("JSON parsing", "CSV parsing")),
    Library("Glimmerjaw", "Python", ("logging",)),
    Library("Sedgeloom", "Python", ("logging",)),
    Library("Nettlecap", "Python", ("unit testing",)),
    Library("Hobthorn", "Python", ("unit testing", "date handling")),
    Library("Pewterhive", "Python", ("image resizing",)),
    Library("Saltmarrow", "Python", ("PDF generation",)),
    Library("Fennick", "Python", ("HTTP requests", "caching")),
    Library("Tallowfish", "Rust", ("image resizing",)),
    Library("Cobblewick", "Rust", ("image resizing",)),
    Library("Ironvetch", "Rust", ("JSON parsing", "CSV parsing")),
    Library("Loamspire", "Rust", ("HTTP requests",)),
    Library("Mothbrace", "Rust", ("logging",)),
    Library("Rookspindle", "Rust", ("command-line interfaces",)),
    Library("Kestrelline", "Rust", ("command-line interfaces",), ("kestrelline-rs",)),
    Library("Dunmarrow", "Go", ("HTTP requests",)),
    Library("Emberlark", "Go", ("HTTP requests", "caching")),
    Library("Thimbleroot", "Go", ("caching",)),
    Library("Umberfold", "Go", ("templating",)),
    Library("Mirewing", "Go", ("templating",)),
    Library("Vellumcrow", "Go", ("PDF generation",)),
    Library("Wicklefen", "Go", ("email sending",)),
    Library("Zephyrmint", "Java", ("date handling",)),
    Library("Ashvarrow", "Java", ("date handling",)),
    Library("Brindlewick", "Java", ("unit testing",)),
    Library("Corvelle", "Java", ("logging",)),
    Library("Dapplestone", "Java", ("PDF generation", "image resizing"), ("dapplestone-pdf",)),
    Library("Fernlatch", "Java", ("email sending",)),
    Library("Juniperle", "Java", ("templating",)),
)

#: (newer, older): the newer library replaces the older one
REPLACES: tuple[tuple[str, str], ...] = (
    ("Quillpad", "Brassknot"), ("Ironvetch", "Brassknot"), ("Hobthorn", "Nettlecap"),
    ("Sedgeloom", "Glimmerjaw"), ("Cobblewick", "Tallowfish"), ("Kestrelline", "Rookspindle"),
    ("Emberlark", "Dunmarrow"), ("Mirewing", "Umberfold"), ("Ashvarrow", "Zephyrmint"),
)
#: (library, dependency)
DEPENDS_ON: tuple[tuple[str, str], ...] = (
    ("Fennick", "Quillpad"), ("Saltmarrow", "Pewterhive"), ("Loamspire", "Ironvetch"),
    ("Kestrelline", "Mothbrace"), ("Emberlark", "Thimbleroot"), ("Dunmarrow", "Thimbleroot"),
    ("Vellumcrow", "Umberfold"), ("Wicklefen", "Umberfold"), ("Dapplestone", "Corvelle"),
    ("Fernlatch", "Juniperle"), ("Nettlecap", "Glimmerjaw"),
)
TASKS: tuple[str, ...] = (
    "image resizing", "JSON parsing", "HTTP requests", "logging", "unit testing",
    "date handling", "PDF generation", "CSV parsing", "command-line interfaces", "caching",
    "email sending", "templating",
)
LANGUAGES: tuple[str, ...] = ("Python", "Rust", "Go", "Java")
ALIASES: dict[str, tuple[str, ...]] = {
    "JSON parsing": ("parsing JSON", "JSON decoding"),
    "image resizing": ("resizing images", "thumbnailing"),
    "HTTP requests": ("HTTP calls",),
    "unit testing": ("unit tests",),
    "date handling": ("dates and times",),
    "PDF generation": ("generating PDFs",),
    "command-line interfaces": ("command-line parsing",),
    "email sending": ("sending email",),
    "Go": ("Golang",),
    **{lib.name: lib.aliases for lib in LIBRARIES if lib.aliases},
}
RELATIONS: tuple[str, ...] = ("used_for", "replaces", "depends_on", "written_in")


def triples() -> list[tuple[str, str, str]]:
    """The graph's triples, library by library, as a user's export lists them."""
    out: list[tuple[str, str, str]] = []
    for lib in LIBRARIES:
        out += [(lib.name, "used_for", t) for t in lib.tasks]
        out.append((lib.name, "written_in", lib.language))
        out += [(lib.name, "replaces", old) for new, old in REPLACES if new == lib.name]
        out += [(lib.name, "depends_on", dep) for user, dep in DEPENDS_ON if user == lib.name]
    return out


# -- sentence templates -------------------------------------------------------------------------

OWN_TASK = (
    "We use it for {task} across a dozen services and it just works.",
    "Does {task} well and stays out of the way.",
    "Best option for {task} I've found so far.",
    "{Task} used to be a chore for us; not anymore.",
    "Picked it up for {task} on a side project and kept it for work.",
    "Solid choice for {task}, nothing fancy.",
    "Handles {task} for our whole team without complaints.",
    "If all you need is {task}, this is it.",
    "Switched our {task} code over in a weekend, zero regrets.",
)
TASK_ASPECT: dict[str, tuple[str, ...]] = {
    "fast": ("Fast {task}, and I mean fast.",
             "{Task} got fast enough that it vanished from our profiles."),
    "docs": ("The docs walk you through {task} step by step.",
             "Good docs for {task}, with examples that actually run."),
    "api": ("{Task} with a clean API, finally.",
            "The API for {task} is small and obvious."),
    "errors": ("When {task} fails, the error messages tell you exactly why.",),
    "memory": ("{Task} on large inputs with low memory use.",),
    "stable": ("Stable {task} in production for two years now.",),
}
ASPECT_GOOD: dict[str, tuple[str, ...]] = {
    "fast": ("Really fast, even on big inputs.", "It is fast, noticeably fast.",
             "Fast enough that we stopped thinking about it."),
    "docs": ("The docs are excellent, with real examples.",
             "Good docs, which is rarer than it should be.",
             "Read the docs for twenty minutes and was productive."),
    "api": ("Clean API, easy to pick up.", "The API is small and makes sense.",
            "Nice API; the defaults are sane."),
    "errors": ("Error messages actually tell you what went wrong.",
               "Helpful error messages saved me hours."),
    "memory": ("Low memory use, which matters on our small boxes.",
               "Memory stays flat even under load."),
    "stable": ("Rock stable, not a single crash in production.",
               "Stable releases, no surprise breakage."),
}
ASPECT_BAD: dict[str, tuple[str, ...]] = {
    "fast": ("Not fast, but correct.",),
    "docs": ("The docs are thin and half of them are out of date.",),
    "api": ("The API is clunky and full of flags.",),
    "errors": ("Error messages are cryptic.",),
    "memory": ("Memory use balloons on big inputs.",),
    "stable": ("Not exactly stable; pin your version.",),
}
ASPECTS: tuple[str, ...] = tuple(ASPECT_GOOD)
GENERIC = (
    "Five stars, would use again.", "The maintainers answer issues within a day.",
    "Installs cleanly, no surprises.", "The changelog is honest about breaking changes.",
    "Had one weird bug; it was fixed in the next release.", "Small, focused, does one thing.",
    "Three stars: works, but nothing special.", "Setup took five minutes.",
    "The licence is permissive, which legal appreciated.",
    "Upgrading between major versions was painless.",
)
KEYED: dict[str, tuple[str, ...]] = {
    "replaces": (
        "After years of {x}, switching to this felt like cheating.",
        "We moved off {x} last spring and haven't looked back.",
        "Migrating from {x} took an afternoon; the API is close enough.",
        "Finally a proper successor to {x}.",
        "Dropped {x} for this and our build got simpler.",
        "Think of it as {x} done right.",
        "Everything I disliked about {x} is fixed here.",
    ),
    "replaced_by": (
        "Still does the job, but most people have moved to {x}.",
        "Maintenance slowed down once {x} came out.",
        "Fine for legacy code; for new projects I'd pick {x}.",
        "It works, though {x} does the same with less ceremony.",
        "We're stuck on it until we finish porting to {x}.",
    ),
    "depends": (
        "It pulls in {x}, which makes the install heavier than it needs to be.",
        "Built on top of {x}, so if you know that one you'll feel at home.",
        "Under the hood it uses {x}.",
        "Heads up: it depends on {x}, so pin both.",
        "Most of the heavy lifting is done by {x}, honestly.",
    ),
    "depends_task": (
        "It pulls in {x} for the {task} part, which surprised me.",
        "Leans on {x} for {task}, so that part is only as good as {x}.",
    ),
    "depended_on": (
        "{X} uses it under the hood, which is how I found it.",
        "Half our stack sits on it indirectly through {x}.",
        "If you use {x}, you already have this installed.",
    ),
    "not_for": (
        "Don't use it for {task}; it's not built for that.",
        "Tried bending it to do {task}: bad idea.",
        "People keep asking for {task} in the issues; it's not coming.",
        "No {task} here, look elsewhere.",
    ),
    "not_for_own": ("Great at {own}, useless for {task}.",),
    "lang_own": (
        "Feels like idiomatic {x}, no surprises.",
        "Pure {x}, so there's no native build step.",
        "One of the nicer {x} packages I've used.",
    ),
    "lang_other": (
        "Coming from {x}, the API took a day to get used to.",
        "Nicer than anything I used back in my {x} days.",
        "I wish the {x} ecosystem had something this tidy.",
        "We call it from a {x} service and it holds up fine.",
    ),
    "competitor": (
        "Benchmarked it against {x}: noticeably quicker on large files.",
        "Nicer to use than {x}, though {x} has more features.",
        "We evaluated {x} too and picked this for the smaller API.",
        "{X} is fine, but this one is less surprising.",
    ),
    "self": (
        "{X} is the first thing I add to a new project.",
        "Honestly {x} deserves more attention.",
        "I've used {x} at three jobs now.",
        "Not sure why {x} isn't more popular.",
        "{X} has been in our lockfile for years.",
    ),
}

# -- queries ------------------------------------------------------------------------------------

SCHEMA_QUERIES: dict[str, tuple[str, ...]] = {
    "used_for": ("libraries used for {o}", "a library used for {o}",
                 "which libraries are used for {o}?"),
    "replaces": ("a library that replaces {o}", "libraries that replace {o}",
                 "what replaces {o}?"),
    "depends_on": ("libraries that depend on {o}", "which libraries depend on {o}?",
                   "a library that depends on {o}"),
    "written_in": ("libraries written in {o}", "which libraries are written in {o}?"),
}
PARAPHRASE_QUERIES: dict[str, tuple[str, ...]] = {
    "replaces": ("what can I use instead of {o}", "{o} is unmaintained, what should I migrate to?",
                 "what took over from {o}?", "newer alternative to {o}", "successor to {o}"),
    "depends_on": ("which packages pull in {o}", "what is built on top of {o}?",
                   "libraries that use {o} under the hood", "if I remove {o}, what breaks?"),
    "written_in": ("{o} libraries", "native {o} packages", "something implemented in {o}"),
}
TASK_PARAPHRASES: dict[str, tuple[str, ...]] = {
    "image resizing": ("something to resize images", "how do I make thumbnails of photos",
                       "shrink pictures before upload"),
    "JSON parsing": ("what should I use to read JSON", "decode JSON payloads"),
    "HTTP requests": ("calling a REST API from my code", "make web requests to a server"),
    "logging": ("write log messages to a file", "what do people use for logs"),
    "unit testing": ("write tests for my functions", "a test framework for my code"),
    "date handling": ("work with timezones and calendar dates", "parse and format timestamps"),
    "PDF generation": ("create PDF files from code", "export invoices as PDFs"),
    "CSV parsing": ("read spreadsheets saved as CSV", "load comma-separated files"),
    "command-line interfaces": ("build a command-line tool with flags",
                                "parse command-line arguments"),
    "caching": ("cache expensive results in memory", "memoize slow lookups"),
    "email sending": ("send emails from my app", "deliver notification emails"),
    "templating": ("render HTML from templates", "fill in text templates"),
}
PLAIN_QUERIES: dict[str, tuple[str, ...]] = {
    "fast": ("fast {t}", "{t} that is fast on big inputs", "really fast {t}"),
    "docs": ("{t} library with good docs", "{t} with good docs and examples"),
    "api": ("{t} with a clean API", "simple API for {t}"),
    "errors": ("{t} with helpful error messages",),
    "memory": ("{t} with low memory use", "low memory {t}"),
    "stable": ("stable {t} for production", "{t} that is stable in production"),
}
N_PLAIN = 15


# -- generation ---------------------------------------------------------------------------------


@dataclass
class Sentence:
    text: str
    #: entity names the text names (libraries, tasks, languages)
    mentions: tuple[str, ...] = ()
    #: aspects the sentence praises
    aspects: tuple[str, ...] = ()


@dataclass
class Review:
    library: str
    sentences: list[Sentence]
    id: str = ""

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)

    @property
    def mentions(self) -> set[str]:
        return {m for s in self.sentences for m in s.mentions}

    @property
    def aspects(self) -> set[str]:
        return {a for s in self.sentences for a in s.aspects}


@dataclass
class Query:
    id: str
    text: str
    metadata: dict[str, object]
    qrels: dict[str, int] = field(default_factory=dict)


@dataclass
class Dataset:
    reviews: list[Review]
    queries: list[Query]


class World:
    """The graph, indexed for generation."""

    def __init__(self) -> None:
        self.libs = {lib.name: lib for lib in LIBRARIES}
        self.replaces = {n: [o for x, o in REPLACES if x == n] for n in self.libs}
        self.replaced_by = {n: [x for x, o in REPLACES if o == n] for n in self.libs}
        self.deps = {n: [d for u, d in DEPENDS_ON if u == n] for n in self.libs}
        self.users = {n: [u for u, d in DEPENDS_ON if d == n] for n in self.libs}

    def competitors(self, name: str) -> list[str]:
        """Libraries sharing a task with `name` and in no replaces/depends_on pair with it."""
        near = {name, *self.replaces[name], *self.replaced_by[name], *self.deps[name],
                *self.users[name]}
        tasks = set(self.libs[name].tasks)
        return [n for n, lib in self.libs.items() if n not in near and tasks & set(lib.tasks)]

    def satisfies(self, library: str, relation: str, obj: str) -> bool:
        lib = self.libs[library]
        return {"used_for": obj in lib.tasks, "written_in": lib.language == obj,
                "replaces": obj in self.replaces[library],
                "depends_on": obj in self.deps[library]}[relation]


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def surface(rng: random.Random, name: str) -> str:
    """How a review writes an entity: mostly its name, sometimes one of its aliases."""
    aliases = ALIASES.get(name, ())
    return rng.choice(aliases) if aliases and rng.random() < 0.3 else name


def fill(rng: random.Random, template: str, **names: str) -> Sentence:
    """Fill `{x}`/`{X}` (an entity), `{task}`/`{Task}` and `{own}` with surface forms."""
    forms = {k: surface(rng, v) for k, v in names.items()}
    values = {**forms, **{cap(k): cap(v) for k, v in forms.items()}}
    return Sentence(template.format(**values), tuple(names.values()))


def task_sentence(rng: random.Random, lib: Library, aspect: str | None) -> Sentence:
    task = rng.choice(lib.tasks)
    if aspect is None:
        return fill(rng, rng.choice(OWN_TASK), task=task)
    s = fill(rng, rng.choice(TASK_ASPECT[aspect]), task=task)
    return Sentence(s.text, s.mentions, (aspect,))


def aspect_sentence(rng: random.Random, signature: Sequence[str]) -> Sentence:
    """Praise, mostly of the library's signature aspects; now and then a complaint."""
    if rng.random() < 0.2:
        bad = rng.choice([a for a in ASPECTS if a not in signature])
        return Sentence(rng.choice(ASPECT_BAD[bad]))
    aspect = rng.choice(signature) if rng.random() < 0.75 else rng.choice(ASPECTS)
    return Sentence(rng.choice(ASPECT_GOOD[aspect]), aspects=(aspect,))


def keyed_sentence(
    rng: random.Random, world: World, lib: Library, key: tuple[str, str]
) -> Sentence:
    """The sentence a review is planned around: a relation, a trap, or the library's task."""
    kind, arg = key
    if kind == "own_task":
        aspect = rng.choice(ASPECTS) if rng.random() < 0.3 else None
        return task_sentence(rng, lib, aspect)
    if kind == "depends" and rng.random() < 0.4:
        task = world.libs[arg].tasks[0]
        return fill(rng, rng.choice(KEYED["depends_task"]), x=arg, task=task)
    if kind == "not_for":
        if rng.random() < 0.25:
            return fill(rng, KEYED["not_for_own"][0], own=rng.choice(lib.tasks), task=arg)
        return fill(rng, rng.choice(KEYED["not_for"]), task=arg)
    return fill(rng, rng.choice(KEYED[kind]), x=arg)


def filler(rng: random.Random, lib: Library, signature: Sequence[str]) -> Sentence:
    roll = rng.random()
    if roll < 0.35:
        return task_sentence(rng, lib, rng.choice(signature) if rng.random() < 0.4 else None)
    if roll < 0.75:
        return aspect_sentence(rng, signature)
    return Sentence(rng.choice(GENERIC))


def planned_traps(rng: random.Random, world: World) -> dict[str, list[tuple[str, str]]]:
    """Two reviews per task and per language that name it from a library it does not fit,
    so that every used_for and written_in query has violating documents."""
    traps: dict[str, list[tuple[str, str]]] = {n: [] for n in world.libs}
    for task in TASKS:
        others = [n for n, lib in world.libs.items() if task not in lib.tasks]
        for name in rng.sample(others, 2):
            traps[name].append(("not_for", task))
    for lang in LANGUAGES:
        others = [n for n, lib in world.libs.items() if lib.language != lang]
        for name in rng.sample(others, 2):
            traps[name].append(("lang_other", lang))
    return traps


def review_keys(
    rng: random.Random, world: World, lib: Library, traps: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """What each of a library's reviews is about, one key per review, shuffled."""
    name = lib.name
    keys = list(traps)
    for old in world.replaces[name]:
        keys += [("replaces", old)] * rng.randint(2, 4)
    for new in world.replaced_by[name]:
        keys += [("replaced_by", new)] * rng.randint(1, 3)
    for dep in world.deps[name]:
        keys += [("depends", dep)] * rng.randint(2, 3)
    keys += [("depended_on", user) for user in world.users[name]]
    other_tasks = [t for t in TASKS if t not in lib.tasks]
    keys += [("not_for", rng.choice(other_tasks))] * rng.randint(0, 1)
    keys += [("lang_own", lib.language)] * rng.randint(1, 2)
    other_langs = [lang for lang in LANGUAGES if lang != lib.language]
    keys += [("lang_other", rng.choice(other_langs))] * rng.randint(0, 1)
    competitors = world.competitors(name)
    if competitors:
        keys += [("competitor", c) for c in rng.sample(competitors, min(2, len(competitors)))]
    n = max(rng.randint(8, 12), min(len(keys), 12))
    keys = keys[:n] + [("own_task", "")] * (n - len(keys))
    rng.shuffle(keys)
    return keys


def library_reviews(
    rng: random.Random, world: World, lib: Library, traps: list[tuple[str, str]]
) -> list[Review]:
    signature = rng.sample(ASPECTS, 2)
    reviews: list[Review] = []
    for key in review_keys(rng, world, lib, traps):
        sentences = [keyed_sentence(rng, world, lib, key)]
        extra = rng.choices((0, 1, 2, 3), weights=(25, 35, 28, 12))[0]
        for _ in range(extra):
            s = filler(rng, lib, signature)
            if all(s.text != t.text for t in sentences):
                sentences.append(s)
        if rng.random() < 0.6:
            rng.shuffle(sentences)
        if rng.random() < 0.18:
            own = fill(rng, rng.choice(KEYED["self"]), x=lib.name)
            sentences.insert(rng.randint(0, min(len(sentences), 3)), own)
        reviews.append(Review(lib.name, sentences[:4]))
    return reviews


def make_reviews(rng: random.Random, world: World) -> list[Review]:
    traps = planned_traps(rng, world)
    reviews = [r for lib in LIBRARIES for r in library_reviews(rng, world, lib, traps[lib.name])]
    rng.shuffle(reviews)
    for i, r in enumerate(reviews, start=1):
        r.id = f"r{i:04d}"
    return reviews


def role_judgements(
    world: World, reviews: Sequence[Review], relation: str, obj: str
) -> tuple[dict[str, int], list[str]]:
    """(qrels of the reviews of satisfying libraries, violating review ids)."""
    qrels: dict[str, int] = {}
    violating: list[str] = []
    for r in reviews:
        named = obj in r.mentions
        if world.satisfies(r.library, relation, obj):
            qrels[r.id] = 2 if named else 1
        elif named or r.library == obj:
            violating.append(r.id)
    return qrels, sorted(violating)


def role_objects(relation: str) -> list[str]:
    """The objects of a relation that queries ask about, in the graph's order."""
    objs = [o for _, rel, o in triples() if rel == relation]
    return list(dict.fromkeys(objs))


def role_text(rng: random.Random, relation: str, obj: str, phrasing: str) -> str:
    if phrasing == "schema":
        return rng.choice(SCHEMA_QUERIES[relation]).format(o=obj)
    if relation == "used_for":
        return rng.choice(TASK_PARAPHRASES[obj])
    return rng.choice(PARAPHRASE_QUERIES[relation]).format(o=obj)


def role_queries(rng: random.Random, world: World, reviews: Sequence[Review]) -> list[Query]:
    queries: list[Query] = []
    for relation in RELATIONS:
        for obj in role_objects(relation):
            qrels, violating = role_judgements(world, reviews, relation, obj)
            for phrasing in ("schema", "paraphrase"):
                md: dict[str, object] = {
                    "category": relation, "phrasing": phrasing, "relation": relation,
                    "object": obj, "satisfying": sorted(qrels), "violating": violating,
                }
                text = role_text(rng, relation, obj, phrasing)
                queries.append(Query(f"q{len(queries) + 1:03d}", text, md, dict(qrels)))
    return queries


def literal_matches(world: World, reviews: Sequence[Review]) -> dict[tuple[str, str], list[str]]:
    """(task, aspect) -> reviews that name the task as their library's and praise the aspect."""
    out: dict[tuple[str, str], list[str]] = {}
    for r in reviews:
        own = [t for t in world.libs[r.library].tasks if t in r.mentions]
        for task in own:
            for aspect in sorted(r.aspects):
                out.setdefault((task, aspect), []).append(r.id)
    return out


def plain_queries(
    rng: random.Random, world: World, reviews: Sequence[Review], start: int
) -> list[Query]:
    """The best-supported (task, aspect) pairs, at most two per task."""
    matches = literal_matches(world, reviews)
    pairs = sorted(matches)
    rng.shuffle(pairs)
    pairs.sort(key=lambda p: -len(matches[p]))
    per_task: Counter[str] = Counter()
    queries: list[Query] = []
    for task, aspect in pairs:
        if len(queries) == N_PLAIN or len(matches[task, aspect]) < 2:
            break
        if per_task[task] == 2:
            continue
        per_task[task] += 1
        text = rng.choice(PLAIN_QUERIES[aspect]).format(t=task)
        md: dict[str, object] = {"category": "plain", "task": task, "aspect": aspect,
                                 "violating": []}
        qrels = {d: 1 for d in sorted(matches[task, aspect])}
        queries.append(Query(f"q{start + len(queries):03d}", text, md, qrels))
    return queries


def build(seed: int = 7) -> Dataset:
    rng = random.Random(seed)
    world = World()
    reviews = make_reviews(rng, world)
    queries = role_queries(rng, world, reviews)
    queries += plain_queries(rng, world, reviews, len(queries) + 1)
    return Dataset(reviews, queries)


# -- writing ------------------------------------------------------------------------------------


def _jsonl(records: Sequence[Mapping[str, object]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def rendered(ds: Dataset) -> dict[str, str]:
    """Relative path -> file content."""
    corpus = [{"_id": r.id, "title": "", "text": r.text, "metadata": {"library": r.library}}
              for r in sorted(ds.reviews, key=lambda r: r.id)]
    queries = [{"_id": q.id, "text": q.text, "metadata": q.metadata} for q in ds.queries]
    qrels = ["query-id\tcorpus-id\tscore"]
    for q in ds.queries:
        qrels += [f"{q.id}\t{d}\t{g}" for d, g in sorted(q.qrels.items())]
        violating = q.metadata.get("violating")
        qrels += [f"{q.id}\t{d}\t0" for d in (violating if isinstance(violating, list) else [])]
    kg = ["library\trelation\ttarget"] + ["\t".join(t) for t in triples()]
    ents = io.StringIO()
    writer = csv.writer(ents, lineterminator="\n")
    writer.writerow(["id", "name", "type", "aliases"])
    kinds = ([(lib.name, "library") for lib in LIBRARIES] + [(t, "task") for t in TASKS]
             + [(lang, "language") for lang in LANGUAGES])
    for name, kind in kinds:
        writer.writerow([name, name, kind, "|".join(ALIASES.get(name, ()))])
    return {"corpus.jsonl": _jsonl(corpus), "queries.jsonl": _jsonl(queries),
            "qrels/test.tsv": "\n".join(qrels) + "\n", "kg.tsv": "\n".join(kg) + "\n",
            "entities.csv": ents.getvalue()}


def write(ds: Dataset, outdir: Path) -> None:
    for rel, content in rendered(ds).items():
        path = outdir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8"))


def summary(ds: Dataset) -> str:
    """Counts per category and phrasing, for the terminal."""
    cats = Counter(str(q.metadata["category"]) for q in ds.queries)
    phr = Counter(str(q.metadata.get("phrasing", "-")) for q in ds.queries)
    self_named = sum(any(n.lower() in r.text.lower() for n in (r.library, *ALIASES.get(
        r.library, ()))) for r in ds.reviews)
    return (f"{len(ds.reviews)} reviews of {len(LIBRARIES)} libraries "
            f"({self_named} name their own library), {len(triples())} triples, "
            f"{len(ds.queries)} queries: "
            + ", ".join(f"{k} {v}" for k, v in sorted(cats.items()))
            + "; phrasing: " + ", ".join(f"{k} {v}" for k, v in sorted(phr.items())))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("outdir", type=Path)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    ds = build(args.seed)
    write(ds, args.outdir)
    print(f"{args.outdir}: {summary(ds)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
