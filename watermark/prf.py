"""The keyed pseudorandom function: the one place a key becomes random numbers.

Word `i` of the stream named `label` under a 32-byte subkey is the i-th
little-endian uint32 of the ChaCha20 keystream keyed with
HMAC-SHA256(subkey, "voxseal/prf/v1/" + label) and an all-zero nonce.

Why this construction: detection and sampling need whole tables (up to
1025 x 1024 entries per codebook) and calibration studies build thousands of
keys, so a per-entry HMAC call in Python would dominate. ChaCha20 in counter
mode is a PRF whose output for distinct counters is indistinguishable from
independent uniform words; HMAC separates the labels, so tables for different
codebooks, context widths and purposes are independent of each other.
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

_NONCE = bytes(16)


def prf_words(subkey: bytes, label: str, n: int) -> np.ndarray:
    """Pseudorandom uint32 words.

    Args:
        subkey: 32 bytes from `WatermarkKey.subkey(purpose)`; never the master key.
        label: names the table (e.g. "v1/cb0/C16/h1"); distinct labels give
            independent streams.
        n: number of words.
    Returns:
        uint32 array [n]. The same (subkey, label) always gives the same words,
        and a prefix of a longer request equals a shorter request.
    """
    if not isinstance(subkey, bytes | bytearray) or len(subkey) != 32:
        raise ValueError("subkey must be 32 bytes (use WatermarkKey.subkey(purpose))")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    stream_key = hmac.new(bytes(subkey), b"voxseal/prf/v1/" + label.encode(), hashlib.sha256)
    encryptor = Cipher(algorithms.ChaCha20(stream_key.digest(), _NONCE), mode=None).encryptor()
    raw = encryptor.update(bytes(4 * n))
    return np.frombuffer(raw, dtype="<u4").astype(np.uint32, copy=False)
