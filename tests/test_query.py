import json

import pytest
import rolecall
from pydantic import ValidationError
from rolecall import SCHEMA_VERSION, Exclusion, Polarity, RelationConstraint, RoleQuery


def test_schema_is_json_and_documented_field_by_field() -> None:
    schema = RoleQuery.model_json_schema()
    json.dumps(schema)
    props = schema["properties"]
    for name in ("text", "target_type", "relations", "exclusions", "filters", "keywords",
                 "description", "provenance", "schema_version"):
        assert props[name].get("description"), name
    rc = schema["$defs"]["RelationConstraint"]["properties"]
    assert {"relation", "object", "direction", "polarity", "max_hops"} <= set(rc)


def test_round_trip_and_version() -> None:
    q = RoleQuery(
        text="a drug that treats headaches",
        target_type="drug",
        relations=[RelationConstraint(relation="treats", object="headache")],
        exclusions=[Exclusion(text="aspirin", entity=True)],
    )
    again = RoleQuery.model_validate_json(q.model_dump_json())
    assert again == q
    assert again.schema_version == SCHEMA_VERSION == 1
    assert again.relations[0].polarity is Polarity.MUST


@pytest.mark.parametrize("bad", [
    {"text": "   "},
    {"text": "x", "schema_version": 2},
    {"text": "x", "relations": [{"relation": "treats", "object": "a", "polarity": "maybe"}]},
    {"text": "x", "unknown_field": 1},
    {"text": "x", "relations": [{"relation": "treats", "object": "a", "max_hops": 9}]},
])
def test_invalid_models_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RoleQuery.model_validate(bad)


def test_embed_and_lexical_text_fall_back_to_the_original() -> None:
    q = RoleQuery.plain("hello world")
    assert q.embed_text == "hello world" and q.lexical_text == "hello world"
    q2 = RoleQuery(text="t", description="d", keywords=["k1", "k2"])
    assert q2.embed_text == "d" and q2.lexical_text == "k1 k2"


def test_public_api_is_flat_and_complete() -> None:
    for name in rolecall.__all__:
        assert hasattr(rolecall, name), name
    assert {"Retriever", "Document", "KnowledgeGraph", "RoleQuery", "SearchResult"} <= set(
        rolecall.__all__
    )
