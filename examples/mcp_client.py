"""An MCP client calling rolecall as tools: `rolecall mcp INDEX` started over stdio, the way
Claude Desktop or any agent framework starts it, driven with the official MCP SDK's client.

    .venv/bin/python examples/mcp_client.py [INDEX_DIR] ["question"]   # needs rolecall[mcp]

It builds (or reuses) the demo index, lists the server's tools, searches, and asks the
server why a document is not among the hits.
"""

from __future__ import annotations

import os
import sys
import textwrap
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextContent
from rolecall.demo import default_demo_index_dir, open_demo

QUESTION = "medicine for nausea that doesn't make you drowsy"
LEFT_OUT = "d13"  # Promethazine: treats nausea, and makes people drowsy


async def main(index: str, question: str) -> None:
    # A client config runs the same command: {"command": "rolecall", "args": ["mcp", INDEX]}.
    server = StdioServerParameters(command=sys.executable,
                                   args=["-m", "rolecall.cli", "mcp", index],
                                   env=dict(os.environ))  # ROLECALL_MODEL picks the rewriter
    async with Client(server) as client:
        for tool in (await client.list_tools()).tools:
            print(f"tool {tool.name}: {textwrap.shorten(tool.description or '', 72)}")

        found = await client.call_tool("search", {"query": question, "k": 4})
        result = _structured(found)
        print(f"\nsearch {question!r}\n  {result['summary']}")
        for i, hit in enumerate(result["hits"], 1):
            print(f"  [{i}] {hit['id']} {hit['title']} ({hit['score']:.3f})")
            print(f"      why: {hit['why']}")

        explained = await client.call_tool("explain_document",
                                           {"query": question, "doc_id": LEFT_OUT})
        verdict = _structured(explained)
        print(f"\nwhy not {LEFT_OUT} ({verdict['title']})? {verdict['why']}")

        refused = await client.call_tool("search", {"query": question, "k": 0})
        print(f"\na bad call is a tool error, not a crash: {_text(refused)}")


def _structured(result: CallToolResult) -> dict[str, Any]:
    if result.is_error:
        raise SystemExit(f"tool error: {_text(result)}")
    out: dict[str, Any] = result.structured_content
    return out


def _text(result: CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else str(default_demo_index_dir())
    open_demo(path, progress=False).close()  # build it once; the server opens it read-only
    anyio.run(main, path, sys.argv[2] if len(sys.argv) > 2 else QUESTION)
