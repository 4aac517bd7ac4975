"""The watermark scheme the product uses with each codec: one place for it.

Generation and verification must agree on the configuration and on the
cluster map of the marked codebook; both come from here. A cluster map beside
the codec checkpoint (`<checkpoint stem>.clusters.npz`, made by `voxseal codec
clusters`) is used when present; without one, the identity map.

The configuration is the layered scheme (WatermarkConfig.payload_delta): a
key-only green list (gamma 0.25, delta 2) carries detection and an MPAC colour
layer (radix 4, bias 2) carries the 32-bit payload + CRC-16 in the same tokens.
Measured on the shipped TTS (6 held-out sentences of ~4 s, p-value on the
sampled tokens themselves, entropy ~1.2 nats/step after top-k 25 / top-p 0.8):
classic MPAC (the payload colours are the green lists, sum-of-max test) gave
median p 1.8e-3, max 0.49 -- even before any re-encoding -- because ~200 tokens
spread over 24 message positions leave ~8 per position and the max over 4
colours eats the signal; the layered scheme gave median 7e-11, max 3e-7 with a
payload bias of 2 (3.7e-10 / 1.1e-8 with bias 1; zero-bit alone 6.6e-13 /
4.2e-9). Blind payload decoding (CRC must pass) never succeeded at 4 s with
either bias; matching against the registry's published ids
(`watermark.detect.match_payload`, 1000 candidates) named the right id in 3 of
6 clips with bias 2 and 0 of 6 with bias 1, and never named a wrong one when
the true id was left out of the list. Hence bias 2.

No cluster map is shipped as the default: measured with the shipped codec and
TTS (runs of 4 clips of 6.7 s, clean re-encode), the 64-cluster map kept more
codebook-1 colours (cluster agreement 0.76 against token agreement 0.55) but
left so few distinct (context, cluster) units after de-duplication that
detection was weaker than with single tokens (median p 0.78 against 0.17 for
the payload scheme at delta 2). The 64-cluster map ships as
`compact16k.clusters-64.npz` for experiments.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from synth.codec import Codec
from watermark.clusters import ClusterMap
from watermark.config import WatermarkConfig

SCHEME_NAME = "voxseal-codec-token-v1"
PRODUCT_CONFIG = WatermarkConfig(gamma=0.25, delta=2.0, payload_delta=2.0)


@dataclass(frozen=True)
class Scheme:
    config: WatermarkConfig
    cluster_map: ClusterMap
    codebook: int

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
        from synth.compact_codec import ASSET

        checkpoint = ASSET
    path = cluster_map_path(checkpoint) if checkpoint else None
    if path is not None and path.is_file():
        cmap = ClusterMap.load(path)
    else:
        cmap = ClusterMap.identity(codec.codebook_size)
    return Scheme(config, cmap, codebook)
