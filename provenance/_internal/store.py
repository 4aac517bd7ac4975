"""Storage behind the registry and the log: a small interface and its SQLite backend.

Registry rows, log leaves, tree nodes and checkpoints live in ONE database and change
in ONE transaction, so a crash can never leave a registry record without its log entry
or a log entry without its registry record. A later PostgreSQL backend implements the
same `Store`/`Tx` pair (BEGIN ... SERIALIZABLE or an advisory lock around appends).
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from provenance.errors import DatabaseError, PayloadConflictError

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE signers(
  signer_id TEXT PRIMARY KEY,
  status TEXT NOT NULL CHECK (status IN ('active', 'retired')),
  source TEXT NOT NULL,
  alg TEXT NOT NULL,
  subject TEXT NOT NULL,
  not_before TEXT NOT NULL,
  not_after TEXT NOT NULL,
  cert_sha256 TEXT NOT NULL,
  created TEXT NOT NULL,
  retired TEXT
);
CREATE UNIQUE INDEX signers_one_active ON signers(status) WHERE status = 'active';
CREATE TABLE payloads(
  payload INTEGER PRIMARY KEY CHECK (payload BETWEEN 0 AND 4294967295),
  allocated TEXT NOT NULL
);
CREATE TABLE log_entries(idx INTEGER PRIMARY KEY, record BLOB NOT NULL);
CREATE TABLE log_nodes(
  level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
  PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE checkpoints(size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL);
CREATE TABLE log_keys(key_hash TEXT PRIMARY KEY, verifier_key TEXT NOT NULL, created TEXT NOT NULL)
  WITHOUT ROWID;
CREATE TABLE manifests(
  manifest_id TEXT PRIMARY KEY,
  payload INTEGER UNIQUE REFERENCES payloads(payload),
  file_sha256 TEXT NOT NULL,
  pcm_sha256 TEXT NOT NULL,
  format TEXT NOT NULL,
  signer_id TEXT NOT NULL,
  created TEXT NOT NULL,
  manifest_store BLOB NOT NULL,
  generation TEXT NOT NULL,
  log_index INTEGER NOT NULL UNIQUE REFERENCES log_entries(idx)
);
CREATE INDEX manifests_by_file ON manifests(file_sha256);
CREATE INDEX manifests_by_pcm ON manifests(pcm_sha256);
CREATE TABLE soft_bindings(
  alg TEXT NOT NULL, value TEXT NOT NULL,
  manifest_id TEXT NOT NULL REFERENCES manifests(manifest_id),
  PRIMARY KEY (alg, value, manifest_id)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class ManifestRow:
    manifest_id: str
    payload: int | None
    file_sha256: str
    pcm_sha256: str
    format: str
    signer_id: str
    created: str
    manifest_store: bytes
    generation: str
    log_index: int


@dataclass(frozen=True)
class SignerRow:
    signer_id: str
    status: str
    source: str
    alg: str
    subject: str
    not_before: str
    not_after: str
    cert_sha256: str
    created: str
    retired: str | None


class Tx(Protocol):
    """One transaction. Reads inside it see one snapshot; writes commit together."""

    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def reserve_payload(self, payload: int, when: str) -> bool: ...
    def insert_manifest(self, row: ManifestRow) -> None: ...
    def add_soft_binding(self, alg: str, value: str, manifest_id: str) -> None: ...
    def manifest(self, manifest_id: str) -> ManifestRow | None: ...
    def manifest_ids(self, column: str, value: str) -> list[str]: ...
    def published_payloads(self) -> list[int]: ...
    def binding_matches(self, alg: str, value: str) -> list[str]: ...
    def manifests(self) -> Iterator[ManifestRow]: ...
    def log_size(self) -> int: ...
    def node(self, level: int, index: int) -> bytes: ...
    def put_nodes(self, nodes: list[tuple[int, int, bytes]]) -> None: ...
    def add_entry(self, index: int, record: bytes) -> None: ...
    def entry(self, index: int) -> bytes | None: ...
    def entries(self) -> Iterator[tuple[int, bytes]]: ...
    def stored_nodes(self) -> Iterator[tuple[int, int, bytes]]: ...
    def add_checkpoint(self, size: int, root: bytes, note: str) -> None: ...
    def latest_checkpoint(self) -> tuple[int, bytes, str] | None: ...
    def checkpoints(self) -> Iterator[tuple[int, bytes, str]]: ...
    def log_keys(self) -> list[str]: ...
    def add_log_key(self, key_hash: str, verifier_key: str, when: str) -> None: ...
    def signers(self) -> list[SignerRow]: ...
    def insert_signer(self, row: SignerRow) -> None: ...
    def set_signer_status(self, signer_id: str, status: str, when: str | None) -> None: ...


class Store(Protocol):
    def write(self) -> contextlib.AbstractContextManager[Tx]: ...
    def read(self) -> contextlib.AbstractContextManager[Tx]: ...
    def close(self) -> None: ...


_LOOKUP_COLUMNS = {"file_sha256", "pcm_sha256", "payload"}


def _blob(value: object) -> bytes:
    # SQLite is dynamically typed: a tampered BLOB may come back as TEXT. Normalise so
    # the hash comparison, not a TypeError, is what reports the tampering.
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    return bytes(value)  # type: ignore[arg-type]


class _SQLiteTx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def _one(self, sql: str, args: tuple = ()):
        return self._db.execute(sql, args).fetchone()

    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def reserve_payload(self, payload: int, when: str) -> bool:
        cur = self._db.execute(
            "INSERT OR IGNORE INTO payloads(payload, allocated) VALUES (?, ?)", (payload, when)
        )
        return cur.rowcount == 1

    def insert_manifest(self, row: ManifestRow) -> None:
        try:
            self._db.execute(
                "INSERT INTO manifests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.manifest_id, row.payload, row.file_sha256, row.pcm_sha256, row.format,
                    row.signer_id, row.created, row.manifest_store, row.generation, row.log_index,
                ),
            )
        except sqlite3.IntegrityError as exc:
            if "payload" in str(exc):
                raise PayloadConflictError(
                    f"watermark payload {row.payload:08x} is already bound to another manifest"
                ) from None
            raise DatabaseError(f"cannot record manifest {row.manifest_id}: {exc}") from None

    def add_soft_binding(self, alg: str, value: str, manifest_id: str) -> None:
        self._db.execute(
            "INSERT INTO soft_bindings(alg, value, manifest_id) VALUES (?, ?, ?)",
            (alg, value, manifest_id),
        )

    def manifest(self, manifest_id: str) -> ManifestRow | None:
        row = self._one("SELECT * FROM manifests WHERE manifest_id = ?", (manifest_id,))
        return ManifestRow(*row) if row else None

    def manifest_ids(self, column: str, value: str) -> list[str]:
        if column not in _LOOKUP_COLUMNS:  # never interpolate anything else into SQL
            raise ValueError(f"not a lookup column: {column}")
        rows = self._db.execute(
            f"SELECT manifest_id FROM manifests WHERE {column} = ? ORDER BY log_index", (value,)
        )
        return [r[0] for r in rows]

    def published_payloads(self) -> list[int]:
        rows = self._db.execute(
            "SELECT payload FROM manifests WHERE payload IS NOT NULL ORDER BY log_index"
        )
        return [int(r[0]) for r in rows]

    def binding_matches(self, alg: str, value: str) -> list[str]:
        rows = self._db.execute(
            "SELECT b.manifest_id FROM soft_bindings b JOIN manifests m USING (manifest_id) "
            "WHERE b.alg = ? AND b.value = ? ORDER BY m.log_index",
            (alg, value),
        )
        return [r[0] for r in rows]

    def manifests(self) -> Iterator[ManifestRow]:
        for row in self._db.execute("SELECT * FROM manifests ORDER BY log_index"):
            yield ManifestRow(*row)

    def log_size(self) -> int:
        return self._one("SELECT COUNT(*) FROM log_nodes WHERE level = 0")[0]

    def node(self, level: int, index: int) -> bytes:
        row = self._one("SELECT hash FROM log_nodes WHERE level = ? AND idx = ?", (level, index))
        if row is None:
            raise DatabaseError(f"log tree node ({level}, {index}) is missing from the database")
        return _blob(row[0])

    def put_nodes(self, nodes: list[tuple[int, int, bytes]]) -> None:
        self._db.executemany("INSERT INTO log_nodes(level, idx, hash) VALUES (?, ?, ?)", nodes)

    def add_entry(self, index: int, record: bytes) -> None:
        self._db.execute("INSERT INTO log_entries(idx, record) VALUES (?, ?)", (index, record))

    def entry(self, index: int) -> bytes | None:
        row = self._one("SELECT record FROM log_entries WHERE idx = ?", (index,))
        return _blob(row[0]) if row else None

    def entries(self) -> Iterator[tuple[int, bytes]]:
        for idx, rec in self._db.execute("SELECT idx, record FROM log_entries ORDER BY idx"):
            yield idx, _blob(rec)

    def stored_nodes(self) -> Iterator[tuple[int, int, bytes]]:
        for level, idx, h in self._db.execute(
            "SELECT level, idx, hash FROM log_nodes ORDER BY level, idx"
        ):
            yield level, idx, _blob(h)

    def add_checkpoint(self, size: int, root: bytes, note: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO checkpoints(size, root, note) VALUES (?, ?, ?)",
            (size, root, note),
        )

    def latest_checkpoint(self) -> tuple[int, bytes, str] | None:
        row = self._one("SELECT size, root, note FROM checkpoints ORDER BY size DESC LIMIT 1")
        return (row[0], _blob(row[1]), row[2]) if row else None

    def checkpoints(self) -> Iterator[tuple[int, bytes, str]]:
        for size, root, note in self._db.execute(
            "SELECT size, root, note FROM checkpoints ORDER BY size"
        ):
            yield size, _blob(root), note

    def log_keys(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT verifier_key FROM log_keys ORDER BY created")]

    def add_log_key(self, key_hash: str, verifier_key: str, when: str) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO log_keys(key_hash, verifier_key, created) VALUES (?, ?, ?)",
            (key_hash, verifier_key, when),
        )

    def signers(self) -> list[SignerRow]:
        return [SignerRow(*r) for r in self._db.execute("SELECT * FROM signers ORDER BY created")]

    def insert_signer(self, row: SignerRow) -> None:
        self._db.execute(
            "INSERT INTO signers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.signer_id, row.status, row.source, row.alg, row.subject, row.not_before,
                row.not_after, row.cert_sha256, row.created, row.retired,
            ),
        )

    def set_signer_status(self, signer_id: str, status: str, when: str | None) -> None:
        self._db.execute(
            "UPDATE signers SET status = ?, retired = ? WHERE signer_id = ?",
            (status, when, signer_id),
        )


def _db_error(path: Path, exc: sqlite3.Error) -> DatabaseError:
    msg = str(exc)
    if "locked" in msg or "busy" in msg:
        return DatabaseError(f"registry database stayed busy (another writer?): {path}")
    if "not a database" in msg or "malformed" in msg or "corrupt" in msg:
        return DatabaseError(f"registry database is corrupt or not a database: {path}")
    return DatabaseError(f"registry database error ({msg}): {path}")


class SQLiteStore:
    """The default backend: one SQLite file in WAL mode, every write in a transaction."""

    BUSY_TIMEOUT_S = 60.0

    def __init__(self, path: Path, *, create: bool = False) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise DatabaseError(f"registry database is missing: {self.path}")
        if create and not self.path.exists():
            # Created 0600 before SQLite touches it: SQLite copies the mode to -wal and -shm.
            os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        try:
            self._db = sqlite3.connect(
                f"file:{self.path}?mode=rw",
                uri=True,
                isolation_level=None,
                timeout=self.BUSY_TIMEOUT_S,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise _db_error(self.path, exc) from None
        try:
            # Reading the header first: a corrupt file must fail before any PRAGMA writes.
            self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            self._db.execute("PRAGMA journal_mode = WAL").fetchone()
            # FULL: a commit is durable once it returns (the SIGKILL and power-loss promise).
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA foreign_keys = ON")
            if create:
                self._create_schema()
            self._check_schema()
        except sqlite3.Error as exc:
            self._db.close()
            raise _db_error(self.path, exc) from None
        except DatabaseError:
            self._db.close()
            raise

    def _create_schema(self) -> None:
        have = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone()
        if have:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    self._db.execute(stmt)
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _check_schema(self) -> None:
        try:
            row = self._db.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()
        except sqlite3.OperationalError:
            row = None
        if row is None:
            raise DatabaseError(f"not a VoxSeal registry database: {self.path}")
        if row[0] != SCHEMA_VERSION:
            raise DatabaseError(
                f"registry database has schema {row[0]}, this VoxSeal reads {SCHEMA_VERSION}"
            )

    @contextlib.contextmanager
    def _tx(self, begin: str) -> Iterator[Tx]:
        try:
            self._db.execute(begin)
        except sqlite3.Error as exc:
            raise _db_error(self.path, exc) from None
        try:
            yield _SQLiteTx(self._db)
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise _db_error(self.path, exc) from None
            raise
        else:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise _db_error(self.path, exc) from None

    def write(self) -> contextlib.AbstractContextManager[Tx]:
        # IMMEDIATE takes the write lock up front, so two appenders never both read
        # size n and then race to write leaf n (they queue on the busy timeout instead).
        return self._tx("BEGIN IMMEDIATE")

    def read(self) -> contextlib.AbstractContextManager[Tx]:
        return self._tx("BEGIN")

    def quick_check(self) -> str:
        try:
            return self._db.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.Error as exc:
            raise _db_error(self.path, exc) from None

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
