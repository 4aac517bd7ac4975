"""The transparency log: an RFC 6962 Merkle tree over RFC 8785 canonical JSON records.

Every generation and every key event is a leaf. After each append the log signs a
checkpoint (C2SP tlog-checkpoint in a C2SP signed note, Ed25519). Anyone who saved an
earlier checkpoint can later demand a consistency proof: if a record was deleted or
altered, even by someone holding the log key who rebuilt the tree and re-signed, the
proof against the saved root fails.
"""
from __future__ import annotations

import json
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from provenance._internal import merkle
from provenance._internal import signed_note as sn
from provenance._internal.store import Store, Tx
from provenance.errors import InvalidInputError, LogIntegrityError, NotFoundError
from provenance.models import (
    Checkpoint,
    ConsistencyProof,
    InclusionProof,
    LogEntry,
    LogVerification,
    sha256_hex,
)

GENERATION_RECORD = "org.voxseal.generation.v1"
KEY_RECORD = "org.voxseal.key.v1"

leaf_hash = merkle.leaf_hash
verify_inclusion = merkle.verify_inclusion
verify_consistency = merkle.verify_consistency


def canonical_json(record: dict[str, Any]) -> bytes:
    """RFC 8785 bytes of `record`; ints beyond 2^53 are refused (store them as strings)."""
    try:
        return rfc8785.dumps(record)
    except (rfc8785.CanonicalizationError, TypeError) as exc:
        raise InvalidInputError(f"log record is not canonical JSON: {exc}") from None


def _origin(tx: Tx) -> str:
    origin = tx.get_meta("log_origin")
    if origin is None:
        raise LogIntegrityError("the registry database has no log origin (not initialised)")
    return origin


def _open(note: str, keys: list[str], origin: str | None) -> Checkpoint:
    if not isinstance(note, str):
        raise LogIntegrityError("checkpoint note is not text")
    try:
        verifiers = [sn.parse_verifier_key(k) for k in keys]
        text = sn.open_note(note, verifiers)
        body = sn.parse_checkpoint_text(text)
    except sn.NoteError as exc:
        raise LogIntegrityError(f"checkpoint rejected: {exc}") from None
    if origin is not None and body.origin != origin:
        raise LogIntegrityError(
            f"checkpoint is for log {body.origin!r}, not this log ({origin!r})"
        )
    return Checkpoint(body.origin, body.size, body.root, note)


class TransparencyLog:
    """Read, prove and verify the log of one VoxSeal home (appends happen in `publish`)."""

    def __init__(self, store: Store, *, signing_key: Ed25519PrivateKey | None = None) -> None:
        self._store = store
        self._key = signing_key
        self._origin: str | None = None

    @property
    def origin(self) -> str:
        """The log's name: first line of every checkpoint and the key name of its notes."""
        if self._origin is None:
            with self._store.read() as tx:
                self._origin = _origin(tx)
        return self._origin

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> TransparencyLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- appending (inside a caller's transaction) ---------------------------------
    def _append(self, tx: Tx, record: dict[str, Any]) -> tuple[int, int]:
        """Append one record and sign the new checkpoint; returns (index, new size)."""
        if self._key is None:
            raise LogIntegrityError("this log handle was opened without the log signing key")
        origin = _origin(tx)
        data = canonical_json(record)
        index = tx.log_size()
        tx.add_entry(index, data)
        tx.put_nodes(merkle.completed_nodes(tx, index, merkle.leaf_hash(data)))
        size = index + 1
        root = merkle.root(tx, size)
        note = sn.sign_note(sn.checkpoint_text(origin, size, root), origin, self._key)
        tx.add_checkpoint(size, root, note)
        return index, size

    # -- reading -----------------------------------------------------------------------
    def verifier_keys(self) -> list[str]:
        with self._store.read() as tx:
            return tx.log_keys()

    def head(self) -> Checkpoint:
        """The latest signed checkpoint (checked against the log's own keys)."""
        with self._store.read() as tx:
            latest = tx.latest_checkpoint()
            keys = tx.log_keys()
        if latest is None:
            raise NotFoundError("the log is empty: nothing has been recorded yet")
        return _open(latest[2], keys, self.origin)

    def size(self) -> int:
        with self._store.read() as tx:
            return tx.log_size()

    def entry(self, index: int) -> LogEntry:
        with self._store.read() as tx:
            data = tx.entry(index)
        if data is None:
            raise NotFoundError(f"no log entry {index}")
        return LogEntry(index, data, json.loads(data), merkle.leaf_hash(data))

    def index_of(self, manifest_id: str) -> int:
        with self._store.read() as tx:
            row = tx.manifest(manifest_id)
        if row is None:
            raise NotFoundError(f"no manifest {manifest_id} in the registry")
        return row.log_index

    def prove_inclusion(self, index: int, tree_size: int | None = None) -> InclusionProof:
        """Inclusion proof of leaf `index` in the tree of `tree_size` (default: the head)."""
        with self._store.read() as tx:
            size = tx.log_size() if tree_size is None else tree_size
            if not 0 <= index < size or size > tx.log_size():
                raise NotFoundError(f"no log entry {index} in a tree of size {size}")
            data = tx.entry(index)
            if data is None:
                raise LogIntegrityError(f"log entry {index} is missing from the database")
            hashes = merkle.inclusion_proof(tx, index, size)
            root = merkle.root(tx, size)
        return InclusionProof(index, size, merkle.leaf_hash(data), tuple(hashes), root)

    def prove_consistency(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        with self._store.read() as tx:
            current = tx.log_size()
            new = current if new_size is None else new_size
            if not 0 <= old_size <= new <= current:
                raise NotFoundError(
                    f"no consistency proof from size {old_size} to {new} (log size {current})"
                )
            hashes = merkle.consistency_proof(tx, old_size, new)
            return ConsistencyProof(
                old_size, new, merkle.root(tx, old_size), merkle.root(tx, new), tuple(hashes)
            )

    def open_checkpoint(self, note: str) -> Checkpoint:
        """Parse a saved checkpoint note and check it was signed by this log's key."""
        return _open(note, self.verifier_keys(), self.origin)

    # -- verifying ---------------------------------------------------------------------
    def verify(self, checkpoint_note: str | None = None) -> LogVerification:
        """Re-derive the whole tree from the records and check everything that depends on it.

        Raises LogIntegrityError naming what failed: an altered or missing record, a
        stored node or checkpoint that does not match the records, a registry row
        without its log entry (or the reverse), or, when `checkpoint_note` (a checkpoint
        saved earlier) is given, a consistency proof from it to the current tree that
        does not verify.
        """
        saved = self.open_checkpoint(checkpoint_note) if checkpoint_note is not None else None
        origin = self.origin  # read before the snapshot: one transaction at a time
        problems: list[str] = []
        with self._store.read() as tx:
            keys = tx.log_keys()
            mem = merkle.MemoryNodes()
            records: dict[int, dict[str, Any]] = {}
            for idx, data in tx.entries():
                if idx != mem.size:
                    problems.append(f"log entry {mem.size} is missing (next is {idx})")
                    break
                try:
                    rec = json.loads(data)
                    if rfc8785.dumps(rec) != data:
                        problems.append(f"log entry {idx} is not in canonical form")
                except (ValueError, rfc8785.CanonicalizationError):
                    problems.append(f"log entry {idx} is not JSON")
                    rec = {}
                records[idx] = rec
                mem.append(merkle.leaf_hash(data))
            n = mem.size
            stored_size = tx.log_size()
            if stored_size != n:
                problems.append(f"the tree has {stored_size} leaves but {n} records were read")
            levels = mem.levels()
            for level, idx, h in tx.stored_nodes():
                if level >= len(levels) or idx >= len(levels[level]):
                    problems.append(f"tree node ({level}, {idx}) belongs to no record")
                elif levels[level][idx] != h:
                    what = "record" if level == 0 else "tree node"
                    problems.append(
                        f"log {what} {idx if level == 0 else (level, idx)} does not match "
                        "its hash: the record was altered"
                    )
            cps = 0
            last_size = 0
            for size, root, note in tx.checkpoints():
                cps += 1
                last_size = max(last_size, size)
                try:
                    cp = _open(note, keys, origin)
                except LogIntegrityError as exc:
                    problems.append(f"checkpoint {size}: {exc}")
                    continue
                if cp.size != size or cp.root != root:
                    problems.append(f"checkpoint {size} does not match its signed note")
                elif size > n:
                    problems.append(f"checkpoint {size} is larger than the log ({n}): "
                                    "records were deleted")
                elif merkle.root(mem, size) != root:
                    problems.append(f"checkpoint {size} root does not match the records")
            if n and last_size != n:
                problems.append(f"no signed checkpoint covers the last {n - last_size} entries")
            manifests = 0
            seen: set[str] = set()
            for row in tx.manifests():
                manifests += 1
                seen.add(row.manifest_id)
                rec = records.get(row.log_index)
                if rec is None:
                    problems.append(f"manifest {row.manifest_id} points at missing log entry "
                                    f"{row.log_index}")
                    continue
                expect = {
                    "type": GENERATION_RECORD,
                    "manifest_id": row.manifest_id,
                    "manifest_sha256": sha256_hex(row.manifest_store),
                    "file_sha256": row.file_sha256,
                    "pcm_sha256": row.pcm_sha256,
                    "payload": row.payload,
                }
                bad = [k for k, v in expect.items() if rec.get(k) != v]
                if bad:
                    problems.append(f"registry row {row.manifest_id} disagrees with log entry "
                                    f"{row.log_index} on {', '.join(bad)}")
            for idx, rec in records.items():
                if rec.get("type") == GENERATION_RECORD and rec.get("manifest_id") not in seen:
                    problems.append(f"log entry {idx} records manifest {rec.get('manifest_id')} "
                                    "which the registry no longer holds")
            consistent_with = None
            if saved is not None and not problems:
                if saved.size > n:
                    problems.append(f"the log has {n} entries but a checkpoint it signed "
                                    f"had {saved.size}: records were deleted")
                else:
                    proof = merkle.consistency_proof(tx, saved.size, n)
                    current = merkle.root(tx, n)
                    if not merkle.verify_consistency(saved.size, n, saved.root, current, proof):
                        problems.append(
                            f"consistency proof from the saved checkpoint (size {saved.size}) "
                            f"to the current tree (size {n}) fails: entries before "
                            f"{saved.size} were deleted or altered"
                        )
                    consistent_with = saved.size
        if problems:
            more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
            raise LogIntegrityError("log verification failed: " + "; ".join(problems[:3]) + more)
        return LogVerification(
            size=n,
            root=merkle.root(mem, n),
            entries_checked=n,
            manifests_checked=manifests,
            checkpoints_checked=cps,
            consistent_with=consistent_with,
        )
