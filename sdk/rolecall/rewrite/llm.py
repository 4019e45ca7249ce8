"""`LLMRewriter`: the user's query (and chat history) → RoleQuery, through litellm.

Any provider litellm knows works by model string (`"gpt-4o-mini"`,
`"anthropic/claude-3-5-haiku-latest"`, `"openai/<alias>"` with `api_base` for an
OpenAI-compatible server such as the local llama.cpp one).

What it guarantees to the host application:

* **Structured output** against the LLM-facing part of `RoleQuery`: native JSON-schema
  output where the provider has it, JSON mode with the schema where the server enforces it
  (llama.cpp's `{"type": "json_object", "schema": ...}`), and tolerant extraction of fenced
  JSON as the last resort.
* **Retries** of transient failures (timeouts, 429, 5xx, connection errors) with exponential
  backoff that honours `Retry-After`, bounded in attempts *and* total time.
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
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential,
)

from ..errors import InvalidQueryError, LLMError
from ..query import Provenance, RoleQuery
from .base import Catalog, Message, Rewriter
from .cache import RewriteCache, cache_key
from .merge import merge_explicit
from .prompts import LLMRewrite, build_messages, prompt_hash
from .rules import RuleRewriter

__all__ = ["LLMRewriter", "is_follow_up"]

Structured = Literal["auto", "json_schema", "json_object", "none"]

_FENCE_RE = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL)
_FOLLOW_UP_RE = re.compile(
    r"^\s*(?:and|but|also|or|what about|how about|only|just|same|instead|now|then|without|"
    r"except|excluding|not|no|which of|any of|ones?|those|these|they|them|it|that one|"
    r"and the|what if)\b",
    re.IGNORECASE,
)
_PRONOUN_RE = re.compile(r"\b(?:those|these|them|they|ones|it|its|that one|the same)\b", re.I)
_MAX_DESCRIPTION = 400


def is_follow_up(text: str) -> bool:
    """Whether a chat turn needs the conversation to be understood ("and without …?")."""
    words = text.split()
    return bool(_FOLLOW_UP_RE.search(text)) or (len(words) <= 6 and bool(_PRONOUN_RE.search(text)))


def _litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


class _ReplyError(ValueError):
    """A reply that could not be turned into an LLMRewrite."""


class LLMRewriter:
    """Rewrite with an LLM through litellm; see the module docstring for the guarantees.

    `model` / `api_base` default to `ROLECALL_MODEL` / `ROLECALL_API_BASE`.  `cache=None`
    uses the default on-disk cache, `cache=False` disables caching.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        temperature: float = 0.0,
        seed: int | None = 0,
        max_tokens: int = 400,
        timeout: float = 60.0,
        max_retries: int = 3,
        max_retry_seconds: float = 30.0,
        strict: bool = False,
        fallback: Rewriter | None = None,
        cache: RewriteCache | None | Literal[False] = None,
        structured: Structured = "auto",
        cues: RuleRewriter | None | Literal[False] = None,
        extra_params: dict[str, Any] | None = None,
    ) -> None:
        model = model or os.environ.get("ROLECALL_MODEL")
        if not model:
            raise InvalidQueryError(
                "no LLM model given: pass LLMRewriter(model='provider/model') or set "
                "ROLECALL_MODEL (and ROLECALL_API_BASE for a local server)"
            )
        self.model = model
        self.api_base = api_base or os.environ.get("ROLECALL_API_BASE") or None
        self.api_key = api_key
        self.temperature = temperature
        self.seed = seed
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_seconds = max_retry_seconds
        self.strict = strict
        self.fallback = fallback or RuleRewriter()
        self.cache: RewriteCache | None = (
            None if cache is False else (cache if cache is not None else RewriteCache())
        )
        self.structured: Structured = structured
        #: explicit cues merged into the model's rewrite (see rewrite/merge.py); False: off
        self.cues: RuleRewriter | None = (
            None if cues is False else (cues if cues is not None else RuleRewriter())
        )
        self.extra_params = dict(extra_params or {})
        self.name = f"llm:{model}"
        #: calls made to the provider by this instance (retries and repairs included)
        self.calls = 0

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

    def _params(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "timeout": self.timeout,
            "num_retries": 0,  # retries are ours: bounded and Retry-After aware
        }
        if self.seed is not None:
            params["seed"] = self.seed
        if self.api_base:
            params["api_base"] = self.api_base
            # OpenAI-compatible local servers need *a* key; they ignore its value.
            params["api_key"] = self.api_key or os.environ.get("ROLECALL_API_KEY") or "sk-local"
        elif self.api_key:
            params["api_key"] = self.api_key
        rf = self._response_format()
        if rf is not None:
            params["response_format"] = rf
        params.update(self.extra_params)
        return params

    def _response_format(self) -> dict[str, Any] | None:
        schema = LLMRewrite.model_json_schema()
        mode = self.structured
        if mode == "auto":
            if self.api_base and self.model.startswith("openai/"):
                mode = "json_object"  # llama.cpp & co. enforce a schema given this way
            else:
                try:
                    native = bool(_litellm().supports_response_schema(model=self.model))
                except Exception:  # noqa: BLE001 - unknown model: no native support
                    native = False
                mode = "json_schema" if native else "none"
        if mode == "json_schema":
            return {
                "type": "json_schema",
                "json_schema": {"name": "RoleQuery", "schema": schema, "strict": False},
            }
        if mode == "json_object":
            return {"type": "json_object", "schema": schema}
        return None

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

    def _retrying(self) -> dict[str, Any]:
        """tenacity settings: transient errors only, exponential backoff that honours
        Retry-After, at most `max_retries` retries and never sleeping past the time budget."""
        budget = self.max_retry_seconds

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            after = _retry_after(exc) if isinstance(exc, Exception) else None
            backoff = wait_exponential(multiplier=0.5, max=8.0)(state)
            return after if after is not None else backoff

        return {
            "retry": retry_if_exception(lambda e: isinstance(e, Exception) and _is_transient(e)),
            "stop": stop_after_attempt(self.max_retries + 1) | stop_before_delay(budget),
            "wait": wait,
            "reraise": True,
            "before": lambda _state: self._count_call(),
        }

    def _count_call(self) -> None:
        self.calls += 1

    def _call(self, messages: list[dict[str, str]]) -> str:
        litellm = _litellm()
        try:
            for attempt in Retrying(**self._retrying()):
                with attempt:
                    return _content(litellm.completion(**self._params(messages)))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a fallback reason
            raise _Failure(_describe(exc)) from exc
        raise _Failure("no attempt was made")  # pragma: no cover - tenacity always attempts

    async def _acall(self, messages: list[dict[str, str]]) -> str:
        litellm = _litellm()
        try:
            async for attempt in AsyncRetrying(**self._retrying()):
                with attempt:
                    return _content(await litellm.acompletion(**self._params(messages)))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a fallback reason
            raise _Failure(_describe(exc)) from exc
        raise _Failure("no attempt was made")  # pragma: no cover

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
            raise LLMError(f"LLM rewrite with {self.model} failed: {failure}") from failure
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
    """The LLM could not produce a rewrite; carries the reason for the plan."""


def _content(resp: Any) -> str:
    try:
        content = resp.choices[0].message.content
    except (AttributeError, IndexError, KeyError):
        raise _ReplyError("the provider returned no message") from None
    return str(content or "")


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


def _is_transient(exc: Exception) -> bool:
    name = type(exc).__name__
    if name in {"Timeout", "APITimeoutError", "RateLimitError", "InternalServerError",
                "ServiceUnavailableError", "APIConnectionError", "BadGatewayError",
                "ConnectionError", "ReadTimeout", "ConnectTimeout"}:
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status == 429 or status >= 500)


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        value = headers.get("retry-after") or headers.get("Retry-After")
    except AttributeError:
        return None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    message = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}{f' {status}' if status else ''}: {message}"
