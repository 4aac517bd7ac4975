"""The `voxseal` provenance commands through click's CliRunner against cli.main."""
from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_provenance_merkle import RefTree
from test_provenance_support import (
    SR,
    make_info,
    riff_data_offset,
    snapshot,
    tone,
    write_audio,
)

import provenance as P
from cli import main


@pytest.fixture()
def env(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("VOXSEAL_HOME", str(home))
    monkeypatch.delenv("VOXSEAL_DEBUG", raising=False)
    return home


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == code, (result.exit_code, result.output)
    if code not in (0, 2):
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("voxseal: error: "), result.stderr
    return result


def _published(env: Path, tmp_path: Path, name="a.wav", seed=0):
    home = P.open_home(env)
    path = tmp_path / name
    y = write_audio(path, tone(0.1, seed))
    info = make_info(home, P.allocate_payload(home))
    return home, path, P.publish(home, path, info, y, SR), info


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_init_creates_private_home_and_is_idempotent(env):
    out = run("init").output
    assert "created   keys/watermark.key" in out
    home = P.open_home(env)
    for d in (env, home.keys_dir, home.ca_dir, home.signers_dir,
              *home.signers_dir.iterdir()):
        assert _mode(d) == 0o700, d
    secrets = [home.watermark_key_path, home.log_key_path, home.root_key_path, home.db_path,
               *home.signers_dir.glob("*/key.pem")]
    for f in secrets:
        assert _mode(f) == 0o600, f
    before = snapshot(env)
    assert "already initialised" in run("init").output
    assert snapshot(env) == before
    doc = json.loads(run("init", "--json").output)
    assert doc["created"] == [] and doc["home"] == str(env)


def test_keys_commands(env, tmp_path):
    run("init")
    keys = json.loads(run("keys", "list", "--json").output)
    assert [k["kind"] for k in keys] == ["watermark", "log", "signer"]
    old = keys[2]["key_id"]
    assert "watermark" in run("keys", "list").output
    new = json.loads(run("keys", "new", "--json").output)["key_id"]
    statuses = {k["key_id"]: k["status"] for k in json.loads(run("keys", "list", "--json").output)
                if k["kind"] == "signer"}
    assert statuses == {old: "retired", new: "active"}
    pem = run("keys", "trust-anchor").output
    assert pem == P.open_home(env).root_cert_path.read_text()
    run("keys", "trust-anchor", "-o", str(tmp_path / "root.pem"))
    assert (tmp_path / "root.pem").read_text() == pem
    run("keys", "retire", new)
    run("keys", "retire", new, code=18)  # already retired
    run("keys", "retire", "ffffffffffffffff", code=16)
    run("keys", "new", "--days", "0", code=18)


def test_manifest_show_verify_export(env, tmp_path):
    run("init")
    home, path, rec, info = _published(env, tmp_path)
    shown = json.loads(run("manifest", "show", str(path), "--json").output)
    assert shown["state"] == "Trusted" and shown["manifest_id"] == rec.manifest_id
    assert shown["soft_binding"]["value"] == f"{info.payload:08x}"
    text = run("manifest", "show", str(path)).output
    assert "TRUSTED" in text and "consent:speaker-042" in text
    run("keys", "trust-anchor", "-o", str(tmp_path / "root.pem"))
    assert "TRUSTED" in run("manifest", "verify", str(path)).output
    run("manifest", "verify", str(path), "--trust", str(tmp_path / "root.pem"))
    run("manifest", "verify", str(path), "--expect-payload", f"{info.payload:08x}",
        "--require-generation")
    run("manifest", "verify", str(path), "--expect-payload", f"{(info.payload + 1) % 2**32:08x}",
        code=24)
    run("manifest", "export", str(path), "--format", "c2pa", "-o", str(tmp_path / "a.c2pa"))
    run("manifest", "export", str(path), "--format", "json", "-o", str(tmp_path / "a.json"))
    assert json.loads((tmp_path / "a.json").read_text())["manifest_id"] == rec.manifest_id
    run("manifest", "verify", str(path), "--sidecar", str(tmp_path / "a.c2pa"))
    run("manifest", "export", str(path), "--format", "xml", "-o", "x", code=2)


def test_verify_exit_code_for_each_failure_kind(env, tmp_path):
    run("init")
    home, path, _, _ = _published(env, tmp_path)
    data = path.read_bytes()
    other = P.init_home(tmp_path / "other")  # someone else's CA
    other_root = tmp_path / "other-root.pem"
    other_root.write_text(other.root_cert_path.read_text())

    r = run("manifest", "verify", str(path), "--trust", str(other_root), code=22)
    assert "does not chain" in r.stderr
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    run("manifest", "verify", str(path), "--trust", str(garbage), code=23)
    run("manifest", "verify", str(path), "--trust", str(tmp_path / "nope.pem"), code=23)

    off, size = riff_data_offset(data)
    tampered = bytearray(data)
    tampered[off + size // 2] ^= 1
    bad = tmp_path / "tampered.wav"
    bad.write_bytes(bytes(tampered))
    r = run("manifest", "verify", str(bad), code=21)
    assert "assertion.dataHash.mismatch" in r.stderr
    assert run("manifest", "show", str(bad)).exit_code == 0  # show informs, verify gates

    plain = tmp_path / "plain.wav"
    write_audio(plain, tone())
    run("manifest", "verify", str(plain), code=20)
    run("manifest", "show", str(plain), code=20)
    (tmp_path / "x.txt").write_text("not audio")
    run("manifest", "verify", str(tmp_path / "x.txt"), code=19)
    run("manifest", "verify", str(tmp_path / "missing.wav"), code=19)
    run("manifest", "verify", code=2)


def test_verify_without_home_needs_trust(tmp_path, monkeypatch, env):
    run("init")
    _, path, _, _ = _published(env, tmp_path)
    root = tmp_path / "root.pem"
    root.write_text(run("keys", "trust-anchor").output)
    monkeypatch.setenv("VOXSEAL_HOME", str(tmp_path / "elsewhere"))
    r = run("manifest", "verify", str(path), code=23)
    assert "--trust" in r.stderr
    run("manifest", "verify", str(path), "--trust", str(root))
    assert not (tmp_path / "elsewhere").exists()


def test_log_commands(env, tmp_path):
    run("init")
    home, path, rec, _ = _published(env, tmp_path)
    head = run("log", "head").output
    assert head.splitlines()[1] == "4" and "\n\n\u2014 " in head
    saved = tmp_path / "checkpoint.txt"
    saved.write_text(head)
    _published(env, tmp_path, "b.wav", seed=1)
    proof = json.loads(run("log", "prove", rec.manifest_id, "--json").output)
    assert proof["entry"]["index"] == rec.log_index == 3
    with home.log() as log:
        ref = RefTree([log.entry(i).data for i in range(log.size())])
    n = proof["proof"]["tree_size"]
    assert proof["proof"]["root"] == ref.root(n).hex()
    assert proof["proof"]["hashes"] == [h.hex() for h in ref.path(3, 0, n)]
    assert P.verify_inclusion(bytes.fromhex(proof["proof"]["leaf_hash"]), 3, n,
                              [bytes.fromhex(h) for h in proof["proof"]["hashes"]],
                              bytes.fromhex(proof["proof"]["root"]))
    assert "path[0]" in run("log", "prove", "0").output
    out = run("log", "verify", "--checkpoint", str(saved)).output
    assert "log OK: 5 entries" in out and "consistent with the saved checkpoint of size 4" in out
    run("log", "prove", "99", code=16)
    run("log", "prove", "urn:c2pa:nope", code=16)
    db = sqlite3.connect(home.db_path)
    db.execute("UPDATE log_entries SET record = CAST(replace(CAST(record AS TEXT), "
               "'watermark', 'watermarc') AS BLOB) WHERE idx = 1")
    db.commit()
    db.close()
    r = run("log", "verify", code=15)
    assert "altered" in r.stderr


def test_registry_commands(env, tmp_path):
    run("init")
    _, path, rec, info = _published(env, tmp_path)
    assert run("registry", "lookup", "--payload", f"{info.payload:08x}").output.split() == [
        rec.manifest_id]
    assert run("registry", "lookup", "--file", str(path)).output.split() == [rec.manifest_id]
    doc = json.loads(run("registry", "lookup", "--pcm-sha256", rec.pcm_sha256, "--json").output)
    assert doc == {"matches": [{"manifestId": rec.manifest_id}]}
    got = json.loads(run("registry", "get", rec.manifest_id, "--json").output)
    assert got["log_index"] == rec.log_index and got["generation"]["seed"] == str(2**63 + 7)
    run("registry", "lookup", "--payload", "zz", code=18)
    run("registry", "lookup", "--sha256", "0" * 64, code=16)
    run("registry", "lookup", "--sha256", "abc", code=18)
    run("registry", "lookup", code=2)
    run("registry", "get", "urn:c2pa:missing", code=16)


# -- hostile homes: one-line errors, non-zero exit, nothing overwritten --------------------


def test_missing_home(env):
    for args in (["keys", "list"], ["keys", "new"], ["keys", "trust-anchor"], ["log", "head"],
                 ["log", "verify"], ["registry", "get", "x"]):
        r = run(*args, code=10)
        assert "voxseal init" in r.stderr
    assert not env.exists()


def test_missing_key_refuses_then_force_replaces_without_losing_history(env, tmp_path):
    run("init")
    home, path, _, _ = _published(env, tmp_path)
    home.watermark_key_path.unlink()
    before = snapshot(env)
    r = run("init", code=11)
    assert "watermark.key" in r.stderr and "--force" in r.stderr
    assert snapshot(env) == before
    out = json.loads(run("init", "--force", "--json").output)
    assert "keys/watermark.key" in out["created"] and out["backup_dir"]
    # Old root stays trusted, so the earlier manifest still verifies; history is intact.
    run("manifest", "verify", str(path))
    run("log", "verify")
    keys = json.loads(run("keys", "list", "--json").output)
    assert [k["status"] for k in keys if k["kind"] == "signer"] == ["retired", "active"]


@pytest.mark.parametrize("victim", ["watermark", "log", "signer"])
def test_corrupt_key_is_one_line_error_and_nothing_is_overwritten(env, tmp_path, victim):
    run("init")
    home = P.open_home(env)
    path = {"watermark": home.watermark_key_path, "log": home.log_key_path,
            "signer": next(home.signers_dir.glob("*/key.pem"))}[victim]
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    before = snapshot(env)
    r = run("init", code=12)
    assert "nothing was changed" in r.stderr
    if victim == "log":
        run("keys", "new", code=12)
    audio = tmp_path / "a.wav"
    y = write_audio(audio, tone())
    original = audio.read_bytes()
    if victim != "watermark":  # publishing needs the signer key and the log key
        with pytest.raises(P.KeyFileError):
            P.publish(home, audio, make_info(home, 7, key_id="0" * 16), y, SR)
        assert audio.read_bytes() == original
    assert snapshot(env) == before


def test_corrupt_database_is_one_line_error_and_nothing_is_overwritten(env, tmp_path):
    run("init")
    home = P.open_home(env)
    home.db_path.write_bytes(b"this is not a database " * 200)
    before = snapshot(env)
    for args in (["init"], ["init", "--force"], ["keys", "list"], ["keys", "new"],
                 ["log", "head"], ["log", "verify"], ["registry", "lookup", "--sha256", "0" * 64]):
        r = run(*args, code=14)
        assert "corrupt" in r.stderr, r.stderr
    assert snapshot(env) == before
    audio = tmp_path / "a.wav"
    y = write_audio(audio, tone())
    original = audio.read_bytes()
    with pytest.raises(P.DatabaseError):
        P.publish(home, audio, make_info(home, 7), y, SR)
    assert audio.read_bytes() == original
    assert snapshot(env) == before


def test_help_teaches(env):
    verify_help = run("manifest", "verify", "--help").output
    for code in ("0 ", "19", "20", "21", "22", "23", "24"):
        assert f"  {code}" in verify_help
    assert "Trusted" in verify_help and "Valid" in verify_help
    assert "--force" in run("init", "--help").output
    assert "trust-anchor" in run("keys", "--help").output
    assert "consistency" in run("log", "--help").output or "saved" in run("log", "--help").output
    assert os.environ["VOXSEAL_HOME"] == str(env)


def test_keys_import_cli(env, tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec
    from test_provenance_manifest import _ext_cert, _external_pki, _key_pem, _pem

    run("init")
    root_key, root = _external_pki()
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _ext_cert("Studio Signer", leaf_key, root.subject, root_key)
    (tmp_path / "chain.pem").write_text(_pem(leaf) + _pem(root))
    (tmp_path / "key.pem").write_bytes(_key_pem(leaf_key))
    (tmp_path / "root.pem").write_text(_pem(root))
    before = snapshot(env)
    # Without the anchor the test signature is only "Valid": refused, nothing stored.
    r = run("keys", "import", "--cert", str(tmp_path / "chain.pem"), "--key",
            str(tmp_path / "key.pem"), code=13)
    assert "--anchor" in r.stderr
    assert snapshot(env) == before
    (tmp_path / "bad.pem").write_text("nonsense")
    run("keys", "import", "--cert", str(tmp_path / "bad.pem"), "--key",
        str(tmp_path / "key.pem"), code=13)
    run("keys", "import", "--cert", str(tmp_path / "chain.pem"), "--key",
        str(tmp_path / "bad.pem"), code=12)
    out = run("keys", "import", "--cert", str(tmp_path / "chain.pem"), "--key",
              str(tmp_path / "key.pem"), "--anchor", str(tmp_path / "root.pem")).output
    assert "now active" in out
    _, path, _, _ = _published(env, tmp_path)
    run("manifest", "verify", str(path), "--trust", str(tmp_path / "root.pem"))
    run("keys", "trust-anchor", "-o", str(tmp_path / "no" / "such" / "dir.pem"), code=25)
