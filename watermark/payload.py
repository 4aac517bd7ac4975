"""Payload coding: message int <-> radix-r symbols with a CRC check.

Codeword bits (MSB first) = message (payload_bits) || CRC(message) (check_bits),
zero-padded to a whole number of symbols of log2(r) bits. The CRCs start from an
all-ones register so that an all-zero symbol string (what a zero-bit mark, i.e.
`payload=None`, decodes to) never passes the check.

CRC parameters (non-reflected, bitwise; standard check values on b"123456789"):
  8:  CRC-8/SAE-J1850   poly 0x1D,       init 0xFF,       xorout 0xFF        -> 0x4B
  16: CRC-16/IBM-3740   poly 0x1021,     init 0xFFFF,     xorout 0x0000      -> 0x29B1
  32: CRC-32/BZIP2      poly 0x04C11DB7, init 0xFFFFFFFF, xorout 0xFFFFFFFF  -> 0xFC891918
"""

from __future__ import annotations

import numpy as np

from watermark.config import WatermarkConfig
from watermark.errors import PayloadError

_CRC = {
    8: (0x1D, 0xFF, 0xFF),
    16: (0x1021, 0xFFFF, 0x0000),
    32: (0x04C11DB7, 0xFFFFFFFF, 0xFFFFFFFF),
}


def crc_bits(bits: np.ndarray, width: int) -> int:
    """CRC of a bit string (uint8 array of 0/1, MSB first) with the table above."""
    poly, reg, xorout = _CRC[width]
    top = 1 << (width - 1)
    mask = (1 << width) - 1
    for b in bits.tolist():
        fb = ((reg & top) != 0) ^ bool(b)
        reg = (reg << 1) & mask
        if fb:
            reg ^= poly
    return reg ^ xorout


def crc_bytes(data: bytes, width: int) -> int:
    """CRC of bytes (for the standard check values)."""
    return crc_bits(np.unpackbits(np.frombuffer(data, dtype=np.uint8)), width)


def _int_to_bits(value: int, n: int) -> np.ndarray:
    return np.array([(value >> (n - 1 - i)) & 1 for i in range(n)], dtype=np.uint8)


def _bits_to_int(bits: np.ndarray) -> int:
    out = 0
    for b in bits.tolist():
        out = (out << 1) | int(b)
    return out


def encode(payload: int, config: WatermarkConfig) -> np.ndarray:
    """Message -> symbols.

    Returns:
        int64 array [config.n_symbols], values in [0, radix).
    """
    if not config.has_payload:
        raise PayloadError("this config is zero-bit (payload_bits=0); pass payload=None")
    if isinstance(payload, bool) or not isinstance(payload, int | np.integer):
        raise PayloadError(f"payload must be an int, got {type(payload).__name__}")
    payload = int(payload)
    if not 0 <= payload < 2**config.payload_bits:
        raise PayloadError(
            f"payload {payload} does not fit in {config.payload_bits} bits "
            f"(use 0 <= payload < 2**{config.payload_bits})"
        )
    msg = _int_to_bits(payload, config.payload_bits)
    check = _int_to_bits(crc_bits(msg, config.check_bits), config.check_bits)
    bits = np.concatenate([msg, check])
    k = config.bits_per_symbol
    pad = config.n_symbols * k - bits.size
    bits = np.concatenate([bits, np.zeros(pad, dtype=np.uint8)]).reshape(-1, k)
    weights = 1 << np.arange(k - 1, -1, -1)
    return (bits.astype(np.int64) * weights).sum(axis=1)


def decode(symbols: np.ndarray, config: WatermarkConfig) -> int | None:
    """Symbols -> message, or None when the check bits (or the padding) do not match.

    Args:
        symbols: int array [config.n_symbols], values in [0, radix).
    """
    symbols = np.asarray(symbols, dtype=np.int64)
    if symbols.shape != (config.n_symbols,):
        raise PayloadError(f"expected {config.n_symbols} symbols, got shape {symbols.shape}")
    k = config.bits_per_symbol
    bits = ((symbols[:, None] >> np.arange(k - 1, -1, -1)) & 1).astype(np.uint8).ravel()
    nb, nc = config.payload_bits, config.check_bits
    msg, check, pad = bits[:nb], bits[nb : nb + nc], bits[nb + nc :]
    if pad.any() or crc_bits(msg, nc) != _bits_to_int(check):
        return None
    return _bits_to_int(msg)
