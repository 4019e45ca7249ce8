"""The tracer, the content switch, the attribute names and the one span helper.

The names are OpenInference's (`openinference.semconv.trace`), spelled out here because that
package is only in the `otel` extra; `tests/test_tracing.py` checks that they match it.
"""

from __future__ import annotations

import os
import re
import traceback
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Final

from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, Span, Status, StatusCode, Tracer, TracerProvider
from opentelemetry.util.types import AttributeValue

# -- OpenInference attribute names and values ---------------------------------------------------

SPAN_KIND: Final = "openinference.span.kind"
INPUT_VALUE: Final = "input.value"
INPUT_MIME_TYPE: Final = "input.mime_type"
OUTPUT_VALUE: Final = "output.value"
OUTPUT_MIME_TYPE: Final = "output.mime_type"
RETRIEVAL_DOCUMENTS: Final = "retrieval.documents"
DOCUMENT_ID: Final = "document.id"
DOCUMENT_SCORE: Final = "document.score"
DOCUMENT_CONTENT: Final = "document.content"
LLM_MODEL_NAME: Final = "llm.model_name"
LLM_INVOCATION_PARAMETERS: Final = "llm.invocation_parameters"
LLM_TOKEN_COUNT_PROMPT: Final = "llm.token_count.prompt"
LLM_TOKEN_COUNT_COMPLETION: Final = "llm.token_count.completion"
LLM_TOKEN_COUNT_TOTAL: Final = "llm.token_count.total"
LLM_INPUT_MESSAGES: Final = "llm.input_messages"
LLM_OUTPUT_MESSAGES: Final = "llm.output_messages"
MESSAGE_ROLE: Final = "message.role"
MESSAGE_CONTENT: Final = "message.content"

KIND_RETRIEVER: Final = "RETRIEVER"
KIND_CHAIN: Final = "CHAIN"
KIND_LLM: Final = "LLM"
KIND_AGENT: Final = "AGENT"
MIME_JSON: Final = "application/json"
MIME_TEXT: Final = "text/plain"

CONTENT_ENV: Final = "ROLECALL_TRACE_CONTENT"

# -- configuration ------------------------------------------------------------------------------


class _Unset:
    pass


_UNSET: Final = _Unset()


@dataclass
class _Config:
    #: None: the global provider (`trace.set_tracer_provider`), looked up at each span so
    #: that a provider set after rolecall's import is used
    provider: TracerProvider | None = None
    #: None: `ROLECALL_TRACE_CONTENT` decides
    content: bool | None = None
    #: one tracer per provider (`get_tracer` builds a new object each call)
    tracers: dict[int, tuple[TracerProvider, Tracer]] = field(default_factory=dict)


_CONFIG = _Config()


def configure(
    *,
    record_content: bool | None | _Unset = _UNSET,
    tracer_provider: TracerProvider | None | _Unset = _UNSET,
) -> None:
    """Set what rolecall's spans record (only the keywords given change).

    `record_content`: record the chat history, the LLM's prompt and reply messages and the
    retrieved documents' text (default False: None goes back to `ROLECALL_TRACE_CONTENT`).
    `tracer_provider`: the provider rolecall's spans go to instead of the global one
    (None goes back to the global one)."""
    if not isinstance(record_content, _Unset):
        _CONFIG.content = record_content
    if not isinstance(tracer_provider, _Unset):
        _CONFIG.provider = tracer_provider


def record_content() -> bool:
    """Whether spans record content (history, LLM messages, document text)."""
    if _CONFIG.content is not None:
        return _CONFIG.content
    return os.environ.get(CONTENT_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _tracer() -> Tracer | None:
    """rolecall's tracer, or None when no SDK is configured: the default proxy provider would
    only hand out non-recording spans, and skipping them keeps a search's cost unchanged."""
    provider = _CONFIG.provider or trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider):
        return None
    cached = _CONFIG.tracers.get(id(provider))
    if cached is not None and cached[0] is provider:
        return cached[1]
    tracer = provider.get_tracer("rolecall", _version())
    _CONFIG.tracers[id(provider)] = (provider, tracer)
    return tracer


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rolecall")
    except PackageNotFoundError:  # run from a source tree
        return "0"


# -- spans --------------------------------------------------------------------------------------


#: What `span` gives without an SDK: the invalid span, no context change (reusable).
_NO_SPAN: Final = nullcontext(INVALID_SPAN)


def span(
    name: str,
    kind: str,
    attributes: Mapping[str, AttributeValue] | None = None,
    *,
    secrets: tuple[str | None, ...] = (),
) -> AbstractContextManager[Span]:
    """A child span of the current one, current inside the block.  Without an SDK it is the
    invalid span (`is_recording()` False): callers compute attributes only when recording.
    An exception leaving the block is recorded with error status, its message masked of
    key-like strings and of `secrets`."""
    tracer = _tracer()
    if tracer is None:
        return _NO_SPAN
    return _recording(tracer, name, {SPAN_KIND: kind, **(attributes or {})}, secrets)


@contextmanager
def _recording(
    tracer: Tracer, name: str, attributes: dict[str, AttributeValue],
    secrets: tuple[str | None, ...],
) -> Iterator[Span]:
    with tracer.start_as_current_span(
        name, attributes=attributes, record_exception=False, set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except Exception as exc:
            _record_error(current, exc, secrets)
            raise


def _record_error(current: Span, exc: Exception, secrets: tuple[str | None, ...]) -> None:
    # The SDK's own record_exception writes str(exc) as is: a provider's error can quote
    # the request, key included.
    message = mask(str(exc), secrets)
    current.add_event("exception", {
        "exception.type": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "exception.message": message,
        "exception.stacktrace": mask("".join(traceback.format_exception(exc)), secrets),
        "exception.escaped": True,
    })
    current.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"))


_KEY_RE = re.compile(r"(sk-[A-Za-z0-9_\-]{8,}|AIza[0-9A-Za-z_\-]{20,}|Bearer\s+\S+)")


def mask(text: str, secrets: tuple[str | None, ...] = ()) -> str:
    """`text` with API-key-like strings and the given secrets replaced."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "<masked>")
    return _KEY_RE.sub("<masked>", text)
