"""The graph verdict in SQL: is-a closure and k-hop relation reach as recursive CTEs.

Mirrors `rolecall.KnowledgeGraph.evaluate` step for step, so the same query allows and
blocks the same documents on both backends:

* candidates are the entities documents are about, of the wanted type when one is asked
  (the entity is the type, is a kind of it, or its type is a kind of it);
* `holds(e, relation, o)`: some entity reachable from `e` *or any of its is-a ancestors* by
  1..max_hops edges of that relation (backwards for object-role constraints) is `o` or a kind
  of `o`;
* allowed = documents about candidates for which every must-constraint holds; blocked =
  documents about candidates for which a must-not constraint holds, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable

from rolecall import Direction, RelationConstraint
from rolecall.backends import GraphVerdict, split_constraints, verdict_of

from ._db import Database

__all__ = ["graph_verdict"]

_ABOUT_ENTITIES = """
SELECT DISTINCT a.entity FROM rc_about a JOIN rc_entities e ON e.id = a.entity"""

_OF_TYPE = """
WITH RECURSIVE kinds(id) AS (
    SELECT %(type)s::text
    UNION SELECT i.child FROM rc_isa i JOIN kinds k ON i.parent = k.id)
SELECT DISTINCT a.entity FROM rc_about a JOIN rc_entities e ON e.id = a.entity
WHERE e.id IN (SELECT id FROM kinds) OR e.type IN (SELECT id FROM kinds)"""


def _holders_sql(near: str, far: str) -> str:
    # `near`/`far` are the two constant column names of rc_edges, never user input.
    return f"""
WITH RECURSIVE
  start(e, n) AS (
    SELECT c, c FROM unnest(%(cands)s::text[]) AS c
    UNION SELECT s.e, i.parent FROM start s JOIN rc_isa i ON i.child = s.n),
  walk(e, n, hops) AS (
    SELECT s.e, x.{far}, 1 FROM start s
      JOIN rc_edges x ON x.{near} = s.n AND x.relation = %(rel)s
    UNION
    SELECT w.e, x.{far}, w.hops + 1 FROM walk w
      JOIN rc_edges x ON x.{near} = w.n AND x.relation = %(rel)s
      WHERE w.hops < %(hops)s),
  targets(n) AS (
    SELECT %(obj)s::text
    UNION SELECT i.child FROM rc_isa i JOIN targets t ON i.parent = t.n)
SELECT DISTINCT w.e FROM walk w JOIN targets t ON t.n = w.n"""


_HOLDERS = {
    Direction.SUBJECT: _holders_sql("subject", "object"),
    Direction.OBJECT: _holders_sql("object", "subject"),
}


def _holders(db: Database, cands: list[str], rc: RelationConstraint, obj: str) -> set[str]:
    if not cands:
        return set()
    rows = db.rows(
        _HOLDERS[rc.direction],
        {"cands": cands, "rel": rc.relation, "hops": rc.max_hops, "obj": obj},
    )
    return {r[0] for r in rows}


def _docs(db: Database, entities: list[str]) -> list[tuple[str, list[int]]]:
    """(entity, ordinals of the documents about it), by entity id; one row per entity."""
    if not entities:
        return []
    return [(e, list(ords)) for e, ords in db.rows(
        "SELECT entity, array_agg(ord ORDER BY ord) FROM rc_about WHERE entity = ANY(%s) "
        "GROUP BY entity ORDER BY entity", (entities,), binary=True,
    )]


def graph_verdict(
    db: Database, target_type: str | None, relations: list[tuple[RelationConstraint, str]]
) -> GraphVerdict:
    musts, nots, constraints = split_constraints(target_type, relations)
    if not constraints:
        return GraphVerdict(allowed=None, blocked={}, constraints=[])
    if target_type:
        cands = sorted(r[0] for r in db.rows(_OF_TYPE, {"type": target_type}))
    else:
        cands = sorted(r[0] for r in db.rows(_ABOUT_ENTITIES))
    good = list(cands)
    for rc, o in musts:
        good = sorted(_holders(db, good, rc, o))
    allowed = (frozenset(d for _, ords in _docs(db, good) for d in ords)
               if target_type or musts else None)
    blocking: list[tuple[str, Iterable[int]]] = [
        (f"{e} {rc.relation} {o}", ords)
        for rc, o in nots for e, ords in _docs(db, sorted(_holders(db, cands, rc, o)))
    ]
    return verdict_of(allowed, blocking, constraints)
