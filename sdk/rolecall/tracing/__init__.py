"""OpenTelemetry spans for every search, stage, LLM call and agent run.

rolecall depends on `opentelemetry-api` only: with no SDK configured every span is a no-op
(nothing is computed for it, nothing is exported).  To see the spans, install the extra and
configure a provider as for any OpenTelemetry application:

```python
# pip install "rolecall[otel]"
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
trace.set_tracer_provider(provider)      # or rolecall.tracing.configure(tracer_provider=...)
```

One search is a tree (attribute names after the OpenInference conventions, so Phoenix and
other OpenInference viewers show them as a retriever, its chain and its LLM calls):

    rolecall.search            RETRIEVER  input.value = the query; rolecall.rewrite = the
                                          RoleQuery (JSON); retrieval.documents.N.document
                                          .id / .score; each leg's candidate count
      rolecall.rewrite         CHAIN      the rewriter, the RoleQuery; history: length only
        rolecall.llm           LLM        llm.model_name, llm.invocation_parameters,
                                          llm.token_count.prompt / .completion / .total
      rolecall.stage.ground    CHAIN      rolecall.grounding.links (value -> entity)
      rolecall.stage.restrict  ...        one span per stage, added stages included:
      rolecall.stage.lexical              rolecall.stage.ms, rolecall.stage.detail, what it
      rolecall.stage.dense                changed (rolecall.leg.<leg>.candidates / .ms,
      ...                                 rolecall.suppressed.ids, rolecall.demoted.ids)
      rolecall.stage.hits

An `Agent` run is a `rolecall.agent` span (AGENT) over its steps (`rolecall.agent.search`,
`.deepen`, `.relax`, `.verify`, `.judge`, ...), each over the searches and LLM calls it made.
A stage that raises leaves its exception on its span (and its ancestors') with error status.

**Privacy.** The query text and the rewrite are recorded (they are what a search trace is
for).  Never recorded: the API key, request headers or any other LLM client keyword (only
temperature, max_tokens, seed and the response format's type are), and key-like strings in
error messages are masked.  *Content* — the user's chat history, the LLM's prompt and reply
messages (which contain the history) and the retrieved documents' text — is off by default;
turn it on with `ROLECALL_TRACE_CONTENT=1` in the environment or
`rolecall.tracing.configure(record_content=True)` (which wins over the variable).
"""

from __future__ import annotations

from ._core import (
    DOCUMENT_CONTENT,
    DOCUMENT_ID,
    DOCUMENT_SCORE,
    INPUT_MIME_TYPE,
    INPUT_VALUE,
    KIND_AGENT,
    KIND_CHAIN,
    KIND_LLM,
    KIND_RETRIEVER,
    LLM_INPUT_MESSAGES,
    LLM_INVOCATION_PARAMETERS,
    LLM_MODEL_NAME,
    LLM_OUTPUT_MESSAGES,
    LLM_TOKEN_COUNT_COMPLETION,
    LLM_TOKEN_COUNT_PROMPT,
    LLM_TOKEN_COUNT_TOTAL,
    MESSAGE_CONTENT,
    MESSAGE_ROLE,
    MIME_JSON,
    MIME_TEXT,
    OUTPUT_MIME_TYPE,
    OUTPUT_VALUE,
    RETRIEVAL_DOCUMENTS,
    SPAN_KIND,
    configure,
    record_content,
    span,
)

__all__ = [
    "DOCUMENT_CONTENT",
    "DOCUMENT_ID",
    "DOCUMENT_SCORE",
    "INPUT_MIME_TYPE",
    "INPUT_VALUE",
    "KIND_AGENT",
    "KIND_CHAIN",
    "KIND_LLM",
    "KIND_RETRIEVER",
    "LLM_INPUT_MESSAGES",
    "LLM_INVOCATION_PARAMETERS",
    "LLM_MODEL_NAME",
    "LLM_OUTPUT_MESSAGES",
    "LLM_TOKEN_COUNT_COMPLETION",
    "LLM_TOKEN_COUNT_PROMPT",
    "LLM_TOKEN_COUNT_TOTAL",
    "MESSAGE_CONTENT",
    "MESSAGE_ROLE",
    "MIME_JSON",
    "MIME_TEXT",
    "OUTPUT_MIME_TYPE",
    "OUTPUT_VALUE",
    "RETRIEVAL_DOCUMENTS",
    "SPAN_KIND",
    "configure",
    "record_content",
    "span",
]
