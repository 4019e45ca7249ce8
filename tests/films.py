"""A second domain for the tests: films, the people who direct and act in them, genres.

Its relation names (`directed_by`, `starring`, `has_genre`) are not the demo's and it
declares no cues, so whatever the rule rewriter reads here it read from the graph alone.
Several people both direct and act (Clint Eastwood, Bradley Cooper), so the role is what
tells "films directed by X" from "films starring X"; the documents are written so that
plain search cannot tell: the films Eastwood only acted in say "Eastwood" and "director"
often, the ones he only directed name him once.
"""

from __future__ import annotations

from rolecall import Document, Entity, KnowledgeGraph, Relation

__all__ = ["FILM_DOCS", "FILM_ENTITIES", "FILM_RELATIONS", "films_kg"]

_TYPES = [
    Entity(id="film", name="film", type="type", aliases=["films", "movie", "movies"]),
    Entity(id="person", name="person", type="type", aliases=["people", "actor", "actors"]),
    Entity(id="genre", name="genre", type="type", aliases=["genres"]),
]
_GENRES = [
    Entity(id="western", name="western", type="genre", aliases=["westerns"]),
    Entity(id="war", name="war", type="genre"),
    Entity(id="thriller", name="thriller", type="genre", aliases=["thrillers"]),
    Entity(id="comedy", name="comedy", type="genre", aliases=["comedies"]),
    Entity(id="drama", name="drama", type="genre", aliases=["dramas"]),
]
_PEOPLE = [
    Entity(id="clint_eastwood", name="Clint Eastwood", type="person", aliases=["Eastwood"]),
    Entity(id="bradley_cooper", name="Bradley Cooper", type="person", aliases=["Cooper"]),
    Entity(id="gene_hackman", name="Gene Hackman", type="person", aliases=["Hackman"]),
    Entity(id="ken_watanabe", name="Ken Watanabe", type="person", aliases=["Watanabe"]),
    Entity(id="don_siegel", name="Don Siegel", type="person", aliases=["Siegel"]),
    Entity(id="wolfgang_petersen", name="Wolfgang Petersen", type="person",
           aliases=["Petersen"]),
    Entity(id="sergio_leone", name="Sergio Leone", type="person", aliases=["Leone"]),
    Entity(id="todd_phillips", name="Todd Phillips", type="person", aliases=["Phillips"]),
]
#: film id -> (title, year, director, stars, genre)
_FILMS: dict[str, tuple[str, int, str, tuple[str, ...], str]] = {
    "unforgiven": ("Unforgiven", 1992, "clint_eastwood",
                   ("clint_eastwood", "gene_hackman"), "western"),
    "letters_from_iwo_jima": ("Letters from Iwo Jima", 2006, "clint_eastwood",
                              ("ken_watanabe",), "war"),
    "american_sniper": ("American Sniper", 2014, "clint_eastwood", ("bradley_cooper",), "war"),
    "dirty_harry": ("Dirty Harry", 1971, "don_siegel", ("clint_eastwood",), "thriller"),
    "in_the_line_of_fire": ("In the Line of Fire", 1993, "wolfgang_petersen",
                            ("clint_eastwood",), "thriller"),
    "the_good_the_bad_and_the_ugly": ("The Good, the Bad and the Ugly", 1966, "sergio_leone",
                                      ("clint_eastwood",), "western"),
    "the_hangover": ("The Hangover", 2009, "todd_phillips", ("bradley_cooper",), "comedy"),
    "a_star_is_born": ("A Star Is Born", 2018, "bradley_cooper", ("bradley_cooper",), "drama"),
}

FILM_ENTITIES: list[Entity] = [
    *_TYPES, *_GENRES, *_PEOPLE,
    *(Entity(id=fid, name=title, type="film") for fid, (title, *_) in _FILMS.items()),
]
FILM_RELATIONS: list[Relation] = [
    rel
    for fid, (_, _, director, stars, genre) in _FILMS.items()
    for rel in (
        Relation(subject=fid, relation="directed_by", object=director),
        *(Relation(subject=fid, relation="starring", object=s) for s in stars),
        Relation(subject=fid, relation="has_genre", object=genre),
    )
]

_TEXTS: dict[str, str] = {
    "unforgiven": "Unforgiven is a 1992 western about an ageing outlaw who takes one last job. "
    "It won the Academy Award for Best Picture; Gene Hackman plays the sheriff of Big Whiskey.",
    "letters_from_iwo_jima": "Letters from Iwo Jima tells the battle of Iwo Jima from the "
    "Japanese side, through the letters the soldiers wrote home. Ken Watanabe plays General "
    "Kuribayashi, and nearly all of the dialogue is in Japanese.",
    "american_sniper": "American Sniper follows the Navy SEAL Chris Kyle through four tours "
    "of the Iraq war. Bradley Cooper gained forty pounds for the part and was nominated for "
    "an Oscar.",
    "dirty_harry": "Dirty Harry stars Clint Eastwood as Inspector Harry Callahan, the role "
    "that made Clint Eastwood a star. Eastwood said that working with his mentor Don Siegel "
    "taught him how to direct: Eastwood directed his own films soon after.",
    "in_the_line_of_fire": "In the Line of Fire stars Clint Eastwood as a Secret Service "
    "agent haunted by Dallas. Clint Eastwood, by then also a director, plays Frank Horrigan; "
    "Eastwood's director on the film was Wolfgang Petersen.",
    "the_good_the_bad_and_the_ugly": "The Good, the Bad and the Ugly stars Clint Eastwood "
    "as the Man with No Name. Clint Eastwood learned from Sergio Leone how a director frames "
    "a western, and Eastwood went on to direct westerns himself.",
    "the_hangover": "The Hangover is a 2009 comedy about a bachelor party in Las Vegas that "
    "nobody remembers. Bradley Cooper, Ed Helms and Zach Galifianakis wake up without the "
    "groom; Todd Phillips directed it.",
    "a_star_is_born": "A Star Is Born is a 2018 musical drama: Bradley Cooper directed it "
    "and stars as a fading country singer opposite Lady Gaga.",
}

FILM_DOCS: list[Document] = [
    *(
        Document(id=fid, title=title, text=_TEXTS[fid],
                 metadata={"entities": [fid], "year": year})
        for fid, (title, year, *_) in _FILMS.items()
    ),
    Document(id="clint_eastwood", title="Clint Eastwood", text="Clint Eastwood is an "
             "American actor and director. As a director he made Unforgiven, Letters from "
             "Iwo Jima and American Sniper; as an actor he is remembered for Dirty Harry.",
             metadata={"entities": ["clint_eastwood"]}),
    Document(id="bradley_cooper", title="Bradley Cooper", text="Bradley Cooper is an "
             "American actor who made his debut as a director with A Star Is Born.",
             metadata={"entities": ["bradley_cooper"]}),
    Document(id="westerns", title="Westerns", text="The western is a genre of films set in "
             "the American frontier; Sergio Leone and Clint Eastwood reshaped it.",
             metadata={}),
]


def films_kg() -> KnowledgeGraph:
    """A fresh graph of the film domain (callers may add to it without sharing state)."""
    kg = KnowledgeGraph()
    for e in FILM_ENTITIES:
        kg.add_entity(e)
    for r in FILM_RELATIONS:
        kg.add_relation(r)
    return kg
