import pytest
from rolecall import Catalog, KnowledgeGraph, Polarity, RuleRewriter
from rolecall.demo import demo_data_dir

from .conftest import ENTITIES, RELATIONS


@pytest.fixture(scope="module")
def rw() -> RuleRewriter:
    return RuleRewriter()


@pytest.fixture(scope="module")
def lexicon_kg(tiny_kg: KnowledgeGraph) -> KnowledgeGraph:
    """The tiny graph with the demo's relation declarations: the phrases "make you",
    "medicine", "without" … are the demo's schema, declared in its KG file, not the
    rewriter's.  A copy, so the session's graph keeps no declarations."""
    kg = KnowledgeGraph.from_json(tiny_kg.to_json())
    for declared in KnowledgeGraph.load([demo_data_dir() / "kg.jsonl"]).schema.values():
        kg.declare_relation(declared)
    return kg


@pytest.mark.parametrize("text, excluded, description", [
    ("Aaron's profile, but don't mention Moses.", ["Moses"], "Aaron's profile."),
    ("Outline Einstein's achievements in physics, excluding his work on relativity.",
     ["work on relativity"], "Outline Einstein's achievements in physics."),
    ("Compare Hobbes (excluding Leviathan) and Locke (excluding Two Treatises).",
     ["Leviathan", "Two Treatises"], "Compare Hobbes and Locke."),
    ("Introduce Aarhus without Denmark.", ["Denmark"], "Introduce Aarhus."),
    ("Discuss Mark Twain, avoiding any mention of Huckleberry Finn.", ["Huckleberry Finn"],
     "Discuss Mark Twain."),
    ("Jazz history other than bebop, and how did blues evolve?", ["bebop"],
     "Jazz history, and how did blues evolve?"),
    ("Introduce Alexis Carrel, but not including the Nobel Prize", ["Nobel Prize"],
     "Introduce Alexis Carrel"),
    ("Arrow's career at places other than the University of Chicago influence theory",
     ["University of Chicago"], "Arrow's career at places influence theory"),
    # A capitalised "That" is a word of the title, not the start of a relative clause.
    ("Her films as a director, excluding the 2014 film The Knife That Killed Me?",
     ["2014 film The Knife That Killed Me"], "Her films as a director?"),
])
def test_exclusion_cues(rw: RuleRewriter, text: str, excluded: list[str], description: str) -> None:
    q = rw.rewrite(text)
    assert [e.text for e in q.exclusions] == excluded
    assert q.description == description
    assert not any(x.lower() in " ".join(q.keywords).lower() for x in excluded)
    assert q.provenance.rewriter == "rules"


@pytest.mark.parametrize("text", [
    "how do vaccines work", "the history of Rome", "treats for dogs", "no",
    "\"quoted\" AND (weird:syntax*)",
])
def test_never_invents_constraints(rw: RuleRewriter, tiny_kg: KnowledgeGraph, text: str) -> None:
    q = rw.rewrite(text, catalog=Catalog(kg=tiny_kg))
    assert q.relations == [] and q.exclusions == [] and q.target_type is None


def test_relation_roles_with_graph(rw: RuleRewriter, lexicon_kg: KnowledgeGraph) -> None:
    cat = Catalog(kg=lexicon_kg)
    q = rw.rewrite("a drug that treats headaches", catalog=cat)
    assert q.target_type == "drug"
    assert [(r.relation, r.object, r.polarity) for r in q.relations] == [
        ("treats", "headache", Polarity.MUST)]
    q = rw.rewrite("medicines that cause headaches", catalog=cat)
    assert [(r.relation, r.object) for r in q.relations] == [("causes", "headache")]
    q = rw.rewrite("an antihistamine that doesn't make you drowsy", catalog=cat)
    assert q.target_type == "antihistamine"
    assert [(r.relation, r.object, r.polarity) for r in q.relations] == [
        ("causes", "drowsiness", Polarity.MUST_NOT)]
    q = rw.rewrite("allergy medicine without drowsiness", catalog=cat)
    assert {(r.relation, r.object, r.polarity) for r in q.relations} == {
        ("treats", "allergy", Polarity.MUST), ("causes", "drowsiness", Polarity.MUST_NOT)}
    assert q.exclusions == []
    q = rw.rewrite("a non-drowsy antihistamine", catalog=cat)
    assert [(r.relation, r.polarity) for r in q.relations] == [("causes", Polarity.MUST_NOT)]


def test_relation_names_are_cues_and_declared_phrases_come_from_the_schema(
    rw: RuleRewriter,
) -> None:
    """Without declarations the names still read ("treats", "cause"); "make you" and
    "without" are the demo schema's phrases and stay text."""
    bare = KnowledgeGraph()
    for e in ENTITIES:
        bare.add_entity(e)
    for r in RELATIONS:
        bare.add_relation(r)
    cat = Catalog(kg=bare)
    q = rw.rewrite("a drug that treats headaches", catalog=cat)
    assert [(r.relation, r.object) for r in q.relations] == [("treats", "headache")]
    q = rw.rewrite("medicines that cause headaches", catalog=cat)
    assert [(r.relation, r.object) for r in q.relations] == [("causes", "headache")]
    q = rw.rewrite("an antihistamine that doesn't make you drowsy", catalog=cat)
    assert q.relations == []
    q = rw.rewrite("allergy medicine without drowsiness", catalog=cat)
    assert [e.text for e in q.exclusions] == ["drowsiness"]


def test_cue_with_nothing_after_is_reported(rw: RuleRewriter) -> None:
    q = rw.rewrite("everything about Rome, excluding")
    assert q.exclusions == []
    assert q.provenance.unresolved and "excluding" in q.provenance.unresolved[0]


def test_history_is_noted_not_used(rw: RuleRewriter) -> None:
    from rolecall import Message

    q = rw.rewrite("and without Moses?", history=[Message(role="user", content="Aaron")])
    assert any("history" in n for n in q.provenance.notes)
    assert [e.text for e in q.exclusions] == ["Moses"]


def test_titles_keep_their_leading_function_words() -> None:
    r = RuleRewriter()
    cases = {
        "liberalism (excluding On Liberty)": "On Liberty",
        "Dickens, excluding A Tale of Two Cities, in summary": "A Tale of Two Cities",
        "the Colosseum (excluding the structure itself)": "structure itself",
        "Stravinsky, but don't mention The Rite of Spring": "The Rite of Spring",
    }
    for text, excluded in cases.items():
        assert [e.text for e in r.rewrite(text).exclusions] == [excluded], text


def test_exclusion_spans_are_cleaned_to_what_is_named() -> None:
    r = RuleRewriter()
    cases = {
        # a relative lead-in: the excluded thing is the name after it
        "thought experiments other than those associated with Stefano Gualeni":
            "Stefano Gualeni",
        # a reflexive after a name is emphasis; after a common noun it carries the meaning
        "marches, excluding John Philip Sousa himself": "John Philip Sousa",
        "the Colosseum, excluding the city itself": "city itself",
        # a span cut inside a quotation loses its lone quote mark, not its words
        'themes in the accounts of "Caracalla" excluding the figure of "Caracalla"':
            "figure of Caracalla",
    }
    for text, excluded in cases.items():
        assert [e.text for e in r.rewrite(text).exclusions] == [excluded], text


@pytest.mark.parametrize("text, negated", [
    # a claim: the negation is inside its subject, or after its verb with no comma between
    ("Mice without IFN-γ or its receptor are resistant to EAM induced with α-MyHC/CFA.",
     ["IFN-γ"]),
    ("Patients without diabetes have a lower risk of stroke.", ["diabetes"]),
    ("Sudden death can occur in patients with hypertension without cardiac abnormalities.",
     ["cardiac abnormalities"]),
])
def test_a_statements_negation_is_its_content_not_an_exclusion(
    rw: RuleRewriter, text: str, negated: list[str]
) -> None:
    q = rw.rewrite(text)
    assert q.exclusions == [] and q.description == "" and q.keywords == []  # searched as typed
    assert any("read as part of a statement" in n for n in q.provenance.notes)  # and said so
    assert rw.negated_in_statement(text) == negated


@pytest.mark.parametrize("text, excluded", [
    ("recipes without nuts", "nuts"),  # no verb: a search, not a claim
    ("Which drugs are safe without drowsiness", "drowsiness"),  # a question
    ("Show me recipes that are quick without nuts", "nuts"),  # an imperative
    ("Can you find recipes without nuts?", "nuts"),
    ("The Hobbes essay is what I need, but not Leviathan", "Leviathan"),  # the user speaks
    ("Papers on jazz are good, but not bebop", "bebop"),  # an afterthought after a comma
])
def test_requests_phrased_like_statements_keep_their_exclusions(
    rw: RuleRewriter, text: str, excluded: str
) -> None:
    assert [e.text for e in rw.rewrite(text).exclusions] == [excluded]
    assert rw.negated_in_statement(text) == []


@pytest.mark.parametrize("text, excluded", [
    # a negated predicate of what is asked for is what to leave out
    ("Which text editors run on Linux but aren't Vim?", ["Vim"]),
    ("What causes slow builds that isn't caching?", ["caching"]),
    ("Which films won awards but are not related to the Cannes festival?", ["Cannes festival"]),
    ("What slows a laptop down but is unrelated to battery wear?", ["battery wear"]),
    ("Which build tools are fast that don't involve Gradle plugins?", ["Gradle plugins"]),
    ("Who directed westerns besides John Ford?", ["John Ford"]),
    ("Which bugs break the parser but aren't about Unicode or whitespace?",
     ["Unicode or whitespace"]),
])
def test_negated_predicates_of_a_request_are_exclusions(
    rw: RuleRewriter, text: str, excluded: list[str]
) -> None:
    assert [e.text for e in rw.rewrite(text).exclusions] == excluded


@pytest.mark.parametrize("text", [
    "Which languages were not named after a person?",  # a participle: a property asked for
    "Which databases are fast but are not directly comparable?",  # an adverb: a property
    "What are Rust, Go and Zig, which are not interpreted languages?",  # a description
    "Statin use is not associated with lower dementia risk.",  # a statement's content
    "Vitamin D supplements that are not related to bone density improve mood.",
])
def test_negated_properties_and_statements_are_not_exclusions(
    rw: RuleRewriter, text: str
) -> None:
    assert rw.rewrite(text).exclusions == []


def test_the_merge_drops_a_model_exclusion_of_what_a_statement_negates(rw: RuleRewriter) -> None:
    from rolecall.query import Exclusion, RoleQuery
    from rolecall.rewrite.merge import merge_explicit

    text = "Mice without IFN-γ or its receptor are resistant to EAM."
    model = RoleQuery(text=text, exclusions=[Exclusion(text="IFN-γ", entity=True),
                                             Exclusion(text="adjuvant")])
    merged = merge_explicit(model, text, [], Catalog(KnowledgeGraph()), rw)
    assert [e.text for e in merged.exclusions] == ["adjuvant"]  # only what the claim negates
    assert any("negated inside a statement" in n for n in merged.provenance.notes)
