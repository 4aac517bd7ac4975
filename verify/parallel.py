"""Bounded, order-keeping parallel map: constant memory over a stream of inputs."""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor


def ordered_map(pool: Executor, fn: Callable, items: Iterable, window: int) -> Iterator:
    """Map `fn` over `items` on `pool` with at most `window` tasks in flight, in input order."""
    pending: deque = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
