"""Watermark configuration: what is marked, how strongly, and what it carries.

Defaults and why. Figures are from `benchmarks/watermark.py` (full run saved in
benchmarks/results/watermark.txt): synthetic codebook-1 tokens, V = 1024, the real
processor + VALL-E 2 sampler (top-k 25, top-p 0.8, RAS), ~3.4 bits/step after
filtering, re-encoding imitated at token agreement a with the codec's measured
cluster structure. TPR is at FPR 1e-6 (p <= 1e-6, one key, one alignment).

context_width h = 1.
  * h = 0 over clusters is useless once units are de-duplicated: a clip has at most
    C distinct units, so TPR is 0.00 at every length for 16 clusters, and with 64
    clusters it falls from 0.41 at 50 tokens to 0.00 at 200 (a = 0.8).
  * h = 0 over single tokens is the strongest zero-bit mark (a = 0.4: TPR 0.99 at
    200 tokens) but its one fixed list is stolen by counting: from 20 000
    watermarked tokens (~7 min of audio) a frequency attack recovers 95 % of the
    green tokens at precision 1.00, enough to scrub the mark or to stamp it on
    human speech.
  * h = 1 pays a^2 under token flips: over single tokens at a = 0.6, TPR at 100
    tokens drops to 0.50 (h = 0: 0.99). Over clusters the square applies to the
    cluster agreement (0.93-0.96 measured on the codec), so h = 1 on a 64-cluster
    map keeps TPR 1.00 at 100 tokens down to a = 0.6, and 0.94 at a = 0.4.

Cluster map (supplied by the codec side, not part of this config): use ~64
  balanced clusters for codebook 1, not 16. With h = 1 there are C (C + 1) units;
  16 clusters give 256 scored units, de-duplication saturates (every unit is seen
  once, the colours average out to gamma) and TPR *falls* with length (a = 0.8:
  1.00 at 200 tokens, 0.04 at 500, 0.00 at 1000), and the 24-symbol payload never
  decodes. 64 clusters (4096 units) show no saturation up to 1000 tokens (20 s);
  for longer clips read the 250-frame windows. The price of any small unit space
  is stealing: on 64 clusters, 20 000 tokens carrying ONE payload reveal 73 % of
  the favoured units at precision 1.00. With a fresh random payload per generation
  the same attack is at chance (precision 0.27, chance 0.25): generation ids must
  be random (or encrypted), never sequential.

payload_bits = 32 + check_bits = 16 (CRC-16), radix r = 4 (so gamma = 1/4 and 24
  symbols): the radix MPAC recommends. Carrying a payload costs zero-bit power at
  short lengths (a = 0.8, 64 clusters: TPR 0.19 at 50 tokens vs 1.00 zero-bit,
  0.95 vs 1.00 at 100) and the full message needs ~500 tokens (10 s): accuracy
  0.38 at 200, 0.93 at 500, 1.00 at 1000 tokens. A random decode passes CRC-16 with
  probability 2^-16: 10 of 6 x 10^5 null decodes did (1.7e-5), and 0 of 24 000
  watermarked decodes gave a wrong message. Trust a payload only with a significant
  p-value, and look it up in the generation log (an unknown id is a decode error).

delta = 2. Quality cost vs strength (64 clusters, a = 0.8; dNLL = extra bits per
  token under the unbiased model): delta 1 costs 0.22 bits but gives TPR 0.22 at
  200 tokens; delta 2 costs 0.71 bits for TPR 0.96 at 100 tokens and payload 0.98
  at 500; delta 3 costs 1.06 bits for TPR 1.00 at 100 and payload 0.78 at 200.
  2 is the knee; listening tests on real audio (synth side) should confirm it or
  move it to 3.

codebooks = (0,): only codebook 1 survives re-encoding (agreement 0.86 vs <= 0.49
  for codebooks 2-4, RESEARCH.md); marking the others costs quality for little signal.

Entropy matters: at 1.8 bits/step after filtering the default needs more audio
(a = 0.8: TPR 0.64 at 200 tokens, 1.00 at 500; payload 0.29 at 500, 0.79 at 1000).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from watermark.errors import ConfigError

SCHEME_VERSION = "voxseal-wm-v1"
CHECK_BITS_ALLOWED = (8, 16, 32)
RADIX_ALLOWED = (2, 4, 8, 16)
MAX_CODEBOOKS = 32


@dataclass(frozen=True)
class WatermarkConfig:
    """Validated watermark parameters (immutable; safe to share and to hash).

    Attributes:
        gamma: green fraction of the zero-bit scheme, in (0, 1). With a payload the
            green fraction is 1/radix and gamma must equal it.
        delta: logit bias added to green tokens (>= 0; 0 disables the mark).
        context_width: h in {0, 1}: 1 = a unit's colour depends on the previous
            token's cluster, 0 = a fixed colouring.
        codebooks: which codebooks carry the mark (0 = codebook 1, the AR one).
        radix: r, symbols per message position (power of two, 2..16).
        payload_bits: message bits (0 = zero-bit scheme; else >= 32 and <= 64).
        check_bits: CRC width appended to the message (8, 16 or 32).
        payload_delta: None = classic MPAC (the payload colours are the green lists;
            gamma = 1/radix; detection by the sum-of-max statistic). A number = the
            layered scheme: a key-only green list of fraction gamma biased by `delta`
            carries detection (binomial test, as strong as a zero-bit mark), and an
            independent MPAC colouring biased by `payload_delta` carries the payload
            in the same tokens.
    """

    gamma: float = 0.25
    delta: float = 2.0
    context_width: int = 1
    codebooks: tuple[int, ...] = field(default=(0,))
    radix: int = 4
    payload_bits: int = 32
    check_bits: int = 16
    payload_delta: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "codebooks", tuple(self.codebooks))
        if not (isinstance(self.gamma, int | float) and 0.0 < self.gamma < 1.0):
            raise ConfigError(f"gamma must be in (0, 1), got {self.gamma!r}; 0.25 is typical")
        if not (isinstance(self.delta, int | float) and math.isfinite(self.delta)):
            raise ConfigError(f"delta must be a finite number, got {self.delta!r}")
        if not 0.0 <= self.delta <= 20.0:
            raise ConfigError(f"delta must be in [0, 20], got {self.delta}; 1 to 4 is typical")
        if self.context_width not in (0, 1):
            raise ConfigError(
                f"context_width must be 0 or 1, got {self.context_width!r} (wider contexts lose "
                "the mark as a^(h+1) under re-encoding)"
            )
        if not self.codebooks:
            raise ConfigError("codebooks must name at least one codebook, e.g. (0,)")
        for k in self.codebooks:
            if not isinstance(k, int) or not 0 <= k < MAX_CODEBOOKS:
                raise ConfigError(
                    f"codebook indices must be ints in [0, {MAX_CODEBOOKS}), got {k!r}"
                )
        if len(set(self.codebooks)) != len(self.codebooks):
            raise ConfigError(f"codebooks must not repeat, got {self.codebooks}")
        if self.radix not in RADIX_ALLOWED:
            raise ConfigError(
                f"radix must be one of {RADIX_ALLOWED}, got {self.radix!r}; 4 is usual"
            )
        if self.payload_bits != 0:
            if not isinstance(self.payload_bits, int) or not 32 <= self.payload_bits <= 64:
                raise ConfigError(
                    f"payload_bits must be 0 (zero-bit) or in [32, 64], got {self.payload_bits!r}"
                )
            if self.check_bits not in CHECK_BITS_ALLOWED:
                raise ConfigError(
                    f"check_bits must be one of {CHECK_BITS_ALLOWED}, got {self.check_bits!r}"
                )
            if self.payload_delta is not None:
                if not (isinstance(self.payload_delta, int | float) and 0.0 <= self.payload_delta <= 20.0):
                    raise ConfigError(
                        f"payload_delta must be None (classic MPAC) or in [0, 20], got "
                        f"{self.payload_delta!r}"
                    )
            elif abs(self.gamma - 1.0 / self.radix) > 1e-12:
                raise ConfigError(
                    f"with a payload the green fraction is 1/radix = {1.0 / self.radix}; "
                    f"set gamma={1.0 / self.radix} (got {self.gamma}) or payload_bits=0"
                )

    # -- derived ------------------------------------------------------------
    @property
    def has_payload(self) -> bool:
        return self.payload_bits > 0

    @property
    def layered(self) -> bool:
        """Key-only green list for detection plus an MPAC payload layer (see payload_delta)."""
        return self.has_payload and self.payload_delta is not None

    @property
    def binomial(self) -> bool:
        """Detection by the binomial green count (zero-bit and layered schemes)."""
        return not self.has_payload or self.layered

    @property
    def bits_per_symbol(self) -> int:
        return int(math.log2(self.radix))

    @property
    def n_symbols(self) -> int:
        """Message positions b: ceil((payload_bits + check_bits) / log2 r); 0 if zero-bit."""
        if not self.has_payload:
            return 0
        return -(-(self.payload_bits + self.check_bits) // self.bits_per_symbol)

    @property
    def green_threshold(self) -> int:
        """A unit is green when its uint32 PRF word is below this."""
        return int(math.floor(self.gamma * 2**32))

    @property
    def effective_gamma(self) -> float:
        """The exact null green probability the tables realise (used by the p-values)."""
        if not self.binomial:
            return 1.0 / self.radix
        return self.green_threshold / 2**32

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["codebooks"] = list(self.codebooks)
        d["scheme"] = SCHEME_VERSION
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WatermarkConfig:
        data = dict(data)
        scheme = data.pop("scheme", SCHEME_VERSION)
        if scheme != SCHEME_VERSION:
            raise ConfigError(
                f"watermark scheme {scheme!r} is not supported (want {SCHEME_VERSION})"
            )
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown watermark config fields: {', '.join(unknown)}")
        if "codebooks" in data:
            data["codebooks"] = tuple(data["codebooks"])
        return cls(**data)
