"""Watermark keys: 256 secret bits, a public key id, and per-purpose subkeys.

The key id is derived one-way from the key (HKDF with its own label), so it can
be printed, stored in manifests and logs, and used to pick the right key from a
keyring, without revealing anything about the secret. `repr` never shows the key.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from synth.fileio import atomic_write_bytes
from watermark.errors import KeyFormatError

KEY_BYTES = 32
_FILE_MAGIC = b"VOXSEAL-WMKEY-1\n"


def _hkdf(key: bytes, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(key)


@dataclass(frozen=True)
class WatermarkKey:
    """A 256-bit watermark key. Build with `generate`, `from_bytes` or `load`."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes | bytearray) or len(self.secret) != KEY_BYTES:
            raise KeyFormatError(f"a watermark key must be exactly {KEY_BYTES} bytes")

    @classmethod
    def generate(cls) -> WatermarkKey:
        return cls(secrets.token_bytes(KEY_BYTES))

    @classmethod
    def from_bytes(cls, data: bytes) -> WatermarkKey:
        return cls(bytes(data))

    @property
    def key_id(self) -> str:
        """Public identifier: 16 hex characters, derived one-way from the key."""
        return _hkdf(self.secret, b"voxseal/key-id/v1", 8).hex()

    def subkey(self, purpose: str) -> bytes:
        """A 32-byte subkey for one purpose (e.g. "green", "position", "colour")."""
        if not purpose:
            raise ValueError("subkey purpose must be a non-empty string")
        return _hkdf(self.secret, b"voxseal/subkey/v1/" + purpose.encode("utf-8"))

    def __repr__(self) -> str:
        return f"WatermarkKey(key_id={self.key_id!r})"

    def save(self, path: str | os.PathLike) -> None:
        """Write the key to `path` atomically with mode 0600."""
        atomic_write_bytes(path, _FILE_MAGIC + self.secret.hex().encode() + b"\n", perms=0o600)

    @classmethod
    def load(cls, path: str | os.PathLike) -> WatermarkKey:
        path = Path(path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise KeyFormatError(f"watermark key file not found: {path}") from None
        except IsADirectoryError:
            raise KeyFormatError(f"watermark key path is a directory: {path}") from None
        except OSError as exc:
            raise KeyFormatError(f"cannot read watermark key {path}: {exc.strerror}") from None
        if not raw.startswith(_FILE_MAGIC):
            raise KeyFormatError(f"not a VoxSeal watermark key file: {path}")
        body = raw[len(_FILE_MAGIC):].strip()
        try:
            secret = bytes.fromhex(body.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise KeyFormatError(f"corrupt watermark key file: {path}") from None
        if len(secret) != KEY_BYTES:
            raise KeyFormatError(f"corrupt watermark key file (wrong length): {path}")
        return cls(secret)
