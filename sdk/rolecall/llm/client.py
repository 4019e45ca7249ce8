"""`LLMClient`: one structured chat completion through litellm, retried and accounted for.

The rewriter and the judge share it, so both get the same guarantees:

* **Structured output**: native JSON-schema output where the provider has it, JSON mode with
  the schema for OpenAI-compatible local servers (llama.cpp enforces
  `{"type": "json_object", "schema": ...}`), or none (the caller extracts the JSON).
* **Retries** of transient failures only (timeouts, 429, 5xx, connection errors), with
  exponential backoff that honours `Retry-After`, bounded in attempts *and* total time.
* **Accounting**: `calls` counts requests sent (retries included) and `tokens` the tokens
  the provider reported, so callers can enforce and report a budget.

Every failure surfaces as `LLMCallError` with a one-line reason; the caller decides whether
that degrades (fallback) or raises.
"""

from __future__ import annotations

import os
import time
from typing import Any, Literal

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
from ..errors import InvalidQueryError, LLMCallError

__all__ = ["LLMCallError", "LLMClient", "Structured"]

Structured = Literal["auto", "json_schema", "json_object", "none"]


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
            raise InvalidQueryError(
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

    # -- requests ---------------------------------------------------------------------------------

    def params(
        self,
        messages: list[dict[str, str]],
        schema: dict[str, Any] | None,
        schema_name: str,
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
        try:
            for attempt in Retrying(**self._retrying(kw.get("timeout"))):
                with attempt:
                    return self._content(litellm.completion(**self.params(messages, **kw)))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a reason
            raise LLMCallError(_describe(exc)) from exc
        raise LLMCallError("no attempt was made")  # pragma: no cover - tenacity always attempts

    async def acomplete(self, messages: list[dict[str, str]], **kw: Any) -> str:
        t0 = time.perf_counter()
        litellm = _litellm()
        kw = _charge_import(kw, t0)
        try:
            async for attempt in AsyncRetrying(**self._retrying(kw.get("timeout"))):
                with attempt:
                    resp = await litellm.acompletion(**self.params(messages, **kw))
                    return self._content(resp)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a reason
            raise LLMCallError(_describe(exc)) from exc
        raise LLMCallError("no attempt was made")  # pragma: no cover

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
            "retry": retry_if_exception(lambda e: isinstance(e, Exception) and _is_transient(e)),
            "stop": stop_after_attempt(self.max_retries + 1) | stop_before_delay(budget),
            "wait": wait,
            "reraise": True,
            "before": lambda _state: self._count_call(),
        }

    def _count_call(self) -> None:
        self.calls += 1

    def _content(self, resp: Any) -> str:
        usage = getattr(resp, "usage", None)
        total = getattr(usage, "total_tokens", None) if usage is not None else None
        if isinstance(total, int):
            self.tokens += total
        try:
            content = resp.choices[0].message.content
        except (AttributeError, IndexError, KeyError):
            return ""
        return str(content or "")


def _charge_import(kw: dict[str, Any], t0: float) -> dict[str, Any]:
    if kw.get("timeout") is None:
        return kw
    return {**kw, "timeout": max(0.05, float(kw["timeout"]) - (time.perf_counter() - t0))}


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
