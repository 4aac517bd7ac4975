"""The watermark scheme the product uses with each codec: one place for it.

Generation and verification must agree on the configuration and on the
cluster map of the marked codebook; both come from here. A cluster map beside
the codec checkpoint (`<checkpoint stem>.clusters.npz`, made by `voxseal codec
clusters`) is used when present; without one, the identity map.

The configuration is the layered scheme (WatermarkConfig.payload_delta): a
key-only green list (gamma 0.25, delta 3) carries detection and an MPAC colour
layer (radix 4, bias 2) carries the 32-bit payload + CRC-16 in the same tokens.

Delta 3 since 2026-12-07, when the codec began rendering codes so that codebook 1 is
read back (synth/cell_search.py; benchmarks/results/cell-margin/, 5 s clips): at delta 3
clean clips are detected at p < 1e-6 in 100 of 100 (median p 1.6e-34; delta 4 without
the rendering margin 1.6e-28) and the payload is named among 1000 published ids in 0.92 of
them (0.25), Tier A at FPR 1e-3 0.914 (0.936), and the watermark costs flite-slt /
festival-kal / espeak-us-m3 +2.4 / +1.1 / +31.2 % relative WER (+11.8 / +8.4 / +22.4 %).
The measurements below were made before it, at the strengths they name:

- classic MPAC (the payload colours are the green lists, sum-of-max test) is weak
  even on the sampled tokens themselves (median p 1.6e-3): ~250 tokens over 24
  message positions leave ~10 per position and the max over 4 colours eats the
  signal. Layered, delta 2: direct median p 5.7e-15, and a plain zero-bit mark
  1e-15 -- detection keeps the zero-bit strength while carrying the payload.
- after decode -> re-encode (codebook-1 agreement ~0.75-0.80, and h = 1 needs context
  and token to survive), TPR at p < 1e-6 was 0.50 with delta 2, 1.00 with delta 3
  (max p 2.2e-7, close to the threshold) and 1.00 with delta 4 (median p 6.7e-17, max
  4.2e-13); through the full verifier on 100 clips of 5 s, 0.97 (benchmarks/results/clean-100).
  Delta 4 was the price of surviving the codec until codes were rendered to survive it;
  its quality cost is measured by benchmarks/tts.py (README).
- h = 0 is no alternative here: with one fixed list per key, de-duplication leaves
  one unit per distinct token (~100 in 5 s) and the low-entropy LM (~1.2 nats per
  step) cannot move its few likely tokens; at delta 4 the direct median p was
  3.7e-11 but 0.009 after re-encoding (h = 1: 1.9e-48 and 2e-13).
- the payload: blind decoding (CRC must pass) never succeeded on 5 s clips.
  Matching against the registry's published ids (`watermark.detect.match_payload`,
  1000 candidates) named the right id after re-encoding in 1 of 8 clips at delta 2
  and 0 of 8 at delta 4 (a strong green list crowds out the payload layer), and
  never a wrong one. On short clips the manifest, not the payload, carries the
  generation's identity; long clips and future codec work will have to carry it.

No cluster map is shipped as the default: measured with the first, untuned codec
and the TTS (4 clips of 6.7 s, clean re-encode, classic MPAC and zero-bit), the 64-cluster map kept more
codebook-1 colours (cluster agreement 0.76 against token agreement 0.55) but
left so few distinct (context, cluster) units after de-duplication that
detection was weaker than with single tokens (median p 0.78 against 0.17 for
the payload scheme at delta 2). The 64-cluster map ships as
`compact16k.clusters-64.npz` for experiments.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from synth.codec import Codec
from watermark.clusters import ClusterMap
from watermark.config import WatermarkConfig

SCHEME_NAME = "voxseal-codec-token-v1"
PRODUCT_CONFIG = WatermarkConfig(gamma=0.25, delta=3.0, payload_delta=2.0)


@dataclass(frozen=True)
class Scheme:
    config: WatermarkConfig
    cluster_map: ClusterMap
    codebook: int

    def with_strength(self, delta: float | None = None, payload_delta: float | None = None) -> Scheme:
        """This scheme with another bias on the green list and/or the payload colours.

        For measuring the strength trade-off: green lists, colours and detector stay the
        same. Raises ConfigError for a bias out of range.
        """
        changes = {k: v for k, v in (("delta", delta), ("payload_delta", payload_delta)) if v is not None}
        return replace(self, config=replace(self.config, **changes)) if changes else self

    def to_dict(self) -> dict:
        return {"name": SCHEME_NAME, "config": self.config.to_dict(),
                "cluster_map": self.cluster_map.fingerprint, "codebook": self.codebook}


def cluster_map_path(checkpoint: str | Path) -> Path:
    p = Path(checkpoint)
    return p.with_name(p.stem + ".clusters.npz")


def scheme_for(codec: Codec, checkpoint: str | Path | None = None) -> Scheme:
    """The product scheme for `codec` (default config; its shipped cluster map if any)."""
    config = PRODUCT_CONFIG
    codebook = config.codebooks[0]
    if checkpoint is None and codec.name == "compact-16k":
        from synth.compact_codec import default_checkpoint

        checkpoint = default_checkpoint()
    path = cluster_map_path(checkpoint) if checkpoint else None
    if path is not None and path.is_file():
        cmap = ClusterMap.load(path)
    else:
        cmap = ClusterMap.identity(codec.codebook_size)
    return Scheme(config, cmap, codebook)
