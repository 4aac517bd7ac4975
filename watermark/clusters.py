"""Cluster maps: which codec tokens share a watermark colour.

A re-encoded clip often returns a *confusable neighbour* of the token that was
sampled. If every token of a cluster of mutual confusions carries the same colour,
such a flip keeps the colour and the watermark survives. A `ClusterMap` is an
int array `ids[V]` giving each token id its cluster id in `[0, C)`.

- `ClusterMap.identity(V)`: each token is its own cluster (no robustness gain).
- `ClusterMap.from_array(ids)`: any map, e.g. balanced k-means or spectral
  clustering of a measured re-encoding confusion matrix (the codec side builds
  these with `voxseal codec clusters` and saves them with `save`).

Calibration does not need balanced clusters: under H0 each scoring unit's colour
is an independent PRF draw (see `tables.py`), whatever the cluster sizes. Balance
matters for the *strength* of the mark: the green probability mass of a step is the
mass of the tokens in green clusters.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np

from synth.fileio import atomic_write_bytes
from watermark.errors import ClusterMapError

_FORMAT = "voxseal-clustermap-1"


class ClusterMap:
    """Token id -> cluster id for one codebook. Immutable.

    Attributes:
        ids: int64 array [V], values in [0, n_clusters). Read-only.
        n_clusters: C, the number of cluster ids (some may be unused).
    """

    __slots__ = ("ids", "n_clusters", "_fingerprint")

    def __init__(self, ids: np.ndarray, n_clusters: int | None = None) -> None:
        arr = np.asarray(ids)
        if arr.ndim != 1 or arr.size == 0:
            raise ClusterMapError(
                f"a cluster map is a non-empty 1-D array [V] of cluster ids, got shape {arr.shape}"
            )
        if not np.issubdtype(arr.dtype, np.integer):
            if not (np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr))):
                raise ClusterMapError(
                    f"cluster ids must be integers, got dtype {arr.dtype}; cast with .astype(int)"
                )
        arr = arr.astype(np.int64)
        if arr.min() < 0:
            raise ClusterMapError("cluster ids must be >= 0; relabel clusters to 0..C-1")
        c = int(arr.max()) + 1 if n_clusters is None else int(n_clusters)
        if int(arr.max()) >= c:
            raise ClusterMapError(
                f"cluster id {int(arr.max())} is out of range for n_clusters={c}; "
                "relabel clusters to 0..C-1 or raise n_clusters"
            )
        arr.setflags(write=False)
        self.ids = arr
        self.n_clusters = c
        self._fingerprint = None

    # -- construction -------------------------------------------------------
    @classmethod
    def identity(cls, vocab_size: int) -> ClusterMap:
        """Every token its own cluster: `ids = arange(V)`."""
        if vocab_size < 1:
            raise ClusterMapError(f"vocab_size must be >= 1, got {vocab_size}")
        return cls(np.arange(vocab_size, dtype=np.int64), vocab_size)

    @classmethod
    def from_array(cls, ids: np.ndarray, n_clusters: int | None = None) -> ClusterMap:
        """Wrap an int array [V] of cluster ids in [0, C); C = max id + 1 unless given."""
        return cls(ids, n_clusters)

    # -- properties ---------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return int(self.ids.shape[0])

    @property
    def is_identity(self) -> bool:
        return self.n_clusters == self.vocab_size and bool(
            np.array_equal(self.ids, np.arange(self.vocab_size))
        )

    def cluster_sizes(self) -> np.ndarray:
        """int64 [C]: tokens per cluster."""
        return np.bincount(self.ids, minlength=self.n_clusters)

    @property
    def fingerprint(self) -> str:
        """SHA-256 (hex, 16 chars) of the map; record it next to detections and manifests."""
        if self._fingerprint is None:
            h = hashlib.sha256(_FORMAT.encode())
            h.update(np.int64(self.n_clusters).tobytes())
            h.update(self.ids.astype("<i8").tobytes())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    def __call__(self, tokens: np.ndarray) -> np.ndarray:
        """Cluster ids of `tokens` (any shape, values in [0, V))."""
        return self.ids[tokens]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClusterMap):
            return NotImplemented
        return self.n_clusters == other.n_clusters and bool(np.array_equal(self.ids, other.ids))

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __repr__(self) -> str:
        return (
            f"ClusterMap(V={self.vocab_size}, C={self.n_clusters}, "
            f"fingerprint={self.fingerprint!r})"
        )

    # -- files --------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write atomically as `.npz` (ids, n_clusters, format tag) or `.npy` (ids only)."""
        path = Path(path)
        buf = io.BytesIO()
        if path.suffix == ".npy":
            np.save(buf, self.ids, allow_pickle=False)
        elif path.suffix == ".npz":
            np.savez(
                buf, ids=self.ids, n_clusters=np.int64(self.n_clusters), format=np.str_(_FORMAT)
            )
        else:
            raise ClusterMapError(f"cluster map path must end in .npz or .npy, got {path.name}")
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike) -> ClusterMap:
        """Read a map written by `save` (or any `.npy` int array [V])."""
        path = Path(path)
        try:
            obj = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise ClusterMapError(f"cluster map file not found: {path}") from None
        except (OSError, ValueError) as exc:
            raise ClusterMapError(f"cannot read cluster map {path}: {exc}") from None
        if isinstance(obj, np.ndarray):
            return cls(obj)
        with obj:
            if "ids" not in obj.files:
                raise ClusterMapError(f"{path} has no 'ids' array; not a VoxSeal cluster map")
            n = int(obj["n_clusters"]) if "n_clusters" in obj.files else None
            return cls(np.array(obj["ids"]), n)
