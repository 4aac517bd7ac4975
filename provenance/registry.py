"""The registry: manifests found by watermark payload, file hash, PCM hash or id.

The lookups follow the C2PA Soft Binding Resolution API: `resolve_binding(alg, value)`
is its `matches/byBinding` (a list of manifest ids) and `get_manifest(id)` its
`manifests/{manifestId}` (the manifest store bytes, here with the registry row).
"""
from __future__ import annotations

import json
import secrets

from provenance._internal.store import ManifestRow, Store
from provenance.errors import InvalidInputError, NotFoundError, PayloadConflictError
from provenance.home import VoxSealHome
from provenance.models import (
    SOFT_BINDING_ALG,
    RegistryRecord,
    check_payload,
    check_sha256,
    payload_hex,
    utc_now,
)

_ALLOCATION_TRIES = 64


def _record(row: ManifestRow) -> RegistryRecord:
    return RegistryRecord(
        manifest_id=row.manifest_id, payload=row.payload, file_sha256=row.file_sha256,
        pcm_sha256=row.pcm_sha256, format=row.format, signer_id=row.signer_id,
        created=row.created, log_index=row.log_index, generation=json.loads(row.generation),
        manifest_store=bytes(row.manifest_store),
    )


class Registry:
    """Lookups over one home's registry. Use as a context manager or call `close()`."""

    def __init__(self, home: VoxSealHome | None = None, *, store: Store | None = None) -> None:
        if store is None:
            if home is None:
                raise TypeError("Registry needs a home or a store")
            store = home.open_store()
        self._store = store

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._store.close()

    def resolve_binding(self, alg: str, value: str) -> list[str]:
        """Manifest ids whose soft binding is (alg, value), oldest first."""
        if alg == SOFT_BINDING_ALG:
            value = value.lower()
        with self._store.read() as tx:
            return tx.binding_matches(alg, value)

    def resolve_payload(self, payload: int) -> list[str]:
        return self.resolve_binding(SOFT_BINDING_ALG, payload_hex(payload))

    def published_payloads(self) -> list[int]:
        """Every watermark payload of a published manifest, oldest first (the candidates a
        verifier matches a mark against when the payload's own check bits do not pass)."""
        with self._store.read() as tx:
            return tx.published_payloads()

    def match_file_sha256(self, sha256: str) -> list[str]:
        check_sha256(sha256, "file sha256")
        with self._store.read() as tx:
            return tx.manifest_ids("file_sha256", sha256)

    def match_pcm_sha256(self, sha256: str) -> list[str]:
        check_sha256(sha256, "pcm sha256")
        with self._store.read() as tx:
            return tx.manifest_ids("pcm_sha256", sha256)

    def get_manifest(self, manifest_id: str) -> RegistryRecord:
        """The record (with the C2PA manifest store bytes) of `manifest_id`."""
        if not isinstance(manifest_id, str) or not manifest_id:
            raise InvalidInputError("a manifest id is a non-empty string (urn:c2pa:...)")
        with self._store.read() as tx:
            row = tx.manifest(manifest_id)
        if row is None:
            raise NotFoundError(f"no manifest {manifest_id} in the registry")
        return _record(row)

    def records(self) -> list[RegistryRecord]:
        with self._store.read() as tx:
            return [_record(r) for r in tx.manifests()]

    def allocate_payload(self) -> int:
        """A fresh random 32-bit payload, reserved so no other generation gets it."""
        with self._store.write() as tx:
            for _ in range(_ALLOCATION_TRIES):
                candidate = check_payload(secrets.randbits(32))
                # Checked and reserved in one write transaction: two processes cannot
                # both see a payload as free.
                if tx.reserve_payload(candidate, utc_now()):
                    return candidate
        raise PayloadConflictError("could not allocate a free watermark payload")


def allocate_payload(home: VoxSealHome) -> int:
    """A fresh 32-bit payload not yet in the registry of `home` (reserved on return)."""
    with Registry(home) as reg:
        return reg.allocate_payload()


def open_registry(home: VoxSealHome) -> Registry:
    return Registry(home)
