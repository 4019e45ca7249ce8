"""The MCP server over a `Retriever`: its tools listed and called, on stdio or HTTP.

Built on the SDK's low-level `Server` rather than `MCPServer`: the input schema a client
sees and the model a call is validated against are then one pydantic model per tool
(`tools.py`), and a bad argument comes back as a tool error in rolecall's words.
"""

from __future__ import annotations

import sys
from importlib.metadata import version
from typing import Any, Literal

from .. import __version__
from ..errors import MissingDependencyError, RolecallError
from ..retriever import Retriever
from .auth import BearerTokenMiddleware, check_exposure
from .tools import TOOLS, ToolOutcome, ToolSpec, run_tool

try:
    import anyio
    from mcp import types
    from mcp.server import Server, ServerRequestContext
    from mcp.server.stdio import stdio_server
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("mcp", "mcp") from exc

if int(version("mcp").split(".")[0]) < 2:  # pragma: no cover - v1 has another server API
    raise MissingDependencyError("mcp>=2", "mcp")

__all__ = ["Transport", "build_server", "serve"]

Transport = Literal["stdio", "http"]

_INSTRUCTIONS = (
    "Search a rolecall index. `search` returns hits, each with a one-line `why`, and a "
    "`summary` of how the query was read; `explain_document` says why one document is or "
    "is not in the results; `rewrite` shows the structured query a question becomes."
)


def build_server(retriever: Retriever, *, name: str = "rolecall") -> Server[Any]:
    """An MCP server whose tools search `retriever` (see `rolecall.mcp_server.tools`)."""
    listed = types.ListToolsResult(tools=[_describe(t) for t in TOOLS.values()])

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return listed

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        return _result(await run_tool(retriever, params.name, params.arguments or {}))

    def input_schema(tool: str) -> dict[str, Any] | None:
        spec = TOOLS.get(tool)
        return None if spec is None else spec.input_model.model_json_schema()

    return Server(name, version=__version__, instructions=_INSTRUCTIONS,
                  on_list_tools=list_tools, on_call_tool=call_tool,
                  get_tool_input_schema=input_schema)


def serve(
    retriever: Retriever,
    *,
    transport: Transport = "stdio",
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
) -> None:
    """Serve until the client hangs up (stdio) or the process is stopped (HTTP).

    Over HTTP every request must carry `Authorization: Bearer <token>` when `token` is set;
    a host other than loopback without a token is refused (`ConfigurationError`)."""
    server = build_server(retriever)
    _warm_up(retriever)
    if transport == "stdio":
        anyio.run(_serve_stdio, server)
        return
    check_exposure(host, token)
    _serve_http(server, host=host, port=port, token=token)


def _warm_up(retriever: Retriever) -> None:
    """Load the embedding model now: the first tool call would otherwise pay for it (seconds,
    enough for a client's timeout), and a model that fails to load is reported once here."""
    try:
        retriever.index.embedder.encode(["warm up"])
    except RolecallError as exc:  # searches then degrade to their other legs, and say so
        print(f"rolecall mcp: {exc}", file=sys.stderr)


async def _serve_stdio(server: Server[Any]) -> None:
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def _serve_http(server: Server[Any], *, host: str, port: int, token: str | None) -> None:
    import uvicorn

    app: Any = server.streamable_http_app(host=host)
    if token is not None:
        app = BearerTokenMiddleware(app, token)
    where = f"http://{host}:{port}/mcp"
    print(f"rolecall mcp: serving on {where}"
          + (" (bearer token required)" if token else " (no token: loopback only)"),
          file=sys.stderr, flush=True)
    uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run()


def _describe(tool: ToolSpec) -> types.Tool:
    return types.Tool(
        name=tool.name,
        description=tool.description,
        input_schema=tool.input_model.model_json_schema(),
        output_schema=tool.output_model.model_json_schema(mode="serialization"),
        # Searching changes nothing, and touches nothing beyond the index (and its LLM).
        annotations=types.ToolAnnotations(read_only_hint=True, destructive_hint=False,
                                          idempotent_hint=True, open_world_hint=False),
    )


def _result(outcome: ToolOutcome) -> types.CallToolResult:
    if outcome.output is None:
        text = outcome.error or "the tool returned nothing"
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)],
                                    is_error=True)
    # The text block is for clients that show content only; the same JSON, structured.
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=outcome.output.model_dump_json())],
        structured_content=outcome.output.model_dump(mode="json"),
    )
