"""A progress bar for extraction that shows documents per second (rich, on stderr).

`rolecall._progress.progress_bar` shows counts and times; an extraction is paced by the
model, and the rate is what tells a user whether 10 000 documents take an hour or a week.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["doc_progress"]


@contextlib.contextmanager
def doc_progress(total: int, *, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """Yield an `advance(n)` callable; draws nothing when disabled or stderr is not a TTY."""
    if not enabled or not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:.2f} docs/s" if speed else "– docs/s", style="progress.data.speed")

    with Progress(
        TextColumn("[progress.description]{task.description}"), BarColumn(),
        MofNCompleteColumn(), Rate(), TimeElapsedColumn(), TimeRemainingColumn(),
    ) as bar:
        task = bar.add_task("extracting", total=total)
        yield lambda n: bar.advance(task, n)
