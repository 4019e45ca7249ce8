"""examples/haystack_pipeline.py runs (offline, public API only) and prints its prompt."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def test_haystack_pipeline_runs(tmp_path: Path) -> None:
    pytest.importorskip("haystack", reason="install rolecall[haystack]")
    # As test_examples.run_example: no model configured, the local LLM port one nobody uses.
    env = {k: v for k, v in os.environ.items() if k != "ROLECALL_MODEL"}
    env["ROLECALL_LLM_PORT"] = "9"
    out = subprocess.run(
        [sys.executable, str(HERE / "haystack_pipeline.py"), str(tmp_path / "idx")],
        capture_output=True, text=True, timeout=300, check=True, env=env,
    ).stdout
    sources = out.split("Question:")[0]
    # The drowsy antihistamine is no source; the one that qualifies says why.
    assert "[1] Clearhist:" in sources and "Sleepyhist" not in sources
    assert "why: lexical#1, dense#1 | ok: must not causes drowsiness; must treats allergy" in out
    assert "reloaded from YAML, same prompt: True" in out
