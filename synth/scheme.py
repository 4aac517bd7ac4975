"""The watermark scheme the product uses with each codec: one place for it.

Generation and verification must agree on the configuration and on the
cluster map of the marked codebook; both come from here. A cluster map beside
the codec checkpoint (`<checkpoint stem>.clusters.npz`, made by `voxseal codec
clusters`) is used when present; without one, the identity map.

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
    config = WatermarkConfig()
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
