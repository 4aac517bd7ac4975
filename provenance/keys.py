"""Key management: list, rotate, retire and import signers; export the trust anchor.

Every change is a log record, so the log also proves which signer was active when.
"""
from __future__ import annotations

import secrets

from provenance._internal import pki
from provenance._internal.store import SignerRow, Store
from provenance.errors import InvalidInputError, KeyFileError, NotFoundError, SignerError
from provenance.home import (
    VoxSealHome,
    add_anchor,
    rebuild_trust_bundle,
    retire_active,
    signer_record,
    signer_row,
    write_signer,
)
from provenance.log import TransparencyLog
from provenance.models import KeyInfo, utc_now
from provenance.signing import CallbackSigner, load_private_key


def _signer_info(row: SignerRow) -> KeyInfo:
    return KeyInfo(
        kind="signer",
        key_id=row.signer_id,
        status=row.status,
        detail={
            "alg": row.alg, "source": row.source, "subject": row.subject,
            "not_after": row.not_after, "created": row.created, "retired": row.retired,
        },
    )


def list_keys(home: VoxSealHome) -> list[KeyInfo]:
    """Every key of the home with its status; unreadable key files show as such."""
    out: list[KeyInfo] = []
    try:
        wm = home.load_watermark_key()
        out.append(KeyInfo("watermark", wm.key_id, "active"))
    except KeyFileError as exc:
        out.append(KeyInfo("watermark", "-", "unreadable", {"error": str(exc)}))
    store = home.open_store()
    try:
        with store.read() as tx:
            rows = tx.signers()
            vkeys = tx.log_keys()
    finally:
        store.close()
    for vkey in vkeys:
        name, khash, _ = vkey.split("+", 2)
        out.append(KeyInfo("log", khash, "active" if vkey == vkeys[-1] else "old",
                           {"verifier_key": vkey, "origin": name}))
    out.extend(_signer_info(r) for r in rows)
    return out


def active_signer_id(home: VoxSealHome, store: Store | None = None) -> str:
    own = store is None
    store = home.open_store() if store is None else store
    try:
        with store.read() as tx:
            active = [r for r in tx.signers() if r.status == "active"]
    finally:
        if own:
            store.close()
    if not active:
        raise SignerError("no active signing key: run `voxseal keys new` (or `keys import`)")
    return active[0].signer_id


def load_active_signer(home: VoxSealHome, store: Store | None = None) -> CallbackSigner:
    """The active signer as a CallbackSigner over its key file; checked for usability."""
    signer = home.load_signer(active_signer_id(home, store))
    problems = signer.problems()
    if problems:
        raise SignerError(f"active signer {signer.signer_id}: {problems[0]}; "
                          "run `voxseal keys new`")
    return signer


def trust_anchor_pem(home: VoxSealHome) -> str:
    """The PEM bundle verifiers should trust: the local root plus any imported anchors."""
    return home.trust_anchors_pem()


def _preflight(home: VoxSealHome) -> None:
    """Fail on a corrupt database or log key before any key file is written."""
    home.load_log_key()
    home.open_store().close()


def _log(home: VoxSealHome, store) -> TransparencyLog:
    return TransparencyLog(store, signing_key=home.load_log_key())


def _activate(home: VoxSealHome, signer: CallbackSigner, source: str, reason: str) -> KeyInfo:
    store = home.open_store()
    try:
        log = _log(home, store)
        row = signer_row(signer, source)
        with store.write() as tx:
            if any(r.signer_id == row.signer_id for r in tx.signers()):
                raise InvalidInputError(f"signer {row.signer_id} is already in this home")
            retire_active(tx, log, reason)
            tx.insert_signer(row)
            log._append(tx, signer_record("imported" if source != "local" else "created", row))
    finally:
        store.close()
    return _signer_info(row)


def new_signer(home: VoxSealHome, days: int = pki.SIGNER_DAYS) -> KeyInfo:
    """Issue a new ES256 signer from the local CA, make it active, retire the previous one."""
    if not 1 <= days <= 3650:
        raise InvalidInputError("--days must be between 1 and 3650")
    root_key, root_cert = home.load_root_ca()
    key, cert = pki.issue_signer(root_key, root_cert, f"VoxSeal Signer {secrets.token_hex(4)}",
                                 days=days)
    chain_pem = pki.pem(cert) + pki.pem(root_cert)
    signer = CallbackSigner.from_private_key(key, chain_pem)
    _preflight(home)
    write_signer(home, key, chain_pem)
    return _activate(home, signer, "local", "rotated by voxseal keys new")


def retire_signer(home: VoxSealHome, signer_id: str) -> KeyInfo:
    """Stop signing with `signer_id`. Manifests it signed stay verifiable."""
    store = home.open_store()
    try:
        log = _log(home, store)
        with store.write() as tx:
            rows = {r.signer_id: r for r in tx.signers()}
            row = rows.get(signer_id)
            if row is None:
                raise NotFoundError(f"no signer {signer_id!r} (see `voxseal keys list`)")
            if row.status == "retired":
                raise InvalidInputError(f"signer {signer_id} is already retired")
            tx.set_signer_status(signer_id, "retired", utc_now())
            log._append(tx, signer_record("retired", row) | {"reason": "voxseal keys retire"})
            row = next(r for r in tx.signers() if r.signer_id == signer_id)
    finally:
        store.close()
    return _signer_info(row)


def import_signer(
    home: VoxSealHome, chain_pem: str, key_pem: bytes, anchor_pem: str | None = None
) -> KeyInfo:
    """Import a signer from an external PKI (chain leaf first, its key, its root).

    The import is refused unless a test manifest signed with it validates as "Trusted"
    against this home's anchors plus `anchor_pem`: what cannot verify must not sign.
    """
    key = load_private_key(key_pem, "the imported private key")
    signer = CallbackSigner.from_private_key(key, chain_pem)
    problems = signer.problems()
    if problems:
        raise SignerError(f"cannot import signer: {problems[0]}")
    anchors = []
    if anchor_pem:
        try:
            anchors = pki.load_certs(anchor_pem, "the trust anchor")
        except ValueError as exc:
            raise SignerError(str(exc)) from None
    bundle = home.trust_anchors_pem() + "".join(pki.pem(a) for a in anchors)
    _test_sign(signer, bundle)
    _preflight(home)
    write_signer(home, key, signer.chain_pem)
    for a in anchors:
        add_anchor(home, a)
    rebuild_trust_bundle(home)
    return _activate(home, signer, "imported", "replaced by voxseal keys import")


def _test_sign(signer: CallbackSigner, anchors_pem: str) -> None:
    import io

    import numpy as np
    import soundfile as sf

    from provenance._internal import c2pa_io

    buf = io.BytesIO()
    sf.write(buf, np.zeros(160, dtype=np.int16), 16000, format="WAV", subtype="PCM_16")
    definition = c2pa_io.build_definition(
        title="voxseal-import-check.wav", mime="audio/wav", generation={"check": True},
        soft_binding=None, software=("VoxSeal", "import-check"), when=utc_now(),
        generation_label="org.voxseal.import-check",
    )
    res = c2pa_io.sign(definition, "audio/wav", buf.getvalue(), callback=signer.sign,
                       alg=signer.alg, chain_pem=signer.chain_pem, embed=True)
    got = c2pa_io.read("audio/wav", res.asset, anchors_pem=anchors_pem)
    if got.state != "Trusted":
        raise SignerError(
            f"a test manifest signed by this signer validates as {got.state} "
            f"({', '.join(got.failures) or 'no codes'}): give its root with --anchor"
        )


__all__ = [
    "active_signer_id",
    "import_signer",
    "list_keys",
    "load_active_signer",
    "new_signer",
    "retire_signer",
    "trust_anchor_pem",
]
