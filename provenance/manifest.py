"""Sign generations into C2PA manifests, validate them, export them.

`publish` is the one write path: sign, self-check, then record the manifest in the
registry and the log in one transaction, and only then rename the signed file into
place. If anything fails before the commit, the original file is untouched and nothing
is recorded; a crash between commit and rename leaves a registry record whose file kept
its old bytes (harmless: the record still resolves, and no unrecorded manifest exists).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

from provenance._internal import c2pa_io, pki
from provenance._internal.store import ManifestRow
from provenance.errors import (
    AudioFileError,
    ExportError,
    InvalidInputError,
    ManifestInvalidError,
    ManifestUntrustedError,
    NoManifestError,
    PolicyError,
    SignerError,
    TrustAnchorError,
)
from provenance.home import VoxSealHome
from provenance.keys import load_active_signer
from provenance.log import GENERATION_RECORD, TransparencyLog
from provenance.models import (
    GENERATION_LABEL,
    SOFT_BINDING_ALG,
    GenerationInfo,
    ManifestReport,
    PublishedRecord,
    SoftBinding,
    payload_hex,
    sha256_hex,
    utc_now,
)
from provenance.policy import Policy
from provenance.signing import CallbackSigner
from synth.fileio import atomic_open, atomic_write_bytes, atomic_write_text

SIDECAR_SUFFIX = ".c2pa"


def _software() -> tuple[str, str]:
    try:
        from importlib.metadata import version

        return ("VoxSeal", version("voxseal"))
    except Exception:  # an uninstalled checkout still signs; the version is informative only
        return ("VoxSeal", "0+unknown")


def pcm_sha256(samples: np.ndarray) -> str:
    """SHA-256 of mono samples quantised to int16 little-endian.

    Float input is read as full scale ±1.0 (x * 32768, rounded, clipped), which is
    exactly how 16-bit PCM decodes, so a WAV/FLAC re-mux of the same audio hashes the
    same. int16 input is hashed as is.
    """
    a = np.asarray(samples)
    if a.ndim == 2 and 1 in a.shape:
        a = a.reshape(-1)
    if a.ndim != 1:
        raise InvalidInputError(f"pcm_sha256 takes mono (1-D) samples, got shape {a.shape}")
    if a.size == 0:
        raise InvalidInputError("no samples to hash")
    if a.dtype == np.int16:
        q = a
    elif np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)):
            raise InvalidInputError("samples contain NaN or infinity")
        q = np.clip(np.round(a.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)
    else:
        raise InvalidInputError(f"samples must be float or int16, not {a.dtype}")
    return hashlib.sha256(q.astype("<i2", copy=False).tobytes()).hexdigest()


def _read_audio(path: Path) -> tuple[bytes, str]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise AudioFileError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise AudioFileError(f"is a directory, not an audio file: {path}") from None
    except OSError as exc:
        raise AudioFileError(f"cannot read {path}: {exc.strerror}") from None
    fmt = c2pa_io.sniff_format(data)
    if fmt is None:
        raise AudioFileError(f"not a WAV, MP3 or FLAC file: {path}")
    return data, fmt


def _check_anchors(pem_text: str | None) -> str | None:
    if pem_text is None:
        return None
    try:
        certs = pki.load_certs(pem_text, "the trust anchor PEM")
    except ValueError as exc:
        raise TrustAnchorError(str(exc)) from None
    return "".join(pki.pem(c) for c in certs)


def publish(
    home: VoxSealHome,
    audio_path: str | os.PathLike,
    info: GenerationInfo,
    samples: np.ndarray,
    sample_rate: int,
    *,
    signer: CallbackSigner | None = None,
    embed: bool = True,
) -> PublishedRecord:
    """Sign `audio_path` (WAV/MP3/FLAC) with a C2PA manifest for `info` and record it.

    `samples` are the decoded mono samples of the file (for the PCM hash that survives
    re-muxing). With `embed=False` the file is left as is and the manifest is written
    next to it as `<name>.c2pa`. `signer` defaults to the home's active signer; pass a
    CallbackSigner to sign with a key held in a KMS/HSM.
    """
    info.validate()
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise InvalidInputError("sample_rate must be a positive int")
    pcm = pcm_sha256(samples)
    path = Path(audio_path)
    data, fmt = _read_audio(path)
    mime = c2pa_io.MIME[fmt]
    if c2pa_io.extract_store(data) is not None:
        raise AudioFileError(f"{path} already carries a C2PA manifest; publish records new "
                             "generations, it does not re-sign files")
    sidecar = path.with_name(path.stem + SIDECAR_SUFFIX) if not embed else None
    if sidecar is not None and sidecar.exists():
        raise AudioFileError(f"sidecar {sidecar} already exists; not overwriting it")

    anchors = home.trust_anchors_pem()
    # One connection for the whole publish: each close of a WAL database costs a sync.
    store = home.open_store()
    try:
        if signer is None:
            signer = load_active_signer(home, store)
        else:
            if signer.problems():
                raise SignerError(f"signer {signer.signer_id}: {signer.problems()[0]}")
            if signer.trust_anchor_pem:
                anchors += _check_anchors(signer.trust_anchor_pem) or ""
        log_key = home.load_log_key()  # before signing: a broken home must not half-publish

        soft = (SOFT_BINDING_ALG, payload_hex(info.payload)) if info.watermarked else None
        definition = c2pa_io.build_definition(
            title=path.name, mime=mime, generation=info.to_assertion(), soft_binding=soft,
            software=_software(), when=info.created, generation_label=GENERATION_LABEL,
        )
        signed = c2pa_io.sign(definition, mime, data, callback=signer.sign, alg=signer.alg,
                              chain_pem=signer.chain_pem, embed=embed)
        # Self-check: what we publish must validate as Trusted for our own verifiers.
        check = c2pa_io.read(mime, signed.asset, anchors_pem=anchors,
                             manifest_data=None if embed else signed.store)
        if check.state != "Trusted" or check.failures or check.store is None:
            raise SignerError(
                f"the signed manifest validates as {check.state} "
                f"({', '.join(check.failures) or 'no codes'}), not Trusted, against this home's "
                "trust anchors; import the signer's root (`voxseal keys import --anchor`)"
            )
        manifest_id = check.store["active_manifest"]
        file_sha = sha256_hex(signed.asset)
        record: dict[str, Any] = {
            "type": GENERATION_RECORD,
            "manifest_id": manifest_id,
            "manifest_sha256": sha256_hex(signed.store),
            "file_sha256": file_sha,
            "pcm_sha256": pcm,
            "payload": info.payload,
            "soft_binding": None if soft is None else {"alg": soft[0], "value": soft[1]},
            "watermarked": info.watermarked,
            "key_id": info.key_id,
            "signer_id": signer.signer_id,
            "created": info.created,
            "logged": utc_now(),
        }
        if embed:
            target, body = path, signed.asset
            perms = stat.S_IMODE(path.stat().st_mode)
        else:
            assert sidecar is not None
            target, body, perms = sidecar, signed.store, 0o644
        log = TransparencyLog(store, signing_key=log_key)
        with atomic_open(target, "wb", perms) as fh:
            fh.write(body)
            # Commit inside the atomic write: a failed commit removes the temp file and
            # leaves the original untouched; the rename happens only after the commit.
            with store.write() as tx:
                if info.payload is not None:
                    tx.reserve_payload(info.payload, utc_now())
                index, size = log._append(tx, record)
                tx.insert_manifest(ManifestRow(
                    manifest_id=manifest_id, payload=info.payload, file_sha256=file_sha,
                    pcm_sha256=pcm, format=fmt, signer_id=signer.signer_id,
                    created=info.created, manifest_store=signed.store,
                    generation=json.dumps(info.to_assertion(), sort_keys=True),
                    log_index=index,
                ))
                if soft is not None:
                    tx.add_soft_binding(soft[0], soft[1], manifest_id)
        return PublishedRecord(
            manifest_id=manifest_id, payload=info.payload, file_sha256=file_sha, pcm_sha256=pcm,
            log_index=index, tree_size=size, signer_id=signer.signer_id, path=str(path),
            sidecar_path=None if sidecar is None else str(sidecar),
        )
    finally:
        store.close()


def _assertion(manifest: dict[str, Any], label: str) -> dict[str, Any] | None:
    for a in manifest.get("assertions") or []:
        if a.get("label") == label:
            return a.get("data")
    return None


def verify_manifest(
    path: str | os.PathLike,
    trust_anchors_pem: str | None = None,
    *,
    sidecar: str | os.PathLike | None = None,
    policy: Policy | None = None,
) -> ManifestReport:
    """Validate the C2PA manifest of `path` against `trust_anchors_pem`.

    The manifest is read from the file, else from `sidecar`, else from `<name>.c2pa`
    beside it. Never raises for a bad manifest: the report says what it is, and only
    `report.trusted` (state "Trusted", no failure codes, policy satisfied) is success.
    Without trust anchors the best possible state is "Valid".
    """
    p = Path(path)
    data, fmt = _read_audio(p)
    mime = c2pa_io.MIME[fmt]
    anchors = _check_anchors(trust_anchors_pem)
    source, manifest_data = "embedded", None
    if sidecar is not None:
        source = "sidecar"
        try:
            manifest_data = Path(sidecar).read_bytes()
        except OSError as exc:
            raise AudioFileError(f"cannot read sidecar {sidecar}: {exc.strerror}") from None
    try:
        res = c2pa_io.read(mime, data, anchors_pem=anchors, manifest_data=manifest_data)
        if not res.found and sidecar is None:
            beside = p.with_name(p.stem + SIDECAR_SUFFIX)
            if beside.is_file():
                source, manifest_data = "sidecar", beside.read_bytes()
                res = c2pa_io.read(mime, data, anchors_pem=anchors, manifest_data=manifest_data)
    except ValueError as exc:
        raise TrustAnchorError(str(exc)) from None
    if not res.found:
        return ManifestReport(str(p), False, None, anchors_given=anchors is not None)
    manifest_id = generation = soft = signer = None
    if res.store is not None:
        manifest_id = res.store.get("active_manifest")
        active = (res.store.get("manifests") or {}).get(manifest_id) or {}
        generation = _assertion(active, GENERATION_LABEL)
        sb = _assertion(active, "c2pa.soft-binding")
        if sb and sb.get("blocks"):
            soft = SoftBinding(str(sb.get("alg")), str(sb["blocks"][0].get("value")))
        signer = active.get("signature_info")
    report = ManifestReport(
        path=str(p), found=True, state=res.state, manifest_id=manifest_id, soft_binding=soft,
        generation=generation, errors=res.failures, source=source, signer=signer,
        anchors_given=anchors is not None, detail=res.detail, store=res.store,
    )
    if policy is not None and report.trusted:
        report = dataclasses.replace(report, policy_errors=tuple(policy.violations(report)))
    return report


def require_trusted(report: ManifestReport) -> ManifestReport:
    """Return the report if trusted; otherwise raise the typed error for its failure kind."""
    if report.trusted:
        return report
    if not report.found:
        raise NoManifestError(f"no C2PA manifest in {report.path} (embedded or sidecar)")
    real = [e for e in report.errors if e != "signingCredential.untrusted"]
    if report.state == "Invalid" or real or report.state not in ("Valid", "Trusted"):
        codes = ", ".join(real or report.errors) or "no codes"
        raise ManifestInvalidError(f"manifest of {report.path} is INVALID ({codes})")
    if report.state == "Valid":
        if not report.anchors_given:
            raise ManifestUntrustedError(
                f"manifest of {report.path} is intact but no trust anchors were given"
            )
        raise ManifestUntrustedError(
            f"manifest of {report.path} is intact but its signer does not chain to the "
            "trust anchors given (signingCredential.untrusted)"
        )
    raise PolicyError(f"manifest of {report.path} is trusted but fails the policy: "
                      + "; ".join(report.policy_errors))


def export_manifest(
    path: str | os.PathLike,
    fmt: str,
    out: str | os.PathLike,
    trust_anchors_pem: str | None = None,
) -> Path:
    """Write the manifest of `path` as JSON (report + manifest store) or as a `.c2pa` store."""
    src, dst = Path(path), Path(out)
    if fmt not in ("json", "c2pa"):
        raise InvalidInputError(f"unknown export format {fmt!r} (json or c2pa)")
    if dst.exists() and src.exists() and os.path.samefile(src, dst):
        raise ExportError("refusing to export over the input file")
    if fmt == "json":
        report = verify_manifest(src, trust_anchors_pem)
        if not report.found:
            raise NoManifestError(f"no C2PA manifest in {src} (embedded or sidecar)")
        doc = report.to_dict() | {"manifest_store": report.store}
        _write(dst, lambda: atomic_write_text(dst, json.dumps(doc, indent=2) + "\n"))
        return dst
    data, fmt_name = _read_audio(src)
    store = c2pa_io.extract_store(data)
    if store is None:
        beside = src.with_name(src.stem + SIDECAR_SUFFIX)
        if beside.is_file():
            store = beside.read_bytes()
    if store is None:
        raise NoManifestError(f"no C2PA manifest in {src} (embedded or sidecar)")
    # The extracted bytes must parse to the same manifest the file validates with.
    mime = c2pa_io.MIME[fmt_name]
    embedded = c2pa_io.read(mime, data, anchors_pem=None)
    alone = c2pa_io.read(mime, data, anchors_pem=None, manifest_data=store)
    ids = {r.store.get("active_manifest") for r in (embedded, alone) if r.store}
    if alone.store is None or (embedded.found and len(ids) != 1):
        raise ExportError(f"could not isolate the manifest store of {src}")
    _write(dst, lambda: atomic_write_bytes(dst, store))
    return dst


def _write(dst: Path, do) -> None:
    try:
        do()
    except FileNotFoundError:
        raise ExportError(f"output directory does not exist: {dst.parent}") from None
    except OSError as exc:
        raise ExportError(f"cannot write {dst}: {exc.strerror}") from None
