"""`rolecall mcp` end to end: the MCP SDK's own client against a real server process, over
stdio and over streamable HTTP (with a bearer token), on the tiny index.

One server process per transport for the whole module (each loads the embedding model
once); the client session lives in an anyio blocking portal so sync tests can share it.
The rule rewriter only: ROLECALL_MODEL is unset and the local LLM port is one nobody uses.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("mcp", reason="install rolecall[mcp]")

import httpx2  # noqa: E402  (the MCP SDK's HTTP client)
from anyio.from_thread import BlockingPortal, start_blocking_portal  # noqa: E402
from mcp import Client, StdioServerParameters  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.types import CallToolResult  # noqa: E402

TOKEN = "test-token-7f3a"
QUERY = "allergy medicine that doesn't make you drowsy"


def _server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ROLECALL_MODEL"}
    env.update(ROLECALL_LLM_PORT="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               LITELLM_LOCAL_MODEL_COST_MAP="True", TOKENIZERS_PARALLELISM="false")
    return env


class Tools:
    """A connected MCP client, called from sync code through the portal that owns it."""

    def __init__(self, portal: BlockingPortal, client: Client) -> None:
        self.portal = portal
        self.client = client

    def names(self) -> list[str]:
        return [t.name for t in self.portal.call(self.client.list_tools).tools]

    def call(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        result: CallToolResult = self.portal.call(self.client.call_tool, name, arguments)
        return result

    def error(self, name: str, arguments: dict[str, Any]) -> str:
        result = self.call(name, arguments)
        assert result.is_error, result
        text = result.content[0]
        assert text.type == "text"
        return text.text


@contextmanager
def _connected(server: Any) -> Iterator[Tools]:
    with start_blocking_portal() as portal:
        with portal.wrap_async_context_manager(Client(server)) as client:
            yield Tools(portal, client)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def http_url(tiny_index_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    env = {**_server_env(), "ROLECALL_MCP_TOKEN": TOKEN}
    # stderr to a file, not a pipe nobody reads: a full pipe would block the server.
    log = tmp_path_factory.mktemp("mcp") / "server.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rolecall.cli", "mcp", str(tiny_index_path),
             "--transport", "http", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=err)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        _wait_until_up(url, proc, log)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path,
                   timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"rolecall mcp exited {proc.returncode}: {log.read_text()}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"rolecall mcp did not answer on {url} within {timeout} s")


@pytest.fixture(scope="module", params=["stdio", "http"])
def tools(request: pytest.FixtureRequest, tiny_index_path: Path) -> Iterator[Tools]:
    if request.param == "stdio":
        server: Any = StdioServerParameters(
            command=sys.executable, args=["-m", "rolecall.cli", "mcp", str(tiny_index_path)],
            env=_server_env())
        with _connected(server) as connected:
            yield connected
        return
    with _connected(_with_token(request.getfixturevalue("http_url"))) as connected:
        yield connected


@asynccontextmanager
async def _with_token(url: str) -> AsyncIterator[Any]:
    """The streamable HTTP transport, every request carrying the bearer token."""
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            yield streams


def test_lists_the_three_tools_with_their_schemas(tools: Tools) -> None:
    listed = {t.name: t for t in tools.portal.call(tools.client.list_tools).tools}
    assert set(listed) == {"search", "explain_document", "rewrite"}
    search = listed["search"].input_schema
    assert search["required"] == ["query"]
    assert search["properties"]["k"]["minimum"] == 1
    assert "Message" in search["$defs"]  # history turns: rolecall's own Message model
    assert listed["search"].output_schema is not None
    assert listed["explain_document"].input_schema["required"] == ["query", "doc_id"]


def test_search_returns_the_right_top_hit_with_its_why(tools: Tools) -> None:
    result = tools.call("search", {"query": QUERY, "k": 3})
    assert not result.is_error, result.content
    out = result.structured_content
    assert isinstance(out, dict)
    top = out["hits"][0]
    assert (top["id"], top["title"]) == ("d", "Clearhist")
    assert "ok: type drug; must not causes drowsiness; must treats allergy" in top["why"]
    assert len(out["hits"]) == 3
    assert out["summary"].startswith("read as: target drug; must not causes drowsiness")
    assert "rewriter: rules" in out["summary"]


def test_search_reads_the_history(tools: Tools) -> None:
    history = [{"role": "user", "content": "I get hay fever"},
               {"role": "assistant", "content": "Antihistamines help."}]
    result = tools.call("search", {"query": QUERY, "k": 2, "history": history})
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    assert result.structured_content["hits"][0]["id"] == "d"


def test_explain_document_says_why_a_document_is_left_out(tools: Tools) -> None:
    result = tools.call("explain_document", {"query": QUERY, "doc_id": "c"})
    assert not result.is_error, result.content
    out = result.structured_content
    assert isinstance(out, dict)
    assert out["title"] == "Sleepyhist"
    assert out["why"].startswith("violates: must not causes drowsiness")
    failed = [c for c in out["checks"] if not c["satisfied"]]
    assert [c["evidence"] for c in failed] == ["sleepyhist causes drowsiness"]


def test_rewrite_shows_what_the_query_became(tools: Tools) -> None:
    result = tools.call("rewrite", {"query": QUERY})
    assert not result.is_error, result.content
    rq = result.structured_content
    assert isinstance(rq, dict)
    assert rq["target_type"] == "drug" and rq["provenance"]["rewriter"] == "rules"
    assert {(r["relation"], r["object"], r["polarity"]) for r in rq["relations"]} == {
        ("causes", "drowsiness", "must_not"), ("treats", "allergy", "must")}


def test_bad_input_is_a_tool_error_naming_the_field(tools: Tools) -> None:
    assert "k: input should be greater than or equal to 1 (got -1)" in tools.error(
        "search", {"query": QUERY, "k": -1})
    assert "query: required" in tools.error("search", {"k": 3})
    assert "top_k: unknown argument" in tools.error("search", {"query": QUERY, "top_k": 3})
    assert "history.0.role" in tools.error(
        "search", {"query": QUERY, "history": [{"role": "bot", "content": "hi"}]})
    unknown = tools.error("explain_document", {"query": QUERY, "doc_id": "nope"})
    assert unknown.startswith("doc_id must be the id of an indexed document")
    assert "'nope'" in unknown
    # rolecall's own errors come back as tool errors with their message
    assert "query is empty" in tools.error("search", {"query": "   "})
    # and the server is still serving
    result = tools.call("search", {"query": QUERY, "k": 1})
    assert not result.is_error
    assert tools.names() == ["search", "explain_document", "rewrite"]


def test_http_serves_clients_of_the_handshake_era_too(http_url: str) -> None:
    # Most MCP clients in use still open with `initialize`: the same server answers them.
    with start_blocking_portal() as portal:
        with portal.wrap_async_context_manager(
            Client(_with_token(http_url), mode="legacy")
        ) as client:
            tools = Tools(portal, client)
            assert tools.names() == ["search", "explain_document", "rewrite"]
            result = tools.call("search", {"query": QUERY, "k": 1})
            assert isinstance(result.structured_content, dict)
            assert result.structured_content["hits"][0]["id"] == "d"


def test_http_refuses_a_request_without_the_token(http_url: str) -> None:
    hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = httpx.post(http_url, json=hello, headers=headers, timeout=10)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "Authorization: Bearer" in response.json()["error_description"]


def test_help_names_the_transports(capsys: pytest.CaptureFixture[str]) -> None:
    from rolecall.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["mcp", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--transport {stdio,http}" in out and "ROLECALL_MCP_TOKEN" in out


def test_exposing_http_without_a_token_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rolecall.cli import main

    monkeypatch.delenv("ROLECALL_MCP_TOKEN", raising=False)
    # Refused before the index is opened: the path need not exist.
    assert main(["mcp", "no-such-index", "--transport", "http", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "--host 0.0.0.0 exposes the index" in err
    assert "ROLECALL_MCP_TOKEN=SECRET" in err and "--host 127.0.0.1" in err


def test_a_bug_in_a_tool_is_a_tool_error_not_a_crash() -> None:
    import asyncio

    from rolecall.mcp_server import run_tool

    class Broken:
        async def arewrite(self, text: str, **_: Any) -> Any:
            raise RuntimeError("internal detail")

    broken: Any = Broken()
    outcome = asyncio.run(run_tool(broken, "rewrite", {"query": QUERY}))
    assert outcome.output is None and outcome.error is not None
    assert "internal error" in outcome.error and "internal detail" not in outcome.error
    unknown = asyncio.run(run_tool(broken, "serach", {}))
    assert unknown.error == ("unknown tool 'serach'; this server has search, explain_document, "
                             "rewrite")
