"""The transparency log: roots and proofs against an independent implementation,
signed checkpoints, and tampering with records, both naive and by someone who holds
the log key and rebuilds a self-consistent log (caught by the consistency proof)."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from test_provenance_merkle import RefTree
from test_provenance_support import SR, make_info, tone, write_audio

import provenance as P
from provenance.log import TransparencyLog


@pytest.fixture()
def home(tmp_path: Path) -> P.VoxSealHome:
    h = P.init_home(tmp_path / "home")
    for i in range(3):
        path = tmp_path / f"g{i}.wav"
        y = write_audio(path, tone(0.05, seed=i))
        P.publish(h, path, make_info(h, P.allocate_payload(h)), y, SR)
    P.new_signer(h)  # two more key records: created + retired
    return h


def _entries(home) -> list[bytes]:
    with home.log() as log:
        return [log.entry(i).data for i in range(log.size())]


def _raw(home) -> sqlite3.Connection:
    return sqlite3.connect(home.db_path, isolation_level=None)


def test_root_and_every_proof_match_independent_implementation(home):
    data = _entries(home)
    ref = RefTree(data)
    n = len(data)
    assert n == 3 + 3 + 2  # init: log, watermark, signer; 3 generations; rotation
    with home.log() as log:
        head = log.head()
        assert head.size == n and head.root == ref.root(n)
        for i in range(n):
            proof = log.prove_inclusion(i)
            assert list(proof.hashes) == ref.path(i, 0, n)
            assert proof.verify() and P.verify_inclusion(proof.leaf_hash, i, n, proof.hashes,
                                                         ref.root(n))
        for old in range(0, n + 1):
            c = log.prove_consistency(old)
            assert c.old_root == ref.root(old) and c.new_root == ref.root(n)
            assert c.verify()
        records = [json.loads(d) for d in data]
    assert [r["type"] for r in records].count("org.voxseal.generation.v1") == 3
    for d in data:  # every leaf is RFC 8785 canonical JSON
        assert P.canonical_json(json.loads(d)) == d


def test_checkpoint_is_a_signed_note(home, tmp_path):
    with home.log() as log:
        head = log.head()
        assert head.note.startswith(f"{log.origin}\n{head.size}\n")
        assert "\n\n\u2014 " + log.origin + " " in head.note
        assert log.open_checkpoint(head.note) == head
        with pytest.raises(P.LogIntegrityError):
            log.open_checkpoint(head.note.replace(f"\n{head.size}\n", f"\n{head.size + 1}\n"))
    other = P.init_home(tmp_path / "other")
    with other.log() as olog:
        foreign = olog.head().note
    with home.log() as log, pytest.raises(P.LogIntegrityError):
        log.verify(foreign)
    with home.log() as log:
        assert log.verify(head.note).consistent_with == head.size


def test_naively_altered_record_is_detected(home):
    db = _raw(home)
    db.execute("UPDATE log_entries SET record = replace(record, 'created', 'crafted') "
               "WHERE idx = 1")
    db.close()
    with home.log() as log, pytest.raises(P.LogIntegrityError, match="altered"):
        log.verify()


def test_naively_deleted_record_is_detected(home):
    db = _raw(home)
    db.execute("DELETE FROM log_entries WHERE idx = 2")
    db.close()
    with home.log() as log, pytest.raises(P.LogIntegrityError, match="missing"):
        log.verify()


def test_truncated_log_is_detected(home):
    db = _raw(home)
    n = db.execute("SELECT max(idx) FROM log_entries").fetchone()[0]
    db.execute("DELETE FROM log_entries WHERE idx = ?", (n,))
    db.execute("DELETE FROM log_nodes WHERE level = 0 AND idx = ?", (n,))
    db.close()
    with home.log() as log, pytest.raises(P.LogIntegrityError):
        log.verify()


def _rewrite(home: P.VoxSealHome, transform) -> None:
    """What an insider holding the log key could do: rebuild and re-sign the whole log."""
    store = home.open_store()
    log = TransparencyLog(store, signing_key=home.load_log_key())
    try:
        with store.write() as tx:
            db = store._db
            db.execute("PRAGMA defer_foreign_keys = ON")
            records = [json.loads(d) for _, d in tx.entries()]
            for table in ("log_entries", "log_nodes", "checkpoints"):
                db.execute(f"DELETE FROM {table}")
            for rec in transform(records, db):
                log._append(tx, rec)
    finally:
        store.close()


def test_rewritten_log_with_altered_record_fails_consistency_proof(home):
    with home.log() as log:
        saved = log.head().note  # a checkpoint someone kept

    def alter(records, db):
        records[2] = dict(records[2], subject="O=Evil,CN=Not who signed")
        return records

    _rewrite(home, alter)
    with home.log() as log:
        log.verify()  # self-consistent: without a saved checkpoint this goes unnoticed...
        with pytest.raises(P.LogIntegrityError, match="consistency proof"):
            log.verify(saved)  # ...but the saved checkpoint catches it


def test_rewritten_log_with_deleted_record_fails_consistency_proof(home):
    with home.log() as log:
        saved = log.head().note

    def delete(records, db):
        del records[1]  # the "watermark key created" record
        db.execute("UPDATE manifests SET log_index = log_index - 1 WHERE log_index > 1")
        # ...and append one more so the log is not shorter than the saved checkpoint.
        return records + [dict(records[-1], time="2030-01-01T00:00:00Z")]

    _rewrite(home, delete)
    with home.log() as log:
        log.verify()
        with pytest.raises(P.LogIntegrityError, match="consistency proof"):
            log.verify(saved)


def test_rewritten_shorter_log_is_detected(home):
    with home.log() as log:
        saved = log.head().note
    _rewrite(home, lambda records, db: records[:-1])
    with home.log() as log, pytest.raises(P.LogIntegrityError, match="deleted"):
        log.verify(saved)


def test_registry_row_deleted_or_altered_is_detected(home):
    with home.registry() as reg:
        victim = reg.records()[1]
    db = _raw(home)
    db.execute("UPDATE manifests SET pcm_sha256 = ? WHERE manifest_id = ?",
               ("0" * 64, victim.manifest_id))
    db.close()
    with home.log() as log, pytest.raises(P.LogIntegrityError, match="pcm_sha256"):
        log.verify()
    db = _raw(home)
    db.execute("DELETE FROM soft_bindings WHERE manifest_id = ?", (victim.manifest_id,))
    db.execute("DELETE FROM manifests WHERE manifest_id = ?", (victim.manifest_id,))
    db.close()
    with home.log() as log, pytest.raises(P.LogIntegrityError, match="no longer holds"):
        log.verify()
