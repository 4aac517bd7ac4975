"""C2SP signed notes (https://c2sp.org/signed-note) with Ed25519, and tlog checkpoints.

A note is UTF-8 text ending in a newline, a blank line, then signature lines
"— <key name> <base64(key hash || signature)>". The 4-byte key hash binds the
signature to a key name and public key, so a verifier holding several keys knows
which one to try and a signature cannot be replayed under another name.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

_ED25519 = b"\x01"
_DASH = "\u2014 "


class NoteError(ValueError):
    """A note or verifier key is malformed, or no known key signed it."""


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _check_name(name: str) -> None:
    if not name or any(c.isspace() for c in name) or "+" in name:
        raise NoteError(f"invalid key name {name!r}: no spaces or '+'")


def key_hash(name: str, public: Ed25519PublicKey) -> bytes:
    _check_name(name)
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + _raw_public(public)).digest()[:4]


def verifier_key(name: str, public: Ed25519PublicKey) -> str:
    """The `<name>+<hex key hash>+<base64(0x01 || key)>` string verifiers configure."""
    b64 = base64.b64encode(_ED25519 + _raw_public(public)).decode()
    return f"{name}+{key_hash(name, public).hex()}+{b64}"


@dataclass(frozen=True)
class Verifier:
    name: str
    hash: bytes
    public: Ed25519PublicKey


def parse_verifier_key(vkey: str) -> Verifier:
    # Standard base64 may itself contain '+': only the first two separate fields.
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3:
        raise NoteError("a verifier key has the form NAME+HASH+KEY")
    name, hash_hex, b64 = parts
    try:
        raw = base64.b64decode(b64, validate=True)
        want = bytes.fromhex(hash_hex)
    except (binascii.Error, ValueError):
        raise NoteError("verifier key is not hex/base64 where it should be") from None
    if len(raw) != 33 or raw[:1] != _ED25519:
        raise NoteError("verifier key is not an Ed25519 key")
    public = Ed25519PublicKey.from_public_bytes(raw[1:])
    if key_hash(name, public) != want:
        raise NoteError("verifier key hash does not match its name and key")
    return Verifier(name, want, public)


def sign_note(text: str, name: str, private: Ed25519PrivateKey) -> str:
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    digest = key_hash(name, private.public_key())
    sig = private.sign(text.encode("utf-8"))
    return f"{text}\n{_DASH}{name} {base64.b64encode(digest + sig).decode()}\n"


def open_note(note: str, verifiers: list[Verifier]) -> str:
    """Return the note text if at least one known key signed it; raise NoteError otherwise."""
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise NoteError("not a signed note (no blank line before the signatures)")
    text, sig_block = note[: cut + 1], note[cut + 2 :]
    if not text.strip():
        raise NoteError("signed note has empty text")
    by_hash = {(v.name, v.hash): v for v in verifiers}
    verified = False
    for line in sig_block.splitlines():
        if not line.startswith(_DASH):
            raise NoteError("malformed signature line in note")
        try:
            name, b64 = line[len(_DASH):].split(" ")
            blob = base64.b64decode(b64, validate=True)
        except (ValueError, binascii.Error):
            raise NoteError("malformed signature line in note") from None
        if len(blob) < 5:
            raise NoteError("signature too short in note")
        v = by_hash.get((name, blob[:4]))
        if v is None:
            continue  # a co-signer (e.g. a witness) we do not know: not an error
        try:
            v.public.verify(blob[4:], text.encode("utf-8"))
        except InvalidSignature:
            raise NoteError(f"note signature by {name} does not verify") from None
        verified = True
    if not verified:
        raise NoteError("note is not signed by any known log key")
    return text


@dataclass(frozen=True)
class CheckpointBody:
    origin: str
    size: int
    root: bytes


def checkpoint_text(origin: str, size: int, root_hash: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root_hash).decode()}\n"


def parse_checkpoint_text(text: str) -> CheckpointBody:
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("checkpoint must have origin, size and root lines")
    origin, size_s, root_b64 = lines[0], lines[1], lines[2]
    if not size_s.isdigit() or (size_s != "0" and size_s.startswith("0")):
        raise NoteError("checkpoint size is not a decimal number")
    try:
        root_hash = base64.b64decode(root_b64, validate=True)
    except binascii.Error:
        raise NoteError("checkpoint root is not base64") from None
    if len(root_hash) != 32:
        raise NoteError("checkpoint root is not a SHA-256 hash")
    return CheckpointBody(origin, int(size_s), root_hash)
