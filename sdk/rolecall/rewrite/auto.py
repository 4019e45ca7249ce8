"""Choosing a rewriter from the environment: a configured LLM, the local one, or the rules."""

from __future__ import annotations

import os

from .base import Rewriter
from .rules import RuleRewriter

__all__ = ["LOCAL_ALIAS", "local_api_base", "rewriter_from_env"]

LOCAL_ALIAS = "qwen2.5-coder-1.5b"
DEFAULT_LOCAL_PORT = 8765


def local_api_base() -> str:
    """Where `rolecall llm serve` listens (`ROLECALL_LLM_PORT`, default 8765)."""
    port = os.environ.get("ROLECALL_LLM_PORT", str(DEFAULT_LOCAL_PORT))
    return f"http://127.0.0.1:{port}/v1"


def rewriter_from_env(*, probe_local: bool = True) -> tuple[Rewriter, str]:
    """The rewriter to use and a sentence saying which and why.

    `ROLECALL_MODEL` (+ `ROLECALL_API_BASE`) wins; else the local server if it answers; else
    the rule rewriter — and the sentence says so, so nobody mistakes rules for the LLM.
    """
    from .llm import LLMRewriter

    if os.environ.get("ROLECALL_MODEL"):
        rw = LLMRewriter()
        return rw, f"LLM rewriter {rw.model} (ROLECALL_MODEL), rules as fallback"
    if probe_local:
        from ..llm.local import server_is_up

        api = local_api_base()
        if server_is_up(api, timeout=0.5):
            return (
                LLMRewriter(f"openai/{LOCAL_ALIAS}", api_base=api),
                f"local LLM rewriter at {api}, rules as fallback",
            )
    return RuleRewriter(), (
        "rule rewriter (no LLM configured: set ROLECALL_MODEL, or start the local one with "
        "`make llm`)"
    )
