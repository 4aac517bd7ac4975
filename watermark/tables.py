"""Colour tables: the key's colouring of every scoring unit of one codebook.

A *scoring unit* is a (context row, token cluster) pair, flattened to
`unit = row * C + cluster`:
  h = 1: row = cluster id of the previous token; row C is the start context (no
         previous token, T = 0 at generation); detection never scores row C.
  h = 0: row = 0 always.
Every unit gets its own PRF words, so under H0 (tokens independent of the key)
the colours of *distinct* units are independent: a unit is green with probability
exactly `config.effective_gamma`, and its payload colour is uniform on [0, r) and
independent of its message position. That is what makes the de-duplicated binomial
(zero-bit) and max-multinomial (payload) nulls in `pvalues.py` exact, for any token
distribution and any cluster sizes. (Fixed-size green lists would make units that
share a context negatively dependent; independent draws keep the null exact at the
price of a green-list size that varies from context to context.)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from watermark.config import SCHEME_VERSION, WatermarkConfig
from watermark.keys import WatermarkKey
from watermark.prf import prf_words


@dataclass(frozen=True, eq=False)
class UnitTables:
    """Colours of the units of one codebook under one key.

    Attributes:
        n_clusters: C.
        n_rows: C + 1 if h = 1 else 1.
        green: bool [n_rows * C] (zero-bit scheme) or None.
        colour: uint8 [n_rows * C], in [0, r) (payload scheme) or None.
        position: int16 [n_rows * C], in [0, n_symbols) (payload scheme) or None.
    """

    n_clusters: int
    n_rows: int
    green: np.ndarray | None
    colour: np.ndarray | None
    position: np.ndarray | None

    @property
    def n_units(self) -> int:
        return self.n_rows * self.n_clusters


def _label(config: WatermarkConfig, codebook: int, n_clusters: int) -> str:
    return f"{SCHEME_VERSION}/cb{codebook}/C{n_clusters}/h{config.context_width}"


def build_tables(
    key: WatermarkKey, config: WatermarkConfig, codebook: int, n_clusters: int
) -> UnitTables:
    """Evaluate the PRF on every unit (cost: one ChaCha20 stream per table)."""
    n_rows = n_clusters + 1 if config.context_width == 1 else 1
    n = n_rows * n_clusters
    label = _label(config, codebook, n_clusters)
    green = None
    if config.binomial:
        words = prf_words(key.subkey(f"green/cb{codebook}"), label, n)
        green = words < np.uint32(config.green_threshold)
    if not config.has_payload:
        return UnitTables(n_clusters, n_rows, green, None, None)
    # one word per unit: colour from the low bits (exact for r a power of two), message
    # position from the high 24 bits. Distinct bits of a PRF word are independent, so
    # colour and position are independent, as the sum-of-max null requires. The
    # modulo bias of the position (< b / 2^24) cannot hurt the null: it is conditional
    # on how many units each position got.
    words = prf_words(key.subkey(f"payload/cb{codebook}"), label, n)
    colour = (words & np.uint32(config.radix - 1)).astype(np.uint8)
    position = ((words >> np.uint32(8)) % np.uint32(config.n_symbols)).astype(np.int16)
    # layered: green and colour come from different subkeys, so they are independent
    return UnitTables(n_clusters, n_rows, green, colour, position)


@lru_cache(maxsize=32)
def cached_tables(
    key: WatermarkKey, config: WatermarkConfig, codebook: int, n_clusters: int
) -> UnitTables:
    """`build_tables` memoised for repeated detection with the same keys (in-process only)."""
    return build_tables(key, config, codebook, n_clusters)


def green_units(tables: UnitTables, symbols: np.ndarray | None) -> np.ndarray:
    """Which units the detection statistic counts as green (the sampler favours them).

    Args:
        symbols: int [n_symbols] message symbols, or None. With a payload scheme and
            None, colour 0 is favoured everywhere (a zero-bit mark in a payload config).
    Returns:
        bool [n_rows * C].
    """
    if tables.green is not None:
        return tables.green
    return _colour_match(tables, symbols)


def _colour_match(tables: UnitTables, symbols: np.ndarray | None) -> np.ndarray:
    if symbols is None:
        return tables.colour == 0
    return tables.colour == np.asarray(symbols)[tables.position]


def unit_bias(tables: UnitTables, symbols: np.ndarray | None, config: WatermarkConfig) -> np.ndarray:
    """The logit bias the sampler adds to each unit: float32 [n_rows * C].

    Zero-bit and classic MPAC: delta on the green units. Layered: delta on the key's
    green units plus payload_delta on the units whose colour is their position's
    message symbol (nothing for the payload layer when `symbols` is None).
    """
    bias = green_units(tables, symbols).astype(np.float32) * np.float32(config.delta)
    if config.layered and symbols is not None:
        bias += _colour_match(tables, symbols).astype(np.float32) * np.float32(config.payload_delta)
    return bias
