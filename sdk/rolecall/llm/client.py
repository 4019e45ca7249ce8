"""`LLMClient`: one structured chat completion through litellm, retried and accounted for.

The rewriter and the judge share it, so both get the same guarantees:

* **Structured output**: native JSON-schema output where the provider has it, JSON mode with
  the schema for OpenAI-compatible local servers (llama.cpp enforces
  `{"type": "json_object", "schema": ...}`), or none (the caller extracts the JSON).
* **Retries** of transient failures only (timeouts, 429, 5xx, connection errors), with
  exponential backoff that honours `Retry-After`, bounded in attempts *and* total time.
* **Accounting**: `calls` counts requests sent (retries included) and `tokens` the tokens
  the provider reported, so callers can enforce and report a budget.

Every failure surfaces as `LLMCallError` with a one-line reason and typed fields (the HTTP
status, whether a retry could succeed, how many requests were sent); the caller decides
whether that degrades (fallback) or raises.

One client can serve several pieces (`LLMRewriter(client)`, `LLMJudge(client)`): one set of
settings and one count of calls and tokens.  `metered()` counts what one search spent even
when concurrent searches share the client.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from opentelemetry.trace import Span
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential,
)

from .._checks import check_integer, check_real
from ..errors import ConfigurationError, LLMCallError
from ..tracing.record import llm_span, record_llm_reply

__all__ = ["ClientSettings", "LLMCallError", "LLMClient", "Structured", "Usage", "as_client",
           "describe_failure"]

Structured = Literal["auto", "json_schema", "json_object", "none"]


class ClientSettings(TypedDict, total=False):
    """The keywords of `LLMClient` besides the model.  `LLMRewriter` and `LLMJudge` accept
    the same ones and pass them on, so there is one list of settings, documented once."""

    api_base: str | None
    api_key: str | None
    temperature: float
    seed: int | None
    max_tokens: int
    timeout: float
    max_retries: int
    max_retry_seconds: float
    structured: Structured
    extra_params: dict[str, Any] | None


@dataclass
class Usage:
    """Requests sent and tokens reported inside one `LLMClient.metered()` block."""

    calls: int = 0
    tokens: int = 0


#: The open `metered()` blocks of this context (thread or asyncio task), with their client.
_METERS: ContextVar[tuple[tuple[LLMClient, Usage], ...]] = ContextVar(
    "rolecall_llm_meters", default=()
)


def _litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


class LLMClient:
    """Settings for one model; `complete` / `acomplete` send one structured request.

    `model` / `api_base` default to `ROLECALL_MODEL` / `ROLECALL_API_BASE`.
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
        structured: Structured = "auto",
        extra_params: dict[str, Any] | None = None,
    ) -> None:
        model = model or os.environ.get("ROLECALL_MODEL")
        if not model:
            raise ConfigurationError(
                "no LLM model given: pass model='provider/model' or set ROLECALL_MODEL "
                "(and ROLECALL_API_BASE for a local server)"
            )
        check_real("temperature", temperature, 0.0, 2.0)
        check_integer("max_tokens", max_tokens, 1, 200_000)
        check_real("timeout", timeout, 0.001, 3_600.0)
        check_integer("max_retries", max_retries, 0, 100)
        check_real("max_retry_seconds", max_retry_seconds, 0.0, 3_600.0)
        self.model = model
        self.api_base = api_base or os.environ.get("ROLECALL_API_BASE") or None
        self.api_key = api_key
        self.temperature = temperature
        self.seed = seed
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_seconds = max_retry_seconds
        self.structured: Structured = structured
        self.extra_params = dict(extra_params or {})
        # litellm's first import takes seconds: paid here, at construction, so that it never
        # lands inside a search's time budget.
        _litellm()
        #: requests sent by this client (retries and repairs included)
        self.calls = 0
        #: total tokens the provider reported for those requests
        self.tokens = 0
        self._count_lock = threading.Lock()

    @contextmanager
    def metered(self) -> Iterator[Usage]:
        """Count this client's requests and tokens made inside the block, in this thread or
        asyncio task only: a client shared by concurrent searches charges each its own
        calls, which `calls`/`tokens` before and after cannot tell apart.  Worker threads
        started with `asyncio.to_thread` (which copies the context) count too."""
        usage = Usage()
        token = _METERS.set((*_METERS.get(), (self, usage)))
        try:
            yield usage
        finally:
            _METERS.reset(token)

    # -- requests ---------------------------------------------------------------------------------

    def params(
        self,
        messages: list[dict[str, str]],
        schema: dict[str, Any] | None = None,
        schema_name: str = "Reply",
        *,
        max_tokens: int | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": max_tokens or self.max_tokens,
            "timeout": timeout or self.timeout,
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
        rf = self.response_format(schema, schema_name) if schema is not None else None
        if rf is not None:
            params["response_format"] = rf
        params.update(self.extra_params)
        return params

    def response_format(self, schema: dict[str, Any], name: str) -> dict[str, Any] | None:
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
                "json_schema": {"name": name, "schema": schema, "strict": False},
            }
        if mode == "json_object":
            return {"type": "json_object", "schema": schema}
        return None

    def complete(self, messages: list[dict[str, str]], **kw: Any) -> str:
        """Send one request (see `params` for keywords); the reply's text.  `timeout` is the
        caller's deadline in seconds: per request and for all retries together (the first
        litellm import, seconds long, counts against it too)."""
        t0 = time.perf_counter()
        litellm = _litellm()
        kw = _charge_import(kw, t0)
        params = self.params(messages, **kw)  # outside the try: a bad argument is a TypeError
        attempts = 0
        with llm_span(self.model, params, self._secrets(params)) as span:
            try:
                for attempt in Retrying(**self._retrying(kw.get("timeout"))):
                    attempts = attempt.retry_state.attempt_number
                    with attempt:
                        return self._content(litellm.completion(**params), span, attempts)
            except Exception as exc:  # noqa: BLE001 - every provider failure becomes a reason
                raise self._failure(exc, attempts) from exc
            raise self._failure(None, attempts)  # pragma: no cover - tenacity always attempts

    async def acomplete(self, messages: list[dict[str, str]], **kw: Any) -> str:
        """`complete` on the event loop: litellm's async client, the same retries."""
        t0 = time.perf_counter()
        litellm = _litellm()
        kw = _charge_import(kw, t0)
        params = self.params(messages, **kw)
        attempts = 0
        with llm_span(self.model, params, self._secrets(params)) as span:
            try:
                async for attempt in AsyncRetrying(**self._retrying(kw.get("timeout"))):
                    attempts = attempt.retry_state.attempt_number
                    with attempt:
                        return self._content(
                            await litellm.acompletion(**params), span, attempts)
            except Exception as exc:  # noqa: BLE001 - every provider failure becomes a reason
                raise self._failure(exc, attempts) from exc
            raise self._failure(None, attempts)  # pragma: no cover

    # -- internals --------------------------------------------------------------------------------

    def _retrying(self, deadline: float | None) -> dict[str, Any]:
        """tenacity settings: transient errors only, exponential backoff that honours
        Retry-After, at most `max_retries` retries and never sleeping past the time budget
        (the smaller of `max_retry_seconds` and the caller's deadline)."""
        budget = self.max_retry_seconds if deadline is None else min(
            self.max_retry_seconds, deadline
        )

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            after = _retry_after(exc) if isinstance(exc, Exception) else None
            backoff = wait_exponential(multiplier=0.5, max=8.0)(state)
            return after if after is not None else backoff

        return {
            "retry": retry_if_exception(lambda e: isinstance(e, Exception) and _classify(e)[1]),
            "stop": stop_after_attempt(self.max_retries + 1) | stop_before_delay(budget),
            "wait": wait,
            "reraise": True,
            "before": lambda _state: self._count_call(),
        }

    def _failure(self, exc: Exception | None, attempts: int) -> LLMCallError:
        if exc is None:
            return LLMCallError("no attempt was made", model=self.model)
        status, transient = _classify(exc)
        return LLMCallError(
            _describe(exc, status), model=self.model, status_code=status, transient=transient,
            attempts=attempts,
        )

    def _count_call(self) -> None:
        self._count(calls=1)

    def _count(self, *, calls: int = 0, tokens: int = 0) -> None:
        with self._count_lock:
            self.calls += calls
            self.tokens += tokens
            for client, usage in _METERS.get():
                if client is self:
                    usage.calls += calls
                    usage.tokens += tokens

    def _content(self, resp: Any, span: Span, attempts: int) -> str:
        usage = getattr(resp, "usage", None)
        total = getattr(usage, "total_tokens", None) if usage is not None else None
        if isinstance(total, int):
            self._count(tokens=total)
        try:
            content = str(resp.choices[0].message.content or "")
        except (AttributeError, IndexError, KeyError):
            content = ""
        record_llm_reply(span, resp, content, attempts)
        return content

    def _secrets(self, params: dict[str, Any]) -> tuple[str | None, ...]:
        """What a span must never show, even inside an error message."""
        key = params.get("api_key")
        return (self.api_key, key if isinstance(key, str) else None)


def as_client(
    model: str | LLMClient | None,
    settings: ClientSettings,
    *,
    owner: str,
    defaults: ClientSettings | None = None,
) -> LLMClient:
    """The client a piece (`owner`, for messages) calls: `model` itself when it is an
    `LLMClient`, so several pieces share one; otherwise a new client for the model string
    with `settings` over the piece's `defaults`.  Settings given beside a ready client would
    be silently ignored, so they are refused."""
    if isinstance(model, LLMClient):
        if settings:
            names = ", ".join(sorted(settings))
            raise ConfigurationError(
                f"{owner} was given an LLMClient and client settings ({names}), which it "
                f"would ignore: set them on the client (LLMClient(model, {names}=...)) or "
                "pass the model string instead of the client"
            )
        return model
    if model is not None and not isinstance(model, str):
        raise ConfigurationError(
            f"{owner}'s model must be a 'provider/model' string or an LLMClient, got "
            f"{type(model).__name__}"
        )
    merged: ClientSettings = {**(defaults or {}), **settings}
    return LLMClient(model, **merged)


def describe_failure(exc: LLMCallError) -> str:
    """A failed call in one line for a plan: the reason, how many requests were sent and
    whether a retry later could succeed — from the typed fields, so no caller parses the
    reason."""
    requests = f"{exc.attempts} request{'' if exc.attempts == 1 else 's'}"
    return f"{exc.reason} ({requests}, {'transient' if exc.transient else 'not retryable'})"


def _charge_import(kw: dict[str, Any], t0: float) -> dict[str, Any]:
    if kw.get("timeout") is None:
        return kw
    return {**kw, "timeout": max(0.05, float(kw["timeout"]) - (time.perf_counter() - t0))}


def _no_reply_errors() -> tuple[type[BaseException], ...]:
    """Failures before any HTTP status came back: timeouts and connection errors, as litellm,
    the OpenAI SDK and httpx raise them (imported late: litellm's import is slow)."""
    import httpx
    import openai

    exceptions = _litellm().exceptions
    return (
        exceptions.Timeout, exceptions.APIConnectionError, openai.APIConnectionError,
        httpx.TransportError, ConnectionError, TimeoutError,
    )


def _transient_errors() -> tuple[type[BaseException], ...]:
    exceptions = _litellm().exceptions
    return (
        exceptions.RateLimitError, exceptions.InternalServerError,
        exceptions.ServiceUnavailableError, exceptions.BadGatewayError,
    )


def _classify(exc: Exception) -> tuple[int | None, bool]:
    """The provider's HTTP status (None when no reply came) and whether a retry could
    succeed.  litellm reports a refused connection as an `InternalServerError` with status
    500 that no server sent; the chain of causes says what happened."""
    no_reply = _no_reply_errors()
    cause: BaseException | None = exc
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, no_reply):
            return None, True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    status = getattr(exc, "status_code", None)
    if isinstance(status, bool) or not isinstance(status, int):
        status = None
    transient = isinstance(exc, _transient_errors()) or (
        status is not None and (status in (408, 429) or status >= 500)
    )
    return status, transient


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


def _describe(exc: Exception, status: int | None) -> str:
    message = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}{f' {status}' if status else ''}: {message}"
