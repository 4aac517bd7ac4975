"""C2PA manifests: sign, embed, read back, tamper, trust, sidecars, registry lookups."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from test_provenance_support import (
    MODEL_NAME,
    SR,
    decode,
    make_info,
    riff_data_offset,
    signature_offset,
    tone,
    write_audio,
)

import provenance as P
from provenance._internal import c2pa_io


@pytest.fixture()
def home(tmp_path: Path) -> P.VoxSealHome:
    return P.init_home(tmp_path / "home")


def _publish(home, path: Path, seconds=0.25, seed=0, **over):
    y = write_audio(path, tone(seconds, seed))
    payload = over.pop("payload", "alloc")
    if payload == "alloc":
        payload = P.allocate_payload(home)
    info = make_info(home, payload, **over)
    return P.publish(home, path, info, y, SR), info


def _ext_cert(subject, key, issuer_name, issuer_key, *, ca=False, eku=True, aki=True,
              days=(-1, 30)):
    now = dt.datetime.now(dt.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_name or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + dt.timedelta(days=days[0]))
        .not_valid_after(now + dt.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if eku and not ca:
        b = b.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
    if aki and not ca:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    if not ca:
        b = b.add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
    else:
        b = b.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
    return b.sign(issuer_key, hashes.SHA256())


def _pem(cert) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _external_pki():
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _ext_cert("External Root", root_key, None, root_key, ca=True, days=(-1, 3650))
    return root_key, root


# -- sign -> embed -> read back ----------------------------------------------------------


@pytest.mark.parametrize("ext", ["wav", "mp3", "flac"])
def test_sign_embed_read_back_trusted(home, tmp_path, ext):
    path = tmp_path / f"gen.{ext}"
    rec, info = _publish(home, path)
    assert c2pa_io.sniff_format(path.read_bytes()) == ext
    report = P.verify_manifest(path, home.trust_anchors_pem())
    assert report.state == "Trusted" and report.trusted and report.errors == ()
    assert P.require_trusted(report) is report
    assert report.manifest_id == rec.manifest_id and report.source == "embedded"
    assert report.soft_binding == ("org.voxseal.watermark.v1", f"{info.payload:08x}")
    assert report.payload == info.payload == rec.payload
    g = report.generation
    assert g == info.to_assertion()
    assert g["model_name"] == MODEL_NAME and g["seed"] == str(2**63 + 7)
    assert g["key_id"] == home.load_watermark_key().key_id and "text" not in g
    active = report.store["manifests"][report.manifest_id]
    actions = next(a for a in active["assertions"] if a["label"].startswith("c2pa.actions"))
    created = actions["data"]["actions"][0]
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"].endswith("/trainedAlgorithmicMedia")
    assert "c2pa.watermarked" in [a["action"] for a in actions["data"]["actions"]]
    # The registry resolves it by every key, and the stored store is the embedded one.
    assert P.pcm_sha256(decode(path)) == rec.pcm_sha256
    assert hashlib.sha256(path.read_bytes()).hexdigest() == rec.file_sha256
    with home.registry() as reg:
        assert reg.resolve_binding("org.voxseal.watermark.v1", f"{info.payload:08x}") == [
            rec.manifest_id]
        assert reg.resolve_payload(info.payload) == [rec.manifest_id]
        assert reg.match_file_sha256(rec.file_sha256) == [rec.manifest_id]
        assert reg.match_pcm_sha256(rec.pcm_sha256) == [rec.manifest_id]
        stored = reg.get_manifest(rec.manifest_id)
    assert stored.manifest_store == c2pa_io.extract_store(path.read_bytes())
    assert stored.generation == info.to_assertion() and stored.format == ext
    with home.log() as log:
        entry = log.entry(rec.log_index)
        assert entry.record["manifest_id"] == rec.manifest_id
        assert log.prove_inclusion(rec.log_index).verify()


def test_sidecar_round_trip(home, tmp_path):
    path = tmp_path / "side.wav"
    y = write_audio(path, tone())
    before = path.read_bytes()
    info = make_info(home, P.allocate_payload(home))
    rec = P.publish(home, path, info, y, SR, embed=False)
    assert path.read_bytes() == before  # the audio is untouched
    sidecar = tmp_path / "side.c2pa"
    assert rec.sidecar_path == str(sidecar) and sidecar.is_file()
    report = P.verify_manifest(path, home.trust_anchors_pem())
    assert report.trusted and report.source == "sidecar"
    assert report.manifest_id == rec.manifest_id
    # Explicit sidecar path, after moving it elsewhere.
    moved = tmp_path / "elsewhere.c2pa"
    sidecar.rename(moved)
    assert not P.verify_manifest(path, home.trust_anchors_pem()).found
    assert P.verify_manifest(path, home.trust_anchors_pem(), sidecar=moved).trusted
    # A changed audio byte breaks the sidecar's hard binding too.
    tampered = bytearray(before)
    off, size = riff_data_offset(before)
    tampered[off + size // 2] ^= 0x01
    path.write_bytes(bytes(tampered))
    bad = P.verify_manifest(path, home.trust_anchors_pem(), sidecar=moved)
    assert bad.state == "Invalid" and "assertion.dataHash.mismatch" in bad.errors


def test_export_c2pa_and_json(home, tmp_path):
    path = tmp_path / "e.flac"
    rec, _ = _publish(home, path)
    out = P.export_manifest(path, "c2pa", tmp_path / "e.c2pa")
    with home.registry() as reg:
        assert out.read_bytes() == reg.get_manifest(rec.manifest_id).manifest_store
    doc = json.loads(P.export_manifest(path, "json", tmp_path / "e.json",
                                       home.trust_anchors_pem()).read_text())
    assert doc["manifest_id"] == rec.manifest_id and doc["state"] == "Trusted"
    assert doc["manifest_store"]["active_manifest"] == rec.manifest_id
    # The exported store validates the signed file as an external manifest too.
    assert P.verify_manifest(path, home.trust_anchors_pem(), sidecar=out).trusted


# -- tampering: each case on its own -----------------------------------------------------


def _signed_wav(home, tmp_path) -> tuple[Path, bytes]:
    path = tmp_path / "t.wav"
    _publish(home, path)
    return path, path.read_bytes()


def test_tamper_one_audio_byte(home, tmp_path):
    path, data = _signed_wav(home, tmp_path)
    off, size = riff_data_offset(data)
    t = bytearray(data)
    t[off + size // 3] ^= 0x01
    path.write_bytes(bytes(t))
    report = P.verify_manifest(path, home.trust_anchors_pem())
    assert report.found and report.state == "Invalid" and not report.trusted
    assert "assertion.dataHash.mismatch" in report.errors
    with pytest.raises(P.ManifestInvalidError, match="dataHash.mismatch"):
        P.require_trusted(report)


def test_tamper_assertion_edited(home, tmp_path):
    path, data = _signed_wav(home, tmp_path)
    store = c2pa_io.extract_store(data)
    assert MODEL_NAME.encode() in store
    path.write_bytes(data.replace(MODEL_NAME.encode(), MODEL_NAME[:-1].encode() + b"X", 1))
    report = P.verify_manifest(path, home.trust_anchors_pem())
    assert report.state == "Invalid" and not report.trusted
    assert "assertion.hashedURI.mismatch" in report.errors
    with pytest.raises(P.ManifestInvalidError):
        P.require_trusted(report)


def test_tamper_signature_byte_flipped(home, tmp_path):
    path, data = _signed_wav(home, tmp_path)
    t = bytearray(data)
    t[signature_offset(data) + 17] ^= 0xFF
    path.write_bytes(bytes(t))
    report = P.verify_manifest(path, home.trust_anchors_pem())
    assert report.state == "Invalid" and not report.trusted
    assert "claimSignature.mismatch" in report.errors
    with pytest.raises(P.ManifestInvalidError):
        P.require_trusted(report)


def test_untrusted_chain_is_valid_but_never_success(home, tmp_path):
    path, _ = _signed_wav(home, tmp_path)
    _, other_root = _external_pki()
    report = P.verify_manifest(path, _pem(other_root))
    assert report.state == "Valid" and report.errors == ("signingCredential.untrusted",)
    assert not report.trusted
    with pytest.raises(P.ManifestUntrustedError):
        P.require_trusted(report)
    no_anchor = P.verify_manifest(path, None)
    assert no_anchor.state == "Valid" and not no_anchor.trusted
    with pytest.raises(P.TrustAnchorError):
        P.verify_manifest(path, "not a certificate")


def test_file_without_manifest(home, tmp_path):
    path = tmp_path / "plain.wav"
    write_audio(path, tone())
    report = P.verify_manifest(path, home.trust_anchors_pem())
    assert not report.found and report.state is None and not report.trusted
    with pytest.raises(P.NoManifestError):
        P.require_trusted(report)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(P.AudioFileError):
        P.verify_manifest(tmp_path / "notes.txt")
    with pytest.raises(P.AudioFileError):
        P.verify_manifest(tmp_path / "missing.wav")


# -- what the manifest says ------------------------------------------------------------------


def test_unwatermarked_output_says_so(home, tmp_path):
    path = tmp_path / "eval.wav"
    rec, info = _publish(home, path, payload=None, watermarked=False)
    report = P.verify_manifest(path, home.trust_anchors_pem())
    assert report.trusted and report.soft_binding is None and report.payload is None
    assert report.generation["watermarked"] is False and report.generation["payload"] is None
    active = report.store["manifests"][report.manifest_id]
    actions = next(a for a in active["assertions"] if a["label"].startswith("c2pa.actions"))
    assert [a["action"] for a in actions["data"]["actions"]] == ["c2pa.created"]
    assert rec.payload is None
    with home.registry() as reg:
        assert reg.match_pcm_sha256(rec.pcm_sha256) == [rec.manifest_id]


def test_text_only_on_opt_in(home, tmp_path):
    text = "Bonjour, ceci est généré."
    rec, _ = _publish(home, tmp_path / "t.wav", text_sha256=P.text_sha256(text), text=text)
    g = P.verify_manifest(tmp_path / "t.wav", home.trust_anchors_pem()).generation
    assert g["text"] == text and g["text_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    with pytest.raises(P.InvalidInputError, match="text_sha256"):
        make_info(home, 1, text="something else").validate()


@pytest.mark.parametrize(
    "over,match",
    [
        ({"checkpoint_sha256": "xyz"}, "checkpoint_sha256"),
        ({"payload": 2**32}, "32 bits"),
        ({"payload": None}, "needs its payload"),
        ({"watermarked": False}, "carries no payload"),
        ({"consent_reference": None}, "consent"),
        ({"watermark_params": {"big": 2**60}}, "canonical JSON"),
        ({"created": "2026-01-01T00:00:00+02:00"}, "UTC"),
        ({"key_id": "secret-key-material"}, "key_id"),
        ({"model_name": " "}, "model_name"),
    ],
)
def test_generation_info_rejects_bad_fields(home, tmp_path, over, match):
    path = tmp_path / "x.wav"
    y = write_audio(path, tone())
    before = path.read_bytes()
    info = make_info(home, over.pop("payload", 5), **over)
    with pytest.raises(P.InvalidInputError, match=match):
        P.publish(home, path, info, y, SR)
    assert path.read_bytes() == before


def test_generation_info_round_trips():
    info = P.GenerationInfo(
        model_name="m", model_version="1", checkpoint_sha256="a" * 64, codec_id="c",
        watermark_scheme="s", key_id="0123456789abcdef", text_sha256="b" * 64, seed=2**64 + 1,
        payload=0xFFFFFFFF,
    )
    info.validate()
    assert P.GenerationInfo.from_assertion(info.to_assertion()) == info
    assert P.canonical_json({"x": info.to_assertion()["seed"]}) == b'{"x":"18446744073709551617"}'


# -- PCM hash, stripping, payloads -----------------------------------------------------------


def test_pcm_hash_survives_remux_and_stripping(home, tmp_path):
    path = tmp_path / "orig.wav"
    rec, info = _publish(home, path)
    # Strip all metadata by re-muxing the decoded audio into FLAC and a fresh WAV.
    for ext in ("flac", "wav"):
        stripped = tmp_path / f"stripped.{ext}"
        write_audio(stripped, np.round(decode(path) * 32768).astype(np.int16))
        assert not P.verify_manifest(stripped).found
        assert P.pcm_sha256(decode(stripped)) == rec.pcm_sha256
        with home.registry() as reg:
            assert reg.match_pcm_sha256(P.pcm_sha256(decode(stripped))) == [rec.manifest_id]
            assert reg.resolve_payload(info.payload) == [rec.manifest_id]  # via watermark
    x = tone()
    assert P.pcm_sha256(x) == P.pcm_sha256(x.astype(np.float32) / 32768.0)
    with pytest.raises(P.InvalidInputError):
        P.pcm_sha256(np.zeros((10, 2), dtype=np.float32))
    with pytest.raises(P.InvalidInputError):
        P.pcm_sha256(np.array([np.nan], dtype=np.float32))


def test_payloads_are_unique_and_conflicts_refused(home, tmp_path):
    with home.registry() as reg:
        payloads = {reg.allocate_payload() for _ in range(100)}
    assert len(payloads) == 100 and all(0 <= p < 2**32 for p in payloads)
    rec, info = _publish(home, tmp_path / "a.wav")
    second = tmp_path / "b.wav"
    y = write_audio(second, tone(seed=3))
    before = second.read_bytes()
    with pytest.raises(P.PayloadConflictError):
        P.publish(home, second, make_info(home, info.payload), y, SR)
    assert second.read_bytes() == before
    with home.registry() as reg:
        assert reg.resolve_payload(info.payload) == [rec.manifest_id]
    with home.log() as log:
        assert log.verify().manifests_checked == 1


def test_refuses_to_resign(home, tmp_path):
    path = tmp_path / "a.wav"
    _publish(home, path)
    with pytest.raises(P.AudioFileError, match="already carries"):
        P.publish(home, path, make_info(home, P.allocate_payload(home)), decode(path), SR)


# -- signers ------------------------------------------------------------------------------------


class FakeKMS:
    """Holds the key 'remotely'; returns raw r||s like some HSMs (others return DER)."""

    def __init__(self, key, raw: bool) -> None:
        self._key, self.raw, self.calls = key, raw, 0

    def sign(self, data: bytes) -> bytes:
        self.calls += 1
        der = self._key.sign(data, ec.ECDSA(hashes.SHA256()))
        if not self.raw:
            return der
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@pytest.mark.parametrize("raw", [False, True])
def test_callback_signer_kms(home, tmp_path, raw):
    root_key, root = home.load_root_ca()
    from provenance._internal import pki

    leaf_key, leaf = pki.issue_signer(root_key, root, "KMS Signer")
    kms = FakeKMS(leaf_key, raw)
    signer = P.CallbackSigner(kms.sign, _pem(leaf) + _pem(root))
    path = tmp_path / "k.wav"
    y = write_audio(path, tone())
    rec = P.publish(home, path, make_info(home, P.allocate_payload(home)), y, SR, signer=signer)
    assert kms.calls == 1 and rec.signer_id == signer.signer_id
    assert P.verify_manifest(path, home.trust_anchors_pem()).trusted


def test_failing_callback_signer_changes_nothing(home, tmp_path, capfd):
    def refuse(_data: bytes) -> bytes:
        raise RuntimeError("HSM is offline")

    _, root = home.load_root_ca()
    chain = (home.signer_dir(P.keys.active_signer_id(home)) / "chain.pem").read_text()
    path = tmp_path / "k.wav"
    y = write_audio(path, tone())
    before = path.read_bytes()
    with pytest.raises(P.SignerError, match="HSM is offline"):
        P.publish(home, path, make_info(home, 9), y, SR, signer=P.CallbackSigner(refuse, chain))
    assert path.read_bytes() == before
    with home.registry() as reg:
        assert reg.records() == []
    assert capfd.readouterr().err == ""  # the reason is in the error, not logged aside


def test_import_external_pki_signer(home, tmp_path):
    root_key, root = _external_pki()
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _ext_cert("Studio Signer", leaf_key, root.subject, root_key)
    info = P.import_signer(home, _pem(leaf) + _pem(root), _key_pem(leaf_key), _pem(root))
    assert info.status == "active" and info.detail["source"] == "imported"
    assert _pem(root) in home.trust_anchors_pem()
    path = tmp_path / "imp.mp3"
    rec, _ = _publish(home, path)
    report = P.verify_manifest(path, home.trust_anchors_pem())
    assert report.trusted and report.signer["common_name"] == "Studio Signer"
    assert P.verify_manifest(path, _pem(root)).trusted  # the external root alone suffices
    assert rec.signer_id == info.key_id
    statuses = {k.key_id: k.status for k in P.list_keys(home) if k.kind == "signer"}
    assert list(statuses.values()).count("active") == 1


@pytest.mark.parametrize("case", ["self-signed", "no-eku", "no-aki", "expired", "wrong-key"])
def test_import_refuses_certificates_c2pa_would_reject(home, case):
    root_key, root = _external_pki()
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    if case == "self-signed":
        leaf = _ext_cert("Self", leaf_key, None, leaf_key)
    elif case == "no-eku":
        leaf = _ext_cert("NoEKU", leaf_key, root.subject, root_key, eku=False)
    elif case == "no-aki":
        leaf = _ext_cert("NoAKI", leaf_key, root.subject, root_key, aki=False)
    elif case == "expired":
        leaf = _ext_cert("Old", leaf_key, root.subject, root_key, days=(-30, -1))
    else:
        leaf = _ext_cert("Mismatch", ec.generate_private_key(ec.SECP256R1()), root.subject,
                         root_key)
    before = [k.to_dict() for k in P.list_keys(home)]
    with pytest.raises(P.SignerError):
        P.import_signer(home, _pem(leaf) + _pem(root), _key_pem(leaf_key), _pem(root))
    assert [k.to_dict() for k in P.list_keys(home)] == before


def test_rotation_and_retirement(home, tmp_path):
    old_path = tmp_path / "old.wav"
    _publish(home, old_path)
    old_id = P.keys.active_signer_id(home)
    new = P.new_signer(home)
    assert new.key_id != old_id
    statuses = {k.key_id: k.status for k in P.list_keys(home) if k.kind == "signer"}
    assert statuses == {old_id: "retired", new.key_id: "active"}
    assert P.verify_manifest(old_path, home.trust_anchors_pem()).trusted  # still verifies
    rec, _ = _publish(home, tmp_path / "new.wav", seed=1)
    assert rec.signer_id == new.key_id
    P.retire_signer(home, new.key_id)
    with pytest.raises(P.SignerError, match="keys new"):
        _publish(home, tmp_path / "none.wav", seed=2)
    with pytest.raises(P.NotFoundError):
        P.retire_signer(home, "0000000000000000")
    with home.log() as log:
        kinds = [log.entry(i).record.get("event") for i in range(log.size())]
    assert kinds.count("retired") == 2
