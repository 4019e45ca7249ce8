"""Which model an extraction uses when none is given: as the rewriter picks (rewrite/auto.py)."""

from __future__ import annotations

import os

from ..llm.client import LLMClient

__all__ = ["model_from_env"]


def model_from_env(
    model: str | None = None, *, api_base: str | None = None, probe_local: bool = True
) -> tuple[LLMClient | None, str]:
    """The client to extract with (None: the lexical fallback) and a sentence saying why.

    An explicit `model` wins, then `ROLECALL_MODEL` (+ `ROLECALL_API_BASE`), then the local
    server if it answers; otherwise None, and the sentence says how to configure one.
    """
    if model:
        client = LLMClient(model, api_base=api_base)
        return client, f"LLM {client.model}" + (f" at {client.api_base}" if client.api_base
                                                 else "")
    if os.environ.get("ROLECALL_MODEL"):
        client = LLMClient(api_base=api_base)
        return client, f"LLM {client.model} (ROLECALL_MODEL)"
    if probe_local:
        from ..llm.local import server_is_up
        from ..rewrite.auto import LOCAL_ALIAS, local_api_base

        api = local_api_base()
        if server_is_up(api, timeout=0.5):
            return LLMClient(f"openai/{LOCAL_ALIAS}", api_base=api), f"local LLM at {api}"
    return None, ("no LLM configured (give --model, set ROLECALL_MODEL, or start the local one "
                  "with `rolecall llm serve`): lexical fallback, entities only")
