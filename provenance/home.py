"""The VoxSeal home: keys, registry and log in one directory (`VOXSEAL_HOME`, ~/.voxseal).

Layout (directories 0700, secrets 0600)::

    registry.db              registry + transparency log (SQLite, WAL)
    keys/watermark.key       watermark key (secret)
    keys/log.key             Ed25519 key that signs log checkpoints (secret)
    keys/ca/root.pem|.key    local CA: the trust anchor verifiers are given
    keys/signers/<id>/       chain.pem + key.pem of each C2PA signer
    keys/anchors/*.pem       extra trust anchors (imported PKIs, replaced roots)
    keys/trust-anchors.pem   the bundle verifiers trust (root + anchors)

`init` never overwrites or silently re-creates a key: a missing key in an existing home
may mean lost history, so it stops and says so unless `--force` is given, and even
then it moves old keys aside instead of deleting them.
"""
from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from provenance._internal import pki
from provenance._internal import signed_note as sn
from provenance._internal.store import SignerRow, SQLiteStore, Tx
from provenance.errors import (
    HomeIncompleteError,
    HomeNotFoundError,
    KeyFileError,
    SignerError,
)
from provenance.models import utc_now
from provenance.signing import CallbackSigner, load_private_key
from synth.fileio import atomic_write_bytes, atomic_write_text
from watermark.errors import KeyFormatError
from watermark.keys import WatermarkKey

if TYPE_CHECKING:
    from provenance.log import TransparencyLog
    from provenance.registry import Registry

ENV_VAR = "VOXSEAL_HOME"
KEY_RECORD = "org.voxseal.key.v1"


def default_home_path() -> Path:
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".voxseal"


def _mkdir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)  # mkdir's mode is masked by the umask; secrets dirs must not be


@dataclass(frozen=True)
class VoxSealHome:
    """Paths of a home and loaders that turn bad files into one-line typed errors."""

    path: Path

    @classmethod
    def resolve(cls, path: str | os.PathLike | None = None) -> VoxSealHome:
        return cls(Path(path).expanduser() if path is not None else default_home_path())

    # -- layout ------------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return self.path / "registry.db"

    @property
    def keys_dir(self) -> Path:
        return self.path / "keys"

    @property
    def watermark_key_path(self) -> Path:
        return self.keys_dir / "watermark.key"

    @property
    def log_key_path(self) -> Path:
        return self.keys_dir / "log.key"

    @property
    def ca_dir(self) -> Path:
        return self.keys_dir / "ca"

    @property
    def root_cert_path(self) -> Path:
        return self.ca_dir / "root.pem"

    @property
    def root_key_path(self) -> Path:
        return self.ca_dir / "root.key"

    @property
    def signers_dir(self) -> Path:
        return self.keys_dir / "signers"

    @property
    def anchors_dir(self) -> Path:
        return self.keys_dir / "anchors"

    @property
    def trust_anchors_path(self) -> Path:
        return self.keys_dir / "trust-anchors.pem"

    def signer_dir(self, signer_id: str) -> Path:
        return self.signers_dir / signer_id

    # -- loaders -----------------------------------------------------------------------
    def _read(self, path: Path, what: str) -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise KeyFileError(f"{what} is missing: {path}") from None
        except OSError as exc:
            raise KeyFileError(f"cannot read {what} {path}: {exc.strerror}") from None

    def load_watermark_key(self) -> WatermarkKey:
        try:
            return WatermarkKey.load(self.watermark_key_path)
        except KeyFormatError as exc:
            raise KeyFileError(str(exc)) from None

    def load_log_key(self) -> Ed25519PrivateKey:
        key = load_private_key(self._read(self.log_key_path, "log signing key"),
                               f"log signing key {self.log_key_path}")
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"log signing key is not Ed25519: {self.log_key_path}")
        return key

    def load_root_ca(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        cert_data = self._read(self.root_cert_path, "root CA certificate")
        try:
            cert = pki.load_certs(cert_data, f"root CA certificate {self.root_cert_path}")[0]
        except ValueError as exc:
            raise KeyFileError(f"{exc} (corrupt?)") from None
        key = load_private_key(self._read(self.root_key_path, "root CA key"),
                               f"root CA key {self.root_key_path}")
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not _matches(key, cert):
            raise KeyFileError(f"root CA key does not match its certificate: {self.root_key_path}")
        return key, cert

    def trust_anchors_pem(self) -> str:
        """The PEM bundle of certificates this home's verifiers trust."""
        data = self._read(self.trust_anchors_path, "trust anchor bundle")
        try:
            pki.load_certs(data, f"trust anchor bundle {self.trust_anchors_path}")
        except ValueError as exc:
            raise KeyFileError(f"{exc} (corrupt?)") from None
        return data.decode("ascii")

    def load_signer(self, signer_id: str) -> CallbackSigner:
        d = self.signer_dir(signer_id)
        chain = self._read(d / "chain.pem", f"certificate chain of signer {signer_id}")
        key = load_private_key(self._read(d / "key.pem", f"private key of signer {signer_id}"),
                               f"private key of signer {signer_id} ({d / 'key.pem'})")
        try:
            return CallbackSigner.from_private_key(key, chain.decode("ascii", "replace"))
        except SignerError as exc:
            raise KeyFileError(f"signer {signer_id}: {exc}") from None

    def open_store(self, *, create: bool = False) -> SQLiteStore:
        return SQLiteStore(self.db_path, create=create)

    def registry(self) -> Registry:
        from provenance.registry import Registry

        return Registry(self)

    def log(self) -> TransparencyLog:
        """A read/verify handle on the log (appends happen inside `publish` and key events)."""
        from provenance.log import TransparencyLog

        return TransparencyLog(self.open_store())


def _matches(key: PrivateKeyTypes, cert: x509.Certificate) -> bool:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    fmt = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return key.public_key().public_bytes(*fmt) == cert.public_key().public_bytes(*fmt)


def open_home(path: str | os.PathLike | None = None) -> VoxSealHome:
    """The existing home at `path` (default: $VOXSEAL_HOME or ~/.voxseal).

    Raises HomeNotFoundError (telling the user to run `voxseal init`) when it is missing.
    """
    home = VoxSealHome.resolve(path)
    if not home.path.is_dir() or not home.keys_dir.is_dir():
        raise HomeNotFoundError(
            f"no VoxSeal home at {home.path}: run `voxseal init` first "
            f"(or set {ENV_VAR} to an existing home)"
        )
    return home


# -- init ----------------------------------------------------------------------------


@dataclass(frozen=True)
class InitResult:
    home: VoxSealHome
    created: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    backup_dir: Path | None = None


def init_home(path: str | os.PathLike | None = None, force: bool = False) -> VoxSealHome:
    """Create (or confirm) a home; see `initialise` for what `force` replaces."""
    return initialise(path, force=force).home


def _key_record(event: str, kind: str, **fields: str) -> dict[str, str]:
    return {"type": KEY_RECORD, "event": event, "kind": kind, "time": utc_now(), **fields}


def _write_ca(home: VoxSealHome) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    _mkdir(home.ca_dir)
    key, cert = pki.make_root(f"VoxSeal Local Root {secrets.token_hex(4)}")
    atomic_write_bytes(home.root_key_path, pki.key_pem(key), perms=0o600)
    atomic_write_text(home.root_cert_path, pki.pem(cert), perms=0o644)
    return key, cert


def write_signer(home: VoxSealHome, key: PrivateKeyTypes, chain_pem: str) -> str:
    """Store a signer's chain and key under keys/signers/<id>/; returns its id."""
    leaf = pki.load_certs(chain_pem, "signer chain")[0]
    sid = pki.signer_id(leaf)
    d = home.signer_dir(sid)
    _mkdir(home.signers_dir)
    _mkdir(d)
    atomic_write_bytes(d / "key.pem", pki.key_pem(key), perms=0o600)
    atomic_write_text(d / "chain.pem", chain_pem, perms=0o644)
    return sid


def signer_row(signer: CallbackSigner, source: str, status: str = "active") -> SignerRow:
    s = pki.summary(signer.leaf)
    return SignerRow(
        signer_id=signer.signer_id, status=status, source=source, alg=signer.alg,
        subject=s.subject, not_before=s.not_before, not_after=s.not_after,
        cert_sha256=s.sha256, created=utc_now(), retired=None,
    )


def signer_record(event: str, row: SignerRow) -> dict[str, str]:
    return _key_record(event, "signer", signer_id=row.signer_id, cert_sha256=row.cert_sha256,
                       subject=row.subject, not_after=row.not_after)


def _new_local_signer(
    home: VoxSealHome, root_key: ec.EllipticCurvePrivateKey, root_cert: x509.Certificate
) -> CallbackSigner:
    key, cert = pki.issue_signer(root_key, root_cert, f"VoxSeal Signer {secrets.token_hex(4)}")
    chain_pem = pki.pem(cert) + pki.pem(root_cert)
    write_signer(home, key, chain_pem)
    return CallbackSigner.from_private_key(key, chain_pem)


def rebuild_trust_bundle(home: VoxSealHome) -> None:
    parts = []
    if home.root_cert_path.is_file():
        parts.append(home.root_cert_path.read_text("ascii"))
    if home.anchors_dir.is_dir():
        parts.extend(p.read_text("ascii") for p in sorted(home.anchors_dir.glob("*.pem")))
    atomic_write_text(home.trust_anchors_path, "".join(parts), perms=0o644)


def add_anchor(home: VoxSealHome, cert: x509.Certificate) -> None:
    _mkdir(home.anchors_dir)
    atomic_write_text(home.anchors_dir / f"{pki.cert_sha256(cert)[:16]}.pem", pki.pem(cert))


def retire_active(tx: Tx, log: TransparencyLog, reason: str) -> None:
    for row in tx.signers():
        if row.status == "active":
            tx.set_signer_status(row.signer_id, "retired", utc_now())
            log._append(tx, signer_record("retired", row) | {"reason": reason})


def _inspect(home: VoxSealHome) -> tuple[dict[str, str], SQLiteStore | None]:
    """component -> "ok" | "missing" | problem text; plus the open store when it is ok."""
    state: dict[str, str] = {}

    def probe(name: str, path: Path, load) -> None:
        if not path.exists():
            state[name] = "missing"
            return
        try:
            load()
            state[name] = "ok"
        except KeyFileError as exc:
            state[name] = str(exc)

    probe("keys/watermark.key", home.watermark_key_path, home.load_watermark_key)
    probe("keys/ca", home.root_cert_path, home.load_root_ca)
    probe("keys/log.key", home.log_key_path, home.load_log_key)
    store = None
    if not home.db_path.exists():
        state["registry.db"] = "missing"
    else:
        store = home.open_store()  # a corrupt database raises here: never touched by init
        state["registry.db"] = "ok"
        with store.read() as tx:
            active = [r for r in tx.signers() if r.status == "active"]
        for row in active:
            probe(f"keys/signers/{row.signer_id}", home.signer_dir(row.signer_id),
                  lambda sid=row.signer_id: home.load_signer(sid))
    return state, store


def initialise(path: str | os.PathLike | None = None, force: bool = False) -> InitResult:
    """Create a home, or check an existing one. Idempotent without `force`.

    On an existing, complete home nothing changes. A missing or corrupt key is an error
    (nothing is written) unless `force`: then the watermark key, the CA and the active
    signer are replaced, the old files are moved to keys/replaced-<time>/, the old root
    stays a trust anchor (so earlier manifests still verify), and the log key is kept
    when it is intact. The registry database is never replaced or rewritten.
    """
    home = VoxSealHome.resolve(path)
    if home.path.exists() and not home.path.is_dir():
        raise HomeIncompleteError(f"{home.path} exists and is not a directory")
    if not home.path.exists() or not any(home.path.iterdir()):
        return _create(home)
    state, store = _inspect(home)
    try:
        bad = {k: v for k, v in state.items() if v != "ok"}
        if not bad and not force:
            if not home.trust_anchors_path.exists():
                rebuild_trust_bundle(home)  # derived public data, safe to regenerate
                return InitResult(home, created=["keys/trust-anchors.pem"])
            return InitResult(home)
        if not force:
            corrupt = {k: v for k, v in bad.items() if v != "missing"}
            if corrupt:
                name, why = next(iter(corrupt.items()))
                raise KeyFileError(
                    f"{why}; nothing was changed (restore it, or run `voxseal init --force` "
                    "to replace the keys)"
                )
            raise HomeIncompleteError(
                f"the home at {home.path} is incomplete (missing: {', '.join(bad)}); nothing "
                "was changed. Restore the missing files from a backup, or run `voxseal init "
                "--force` to create new keys (the registry and log are kept)"
            )
        return _force(home, state, store)
    finally:
        if store is not None:
            store.close()


def _create(home: VoxSealHome) -> InitResult:
    _mkdir(home.path)
    _mkdir(home.keys_dir)
    wm = WatermarkKey.generate()
    wm.save(home.watermark_key_path)
    root_key, root_cert = _write_ca(home)
    signer = _new_local_signer(home, root_key, root_cert)
    log_key = Ed25519PrivateKey.generate()
    atomic_write_bytes(home.log_key_path, pki.key_pem(log_key), perms=0o600)
    rebuild_trust_bundle(home)
    store = home.open_store(create=True)
    try:
        _bootstrap_log(home, store, log_key)
        _record_new_keys(store, log_key, wm=wm, signer=signer, log_key_new=True)
    finally:
        store.close()
    return InitResult(
        home,
        created=["keys/watermark.key", "keys/ca", f"keys/signers/{signer.signer_id}",
                 "keys/log.key", "keys/trust-anchors.pem", "registry.db"],
    )


def _bootstrap_log(home: VoxSealHome, store: SQLiteStore, log_key: Ed25519PrivateKey) -> None:
    with store.write() as tx:
        if tx.get_meta("log_origin") is None:
            tx.set_meta("log_origin", f"voxseal.local/log/{secrets.token_hex(8)}")
            tx.set_meta("created", utc_now())
        origin = tx.get_meta("log_origin")
        pub = log_key.public_key()
        tx.add_log_key(sn.key_hash(origin, pub).hex(), sn.verifier_key(origin, pub), utc_now())


def _record_new_keys(
    store: SQLiteStore,
    log_key: Ed25519PrivateKey,
    *,
    wm: WatermarkKey | None = None,
    signer: CallbackSigner | None = None,
    log_key_new: bool = False,
) -> None:
    from provenance.log import TransparencyLog

    log = TransparencyLog(store, signing_key=log_key)
    with store.write() as tx:
        if log_key_new:
            vkey = sn.verifier_key(tx.get_meta("log_origin"), log_key.public_key())
            log._append(tx, _key_record("created", "log", verifier_key=vkey))
        if wm is not None:
            log._append(tx, _key_record("created", "watermark", key_id=wm.key_id))
        if signer is not None:
            retire_active(tx, log, "replaced by voxseal init --force")
            row = signer_row(signer, "local")
            tx.insert_signer(row)
            log._append(tx, signer_record("created", row))


def _force(home: VoxSealHome, state: dict[str, str], store: SQLiteStore | None) -> InitResult:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    backup = home.keys_dir / f"replaced-{stamp}"
    _mkdir(home.keys_dir)
    replaced: list[str] = []

    def move_aside(p: Path) -> None:
        if p.exists():
            _mkdir(backup)
            os.replace(p, backup / p.name)
            replaced.append(str(p.relative_to(home.path)))

    # The old root must stay trusted, or every manifest signed so far stops verifying.
    if home.root_cert_path.is_file():
        try:
            add_anchor(home, pki.load_certs(home.root_cert_path.read_bytes(), "old root")[0])
        except ValueError:
            pass
    move_aside(home.watermark_key_path)
    wm = WatermarkKey.generate()
    wm.save(home.watermark_key_path)
    move_aside(home.root_key_path)
    move_aside(home.root_cert_path)
    root_key, root_cert = _write_ca(home)
    signer = _new_local_signer(home, root_key, root_cert)
    log_key_new = state.get("keys/log.key") != "ok"
    if log_key_new:
        move_aside(home.log_key_path)
        log_key = Ed25519PrivateKey.generate()
        atomic_write_bytes(home.log_key_path, pki.key_pem(log_key), perms=0o600)
    else:
        log_key = home.load_log_key()
    rebuild_trust_bundle(home)
    created = ["keys/watermark.key", "keys/ca", f"keys/signers/{signer.signer_id}"]
    own_store = store is None
    if own_store:
        store = home.open_store(create=True)
        created.append("registry.db")
    try:
        _bootstrap_log(home, store, log_key)
        _record_new_keys(store, log_key, wm=wm, signer=signer, log_key_new=log_key_new)
    finally:
        if own_store:
            store.close()
    if log_key_new:
        created.append("keys/log.key")
    return InitResult(home, created=created, replaced=replaced,
                      backup_dir=backup if backup.exists() else None)


__all__ = [
    "ENV_VAR",
    "InitResult",
    "VoxSealHome",
    "default_home_path",
    "init_home",
    "initialise",
    "open_home",
]
