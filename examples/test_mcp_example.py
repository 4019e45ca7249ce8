"""examples/mcp_client.py runs: an MCP client drives `rolecall mcp` over stdio (offline)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def test_mcp_client_runs() -> None:
    pytest.importorskip("mcp", reason="install rolecall[mcp]")
    # Offline and without a model: ROLECALL_MODEL unset, the local port one nobody uses.
    env = {k: v for k, v in os.environ.items() if k != "ROLECALL_MODEL"}
    env["ROLECALL_LLM_PORT"] = "9"
    out = subprocess.run(
        [sys.executable, str(HERE / "mcp_client.py")],
        capture_output=True, text=True, timeout=300, check=True, env=env,
    ).stdout
    assert "tool search:" in out and "tool explain_document:" in out and "tool rewrite:" in out
    assert "[1] d08 Ondansetron" in out
    assert "ok: type drug; must treats nausea; must not causes drowsiness" in out
    assert "why not d13 (Promethazine)? violates: must not causes drowsiness" in out
    assert "a bad call is a tool error, not a crash: invalid arguments for search: k:" in out
