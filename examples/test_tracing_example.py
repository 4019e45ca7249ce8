"""examples/tracing.py runs (offline, public API only) and prints a search's span tree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def test_tracing_example_prints_the_span_tree(tmp_path: Path) -> None:
    pytest.importorskip("opentelemetry.sdk", reason='install "rolecall[otel]"')
    env = {k: v for k, v in os.environ.items() if k not in ("ROLECALL_MODEL",
                                                             "ROLECALL_TRACE_CONTENT")}
    out = subprocess.run(
        [sys.executable, str(HERE / "tracing.py"), str(tmp_path / "idx")],
        capture_output=True, text=True, timeout=300, check=True, env=env,
    ).stdout
    lines = out.splitlines()
    assert lines[0].startswith("rolecall.search [RETRIEVER]")
    assert "input.value=\"allergy medicine that doesn't make you drowsy\"" in lines[0]
    names = [line.split(" [")[0] for line in lines if " [" in line]
    assert names == ["rolecall.search", "  rolecall.rewrite"] + [
        f"  rolecall.stage.{s}" for s in ("ground", "restrict", "encode", "lexical", "dense",
                                          "fuse", "exclusions", "policy", "hits")]
    assert "must not causes drowsiness" in out  # the restrict stage's constraints
    assert "leg.dense.candidates=" in out and lines[-1].startswith("hits: ")
