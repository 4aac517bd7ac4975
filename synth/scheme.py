"""The watermark scheme the product uses with each codec: one place for it.

Generation and verification must agree on the configuration and on the
cluster map of the marked codebook; both come from here. A cluster map ships
beside each trained codec checkpoint (`<checkpoint stem>.clusters.npz`, made by
`voxseal codec clusters`); without one the identity map is used.
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
