"""Atomic file writes: the one place every package writes files through.

A crash or a full disk mid-write must never leave a half-written output under
the final name, so everything is written to a temporary file in the same
directory, fsync'd, then renamed over the target (rename is atomic on POSIX).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", perms: int = 0o644) -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; rename it over `path` on success.

    The parent directory must exist (a missing one is the caller's error to report).
    On any exception the temporary file is removed and `path` is left untouched.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"output directory does not exist: {path.parent}")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, perms)
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes, perms: int = 0o644) -> None:
    """Write `data` to `path` atomically with permissions `perms`."""
    with atomic_open(path, "wb", perms) as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike, text: str, perms: int = 0o644) -> None:
    """Write UTF-8 `text` to `path` atomically with permissions `perms`."""
    atomic_write_bytes(path, text.encode("utf-8"), perms)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
