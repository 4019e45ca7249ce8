"""rolecall as MCP tools: `rolecall mcp INDEX_OR_DSN` (install `pip install "rolecall[mcp]"`).

    from rolecall import Retriever
    from rolecall.mcp_server import serve
    serve(Retriever.open("idx"))                                   # stdio
    serve(Retriever.open("idx"), transport="http", port=8000, token="s3cret")

Tools: `search` (query, k, history → hits with their one-line why, and the plan's summary),
`explain_document` (query, doc_id → every constraint's verdict on that document) and
`rewrite` (query, history → the RoleQuery the search would run).  A bad argument or a
rolecall error is a tool error (`isError`) naming what to fix; the server keeps serving.
"""

from __future__ import annotations

from .auth import TOKEN_ENV
from .server import Transport, build_server, serve
from .tools import TOOLS, ToolOutcome, run_tool

__all__ = ["TOKEN_ENV", "TOOLS", "ToolOutcome", "Transport", "build_server", "run_tool", "serve"]
