"""A Haystack pipeline whose retriever is rolecall: a small index, the retriever component,
a prompt builder that lists each source with why it qualifies, and the pipeline saved to
YAML and loaded back.

    .venv/bin/python examples/haystack_pipeline.py [INDEX_DIR]      # needs rolecall[haystack]
"""

from __future__ import annotations

import sys
import tempfile

from haystack import Pipeline
from haystack.components.builders import PromptBuilder
from rolecall import Document, Entity, KnowledgeGraph, Relation, RelationType, Retriever
from rolecall_haystack import RolecallRetriever

QUESTION = "allergy tablets that don't make you drowsy"

TEMPLATE = """Answer from the numbered sources only and cite them like [1].
{% for doc in documents %}[{{ loop.index }}] {{ doc.meta.title }}: {{ doc.content }}
    why: {{ doc.meta.why }} (score {{ "%.2f" | format(doc.score) }})
{% endfor %}
Question: {{ question }}"""


def build_index(path: str) -> None:
    """Four drug leaflets and the graph that says which drug treats or causes what."""
    kg = KnowledgeGraph()
    kg.declare_relation(RelationType(name="treats", subject_type="drug", object_type="symptom",
                                     cues=["treats", "for"], suffix_cues=["tablets"]))
    kg.declare_relation(RelationType(name="causes", subject_type="drug", object_type="symptom",
                                     cues=["causes", "make you"], absence=True))
    for eid, etype, aliases in [("drug", "type", ["drugs"]), ("allergy", "symptom", ["hay fever"]),
                                ("drowsiness", "symptom", ["drowsy", "sleepy"]),
                                ("nausea", "symptom", []), ("sleepyhist", "drug", []),
                                ("clearhist", "drug", []), ("calmtum", "drug", [])]:
        kg.add_entity(Entity(id=eid, name=eid.capitalize(), type=etype, aliases=aliases))
    for s, rel, o in [("sleepyhist", "treats", "allergy"), ("sleepyhist", "causes", "drowsiness"),
                      ("clearhist", "treats", "allergy"), ("calmtum", "treats", "nausea"),
                      ("calmtum", "causes", "drowsiness")]:
        kg.add_relation(Relation(subject=s, relation=rel, object=o))
    leaflets = [
        ("sleepyhist", "Sleepyhist", "Sleepyhist tablets relieve hay fever and allergies. "
         "Most people feel drowsy; do not drive."),
        ("clearhist", "Clearhist", "Clearhist is an antihistamine for allergies that does "
         "not pass into the brain."),
        ("calmtum", "Calmtum", "Calmtum settles nausea and travel sickness; it can make you "
         "sleepy."),
        ("allergy-guide", "Allergy guide", "Hay fever is an allergy to pollen. Antihistamine "
         "tablets help; some make you drowsy."),
    ]
    # `entities` links a leaflet to its drug in the graph; the guide is about no one drug.
    docs = [Document(id=i, title=t, text=x,
                     metadata={"entities": [i]} if i in kg.entities else {})
            for i, t, x in leaflets]
    Retriever.build(path, docs, kg=kg, progress=False)


def main(path: str) -> None:
    build_index(path)
    pipe = Pipeline()
    # Given as a path (not a ready Retriever), the component can be written to YAML.
    pipe.add_component("retriever", RolecallRetriever(index=path, top_k=3))
    pipe.add_component("prompt", PromptBuilder(TEMPLATE, required_variables=["documents",
                                                                            "question"]))
    pipe.connect("retriever.documents", "prompt.documents")
    out = pipe.run({"retriever": {"query": QUESTION}, "prompt": {"question": QUESTION}})
    # Connect the prompt to any Haystack generator to answer; this is what it would read.
    print(out["prompt"]["prompt"])

    # Haystack loads only modules it is told to trust.
    loaded = Pipeline.loads(pipe.dumps(), allowed_modules=["rolecall_haystack"])
    again = loaded.run({"retriever": {"query": QUESTION}, "prompt": {"question": QUESTION}})
    print("\nreloaded from YAML, same prompt:", again == out)
    pipe.close()
    loaded.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="rolecall-") + "/index")
