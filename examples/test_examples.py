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
