"""Terminal output shared by every command: progress bars on stderr, JSON on stdout."""
from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

stderr = Console(stderr=True)


@contextlib.contextmanager
def progress_bar(description: str, total: float | None, *, enabled: bool = True) -> Iterator[Any]:
    """A rich progress bar on stderr; yields `advance(n=1)`. Silent when not enabled."""
    if not enabled:
        yield lambda n=1: None
        return
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn()]
    with Progress(*columns, console=stderr, transient=not sys.stderr.isatty()) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


@contextlib.contextmanager
def fraction_bar(description: str, *, enabled: bool = True) -> Iterator[Any]:
    """A progress bar driven by a completed fraction; yields `progress(frac)` for long jobs
    (training, corpus building) that know how far along they are but not in steps."""
    with progress_bar(description, 1000, enabled=enabled) as advance:
        done = [0]

        def progress(frac: float) -> None:
            n = int(min(max(frac, 0.0), 1.0) * 1000)
            if n > done[0]:
                advance(n - done[0])
                done[0] = n

        yield progress


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=None, sort_keys=False, default=str))
