"""Console helpers: progress bars and tables (rich). Library code reports progress through
``progress()``; it is silent when ``HRLAIF_QUIET=1`` or when the caller passes ``enabled=False``."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Iterator


def quiet() -> bool:
    return os.environ.get("HRLAIF_QUIET") == "1"


class _Bar:
    def __init__(self, progress: Any, task: Any):
        self._p, self._t = progress, task

    def advance(self, n: float = 1) -> None:
        if self._p is not None:
            self._p.advance(self._t, n)

    def update(self, *, description: str | None = None, **fields: Any) -> None:
        if self._p is not None:
            kw = {"description": description} if description else {}
            if fields:
                kw["info"] = " ".join(f"{k}={v}" for k, v in fields.items())
            self._p.update(self._t, **kw)


@contextlib.contextmanager
def progress(total: float | None, description: str, *, enabled: bool = True, unit: str = "") -> Iterator[_Bar]:
    """``with progress(n, "generate") as bar: ... bar.advance()`` — a rich bar on stderr."""
    if not enabled or quiet():
        yield _Bar(None, None)
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    console = Console(file=sys.stderr)
    cols = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[info]}")]
    with Progress(*cols, console=console, transient=False, refresh_per_second=4) as p:
        task = p.add_task(description, total=total, info=unit)
        yield _Bar(p, task)


def print_table(title: str, columns: list[str], rows: list[list[Any]], *, file: Any = None) -> None:
    """Print a table with rich (plain text when not a terminal)."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, show_lines=False)
    for c in columns:
        t.add_column(str(c), overflow="fold")
    for r in rows:
        t.add_row(*[_fmt(v) for v in r])
    Console(file=file or sys.stdout, width=max(100, min(200, os.get_terminal_size().columns
                                                         if sys.stdout.isatty() else 160))).print(t)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)
