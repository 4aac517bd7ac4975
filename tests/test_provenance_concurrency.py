"""Concurrent appenders and crashes: the registry and the log stay consistent.

Workers are separate processes (python -c) that publish real C2PA-signed WAV files
through the public API, exactly like the generator will. Every wait is bounded.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_provenance_merkle import RefTree
from test_provenance_support import SR, make_info, tone, write_audio

import provenance as P

TESTS_DIR = str(Path(__file__).resolve().parent)
REPO = str(Path(__file__).resolve().parents[1])

WORKER = r"""
import os, sys, time
from pathlib import Path
sys.path[:0] = [sys.argv[5], sys.argv[6]]
from test_provenance_support import SR, make_info, tone, write_audio
import provenance as P

home = P.open_home(sys.argv[1])
out, n, name = Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
kill_at = int(os.environ.get("VOXSEAL_TEST_KILL_AT", "0"))
if kill_at:
    # Die *inside* the append transaction of publish number kill_at: after the leaf
    # and tree nodes are written, while the checkpoint is being signed, before COMMIT.
    import signal
    from provenance._internal import signed_note
    real, calls = signed_note.sign_note, [0]
    def dying_sign_note(*a, **kw):
        calls[0] += 1
        if calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*a, **kw)
    signed_note.sign_note = dying_sign_note
deadline = time.monotonic() + 30
while not (out / "go").exists() and time.monotonic() < deadline:
    time.sleep(0.005)
with open(out / f"committed-{name}.txt", "a") as progress:
    for i in range(n):
        path = out / f"{name}-{i}.wav"
        y = tone(0.02, seed=i)
        write_audio(path, y)
        rec = P.publish(home, path, make_info(home, P.allocate_payload(home)), y, SR)
        # Written only after publish returned, i.e. after the commit.
        progress.write(rec.manifest_id + "\n")
        progress.flush()
        os.fsync(progress.fileno())
"""


def _spawn(home: P.VoxSealHome, out: Path, n: int, name: str, **env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(home.path), str(out), str(n), name, TESTS_DIR, REPO],
        env=dict(os.environ, OMP_NUM_THREADS="1", **env),
        stderr=subprocess.PIPE,
    )


def _committed(out: Path, name: str) -> list[str]:
    f = out / f"committed-{name}.txt"
    return f.read_text().split() if f.exists() else []


def _wait(procs: list[subprocess.Popen], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail(f"workers did not finish within {timeout} s")


def test_four_processes_append_200_records_each(tmp_path):
    home = P.init_home(tmp_path / "home")
    out = tmp_path / "out"
    out.mkdir()
    procs = [_spawn(home, out, 200, f"w{i}") for i in range(4)]
    time.sleep(0.5)
    (out / "go").touch()  # all four start appending at once
    _wait(procs, timeout=150)
    for p in procs:
        assert p.returncode == 0, p.stderr.read().decode()[-2000:]
    ids = [m for i in range(4) for m in _committed(out, f"w{i}")]
    assert len(ids) == 800 and len(set(ids)) == 800

    with home.registry() as reg:
        records = reg.records()
        assert {r.manifest_id for r in records} == set(ids)
        payloads = [r.payload for r in records]
        assert len(set(payloads)) == 800
        for r in records[::50]:
            assert reg.resolve_payload(r.payload) == [r.manifest_id]
    with home.log() as log:
        result = log.verify()
        assert result.size == 3 + 800 and result.manifests_checked == 800
        head = log.head()
        data = [log.entry(i).data for i in range(head.size)]
        ref = RefTree(data)  # independent implementation
        assert head.root == ref.root(head.size)
        assert sorted(r.log_index for r in records) == list(range(3, 803))
        for r in records:
            proof = log.prove_inclusion(r.log_index, head.size)
            assert proof.verify(), r.log_index
            assert list(proof.hashes) == ref.path(r.log_index, 0, head.size)
            assert log.entry(r.log_index).record["manifest_id"] == r.manifest_id
    for i in range(4):  # one file per worker end to end
        assert P.verify_manifest(out / f"w{i}-199.wav", home.trust_anchors_pem()).trusted


def test_sigkill_while_appending_keeps_every_committed_record(tmp_path):
    home = P.init_home(tmp_path / "home")
    out = tmp_path / "out"
    out.mkdir()
    (out / "go").touch()
    proc = _spawn(home, out, 10_000, "victim")
    deadline = time.monotonic() + 60
    while len(_committed(out, "victim")) < 12 and time.monotonic() < deadline:
        time.sleep(0.01)
    with home.log() as log:
        saved = log.head().note  # a checkpoint taken while the writer runs
    time.sleep(0.013)  # land somewhere in the middle of a later append
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    committed = _committed(out, "victim")
    assert len(committed) >= 12

    with home.registry() as reg:
        held = {r.manifest_id for r in reg.records()}
    assert set(committed) <= held
    assert len(held - set(committed)) <= 1  # killed between commit and progress line
    with home.log() as log:
        result = log.verify(saved)
        assert result.manifests_checked == len(held)
    # The home keeps working after the crash.
    path = tmp_path / "after.wav"
    y = write_audio(path, tone(0.05, seed=99))
    rec = P.publish(home, path, make_info(home, P.allocate_payload(home)), y, SR)
    with home.log() as log:
        assert log.verify(saved).size == rec.log_index + 1
    assert P.verify_manifest(path, home.trust_anchors_pem()).trusted


def test_sigkill_inside_the_append_transaction(tmp_path):
    home = P.init_home(tmp_path / "home")
    out = tmp_path / "out"
    out.mkdir()
    (out / "go").touch()
    proc = _spawn(home, out, 5, "inside", VOXSEAL_TEST_KILL_AT="3")
    _wait([proc], timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    committed = _committed(out, "inside")
    assert len(committed) == 2
    # The third file was being signed: its original bytes are untouched, no manifest.
    third = out / "inside-2.wav"
    assert not P.verify_manifest(third).found
    with home.registry() as reg:
        assert [r.manifest_id for r in reg.records()] == committed
    with home.log() as log:
        result = log.verify()
        assert result.size == 3 + 2 and result.checkpoints_checked == 5
    rec = P.publish(home, third, make_info(home, P.allocate_payload(home)),
                    tone(0.02, seed=2), SR)
    assert rec.log_index == 5
    with home.log() as log:
        assert log.verify().size == 6
