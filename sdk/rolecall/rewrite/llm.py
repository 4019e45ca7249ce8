"""`LLMRewriter`: the user's query (and chat history) → RoleQuery, through litellm.

Any provider litellm knows works by model string (`"gpt-4o-mini"`,
`"anthropic/claude-3-5-haiku-latest"`, `"openai/<alias>"` with `api_base` for an
OpenAI-compatible server such as the local llama.cpp one), or give a ready `LLMClient`
(`LLMRewriter(client)`) to share one client, its settings and its counts, with the judge.

What it guarantees to the host application:

* **Structured output** against the LLM-facing part of `RoleQuery` and **retries** of
  transient failures, bounded in attempts and time: both from `rolecall.llm.client`.
* **One repair round-trip** carrying the validation error when a reply does not validate;
  then the fallback rewriter (rules) takes over and the RoleQuery says why in
  `provenance.degraded`.  Nothing raises into the host unless `strict=True`.
* **Guards**: the query is fenced as data; a reply that answers the question instead of
  rewriting it fails validation; values the model produced that appear nowhere in the query
  or the conversation are reported as unresolved and not enforced.
* **Explicit cues win**: exclusions and roles stated with an explicit cue ("excluding X",
  "for Y", "doesn't cause Z") are parsed deterministically and merged over the model's
  reading (rewrite/merge.py), which small models get wrong most often; every override is
  noted in the plan.
* **Cache**: a persistent cache keyed on the normalised query, the history digest, the
  schema version, the model and the prompt hash; a hit makes no call.  Temperature 0 and a
  seed make recordings repeatable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import ValidationError

from ..errors import LLMError
from ..llm.client import ClientSettings, LLMCallError, LLMClient, as_client, describe_failure
from ..query import Provenance, RoleQuery
from .base import Catalog, Message, Rewriter
from .cache import RewriteCache, cache_key
from .merge import merge_explicit
from .prompts import LLMRewrite, build_messages, prompt_hash
from .rules import RuleRewriter

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["LLMRewriter", "is_follow_up"]

_FENCE_RE = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL)
_FOLLOW_UP_RE = re.compile(
    r"^\s*(?:and|but|also|or|what about|how about|only|just|same|instead|now|then|without|"
    r"except|excluding|not|no|which of|any of|ones?|those|these|they|them|it|that one|"
    r"and the|what if)\b",
    re.IGNORECASE,
)
_PRONOUN_RE = re.compile(r"\b(?:those|these|them|they|ones|it|its|that one|the same)\b", re.I)
_MAX_DESCRIPTION = 400
_SCHEMA = LLMRewrite.model_json_schema()


def is_follow_up(text: str) -> bool:
    """Whether a chat turn needs the conversation to be understood ("and without …?")."""
    words = text.split()
    return bool(_FOLLOW_UP_RE.search(text)) or (len(words) <= 6 and bool(_PRONOUN_RE.search(text)))


class _ReplyError(ValueError):
    """A reply that could not be turned into an LLMRewrite."""


class LLMRewriter:
    """Rewrite with an LLM through litellm; see the module docstring for the guarantees.

    `model` is a model string — with `LLMClient`'s keywords (`api_base`, `timeout`, …;
    `ClientSettings`) for the client made for it — or a ready `LLMClient`, which keeps its
    own settings (giving both is a `ConfigurationError`).  The model and `api_base` default
    to `ROLECALL_MODEL` / `ROLECALL_API_BASE`.  `cache=None` uses the default on-disk
    cache, `cache=False` disables caching.
    """

    def __init__(
        self,
        model: str | LLMClient | None = None,
        *,
        strict: bool = False,
        fallback: Rewriter | None = None,
        cache: RewriteCache | None | Literal[False] = None,
        cues: RuleRewriter | None | Literal[False] = None,
        **settings: Unpack[ClientSettings],
    ) -> None:
        #: the client every request goes through (shared when one was given)
        self.client: LLMClient = as_client(model, settings, owner="LLMRewriter")
        self.model = self.client.model
        self.api_base = self.client.api_base
        self.strict = strict
        self.fallback = fallback or RuleRewriter()
        self.cache: RewriteCache | None = (
            None if cache is False else (cache if cache is not None else RewriteCache())
        )
        #: explicit cues merged into the model's rewrite (see rewrite/merge.py); False: off
        self.cues: RuleRewriter | None = (
            None if cues is False else (cues if cues is not None else RuleRewriter())
        )
        self.name = f"llm:{self.model}"

    @property
    def calls(self) -> int:
        """Requests sent through this rewriter's client (retries and repairs included; with
        a shared client, the other pieces' requests too)."""
        return self.client.calls

    # -- public -----------------------------------------------------------------------------------

    def rewrite(
        self, text: str, *, history: Sequence[Message] = (), catalog: Catalog | None = None
    ) -> RoleQuery:
        job = self._prepare(text, history, catalog)
        if isinstance(job, RoleQuery):
            return job
        try:
            parsed = self._complete_and_parse(job.messages)
        except _Failure as failure:
            return self._fall_back(text, job, failure)
        return self._finish(text, job, parsed)

    async def arewrite(
        self, text: str, *, history: Sequence[Message] = (), catalog: Catalog | None = None
    ) -> RoleQuery:
        job = self._prepare(text, history, catalog)
        if isinstance(job, RoleQuery):
            return job
        try:
            parsed = await self._acomplete_and_parse(job.messages)
        except _Failure as failure:
            return self._fall_back(text, job, failure)
        return self._finish(text, job, parsed)

    # -- steps ------------------------------------------------------------------------------------

    def _prepare(
        self, text: str, history: Sequence[Message], catalog: Catalog | None
    ) -> _Job | RoleQuery:
        """Everything before the call; a cached RoleQuery when the cache has the answer."""
        catalog = catalog or Catalog()
        note = None
        if history and not is_follow_up(text):
            history, note = [], "standalone query: conversation not needed for the rewrite"
        history = list(history)
        key = cache_key(text, history, self.model, prompt_hash(catalog))
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                hit.provenance.notes.append("rewrite cache hit: no LLM call")
                return self._merge(hit, text, history, catalog)
        return _Job(history, catalog, key, note, build_messages(text, history, catalog))

    def _complete_and_parse(self, messages: list[dict[str, str]]) -> LLMRewrite:
        content = self._call(messages)
        try:
            return _parse(content)
        except _ReplyError as first:
            content2 = self._call(_repair(messages, content, first))
            try:
                return _parse(content2)
            except _ReplyError as second:
                raise _Failure(f"invalid reply after one repair: {second}") from second

    async def _acomplete_and_parse(self, messages: list[dict[str, str]]) -> LLMRewrite:
        content = await self._acall(messages)
        try:
            return _parse(content)
        except _ReplyError as first:
            content2 = await self._acall(_repair(messages, content, first))
            try:
                return _parse(content2)
            except _ReplyError as second:
                raise _Failure(f"invalid reply after one repair: {second}") from second

    def _call(self, messages: list[dict[str, str]]) -> str:
        try:
            return self.client.complete(messages, schema=_SCHEMA, schema_name="RoleQuery")
        except LLMCallError as exc:
            raise _Failure.of_call(exc) from exc

    async def _acall(self, messages: list[dict[str, str]]) -> str:
        try:
            return await self.client.acomplete(messages, schema=_SCHEMA, schema_name="RoleQuery")
        except LLMCallError as exc:
            raise _Failure.of_call(exc) from exc

    def _finish(self, text: str, job: _Job, parsed: LLMRewrite) -> RoleQuery:
        unresolved: list[str] = []
        notes: list[str] = [job.note] if job.note else []
        support = _support_tokens(text, job.history)
        kg = job.catalog.kg

        def admissible(value: str, what: str) -> bool:
            # Said by the user, or a catalog name the model inferred ("keep you awake" ->
            # insomnia); anything else is an invention and is not enforced.
            if _supported(value, support):
                return True
            if any(m in ("exact", "alias") for _, m, _ in kg.lookup(value)[:1]):
                notes.append(f"{what} {value!r} inferred by the model (a catalog name)")
                return True
            unresolved.append(f"{what} {value!r} is neither in the query nor in the catalog: "
                              "ignored")
            return False

        relations = [rc for rc in parsed.relations if admissible(rc.object, "relation object")]
        exclusions = [ex for ex in parsed.exclusions if admissible(ex.text, "exclusion")]
        description = parsed.description.strip()
        if len(description) > _MAX_DESCRIPTION:
            notes.append("description too long (the model may have answered): not used")
            description = ""
        rq = RoleQuery(
            text=text,
            target_type=parsed.target_type or None,
            relations=relations,
            exclusions=exclusions,
            filters=parsed.filters,
            keywords=[k for k in parsed.keywords if k.strip()][:20],
            description=description,
            provenance=Provenance(rewriter=self.name, unresolved=unresolved, notes=notes),
        )
        if self.cache is not None:
            self.cache.put(job.key, rq)  # the model's reading; the merge is re-applied on hits
        return self._merge(rq, text, job.history, job.catalog)

    def _merge(
        self, rq: RoleQuery, text: str, history: Sequence[Message], catalog: Catalog
    ) -> RoleQuery:
        if self.cues is None:
            return rq
        return merge_explicit(rq, text, history, catalog, self.cues)

    def _fall_back(self, text: str, job: _Job, failure: _Failure) -> RoleQuery:
        if self.strict:
            # Chained to the LLMCallError itself when there is one: its typed fields (status,
            # transient, attempts) are then one `__cause__` away.
            raise LLMError(f"LLM rewrite with {self.model} failed: {failure}") from (
                failure.call or failure
            )
        rq = self.fallback.rewrite(text, history=job.history, catalog=job.catalog)
        rq.provenance.degraded.append(
            f"LLM rewrite with {self.model} failed ({failure}); {self.fallback.name} rewriter used"
        )
        return rq


@dataclass
class _Job:
    """One rewrite between preparation and the call."""

    history: list[Message]
    catalog: Catalog
    key: str
    note: str | None
    messages: list[dict[str, str]]


class _NotAnObject(ValueError):
    pass


class _Failure(Exception):
    """The LLM could not produce a rewrite; carries the reason for the plan, and the failed
    call when it was the request (not the reply) that failed."""

    def __init__(self, reason: str, call: LLMCallError | None = None) -> None:
        super().__init__(reason)
        self.call = call

    @classmethod
    def of_call(cls, exc: LLMCallError) -> _Failure:
        return cls(describe_failure(exc), exc)


def _parse(content: str) -> LLMRewrite:
    text = content.strip()
    if not text:
        raise _ReplyError("empty reply")
    candidates = [text]
    candidates += _FENCE_RE.findall(text)
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    last: Exception | None = None
    for cand in candidates:
        try:
            data = json.loads(cand)
        except json.JSONDecodeError as exc:
            last = exc
            continue
        if not isinstance(data, dict):
            last = _NotAnObject("the reply is JSON but not an object")
            continue
        try:
            return LLMRewrite.model_validate(data)
        except ValidationError as exc:
            raise _ReplyError(_short_validation(exc)) from None
    if isinstance(last, _NotAnObject):
        raise _ReplyError(str(last))
    if "{" not in text:
        raise _ReplyError("the reply is prose, not JSON (did the model answer the question?)")
    raise _ReplyError(f"not valid JSON: {last}")


def _short_validation(exc: ValidationError) -> str:
    errs = exc.errors()[:3]
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errs)


def _repair(messages: list[dict[str, str]], content: str, error: Exception) -> list[dict[str, str]]:
    return [
        *messages,
        {"role": "assistant", "content": content[:2000]},
        {"role": "user", "content": f"That reply is invalid: {error}. Reply with only the "
                                    "corrected JSON object, no other text."},
    ]


_WORD_RE = re.compile(r"[\w]+", re.UNICODE)


def _support_tokens(text: str, history: Sequence[Message]) -> set[str]:
    words = _WORD_RE.findall(" ".join([text, *(m.content for m in history)]).casefold())
    return {w[:5] for w in words if len(w) > 2}


def _supported(value: str, support: set[str]) -> bool:
    """A value is supported when one of its content words (by 5-letter stem) was said."""
    words = [w[:5] for w in _WORD_RE.findall(value.casefold()) if len(w) > 2]
    return not words or any(w in support for w in words)
