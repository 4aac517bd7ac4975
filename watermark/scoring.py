"""De-duplicated unit counts and their p-values (shared by `detect` and the studies).

Silence and held vowels repeat the same tokens; scoring every repeat would count
one PRF draw many times and make the nominal false-positive rate meaningless. So
each distinct scoring unit (codebook, context cluster, token cluster) of a sequence
is counted once (see `tables.py` for what a unit is).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from watermark.clusters import ClusterMap
from watermark.config import WatermarkConfig
from watermark.errors import ClusterMapError, TokenError
from watermark.keys import WatermarkKey
from watermark.pvalues import binomial_tails, sum_of_max_tails
from watermark.tables import UnitTables, build_tables, cached_tables

ClusterMaps = ClusterMap | Mapping[int, ClusterMap] | None
# A token id that marks a frame the detector was told not to read (e.g. a pause that holds
# noise alone): a unit that touches such a frame is not counted, and the frames keep their
# positions, so a pair of tokens is scored only where its two frames really were adjacent.
UNREAD = -1


def resolve_cluster_maps(
    config: WatermarkConfig, cluster_map: ClusterMaps, vocab_size: int | None = None
) -> tuple[ClusterMap, ...]:
    """One ClusterMap per marked codebook (config order). None = identity over `vocab_size`."""
    out = []
    for k in config.codebooks:
        cm = cluster_map.get(k) if isinstance(cluster_map, Mapping) else cluster_map
        if cm is None:
            if vocab_size is None:
                raise ClusterMapError(
                    f"no cluster map for codebook {k} and no vocabulary size to build the "
                    "identity map; pass cluster_map=ClusterMap.identity(V)"
                )
            cm = ClusterMap.identity(vocab_size)
        if not isinstance(cm, ClusterMap):
            raise ClusterMapError(
                f"cluster_map must be a ClusterMap (or a dict codebook -> ClusterMap), "
                f"got {type(cm).__name__}"
            )
        out.append(cm)
    return tuple(out)


def as_codebook_rows(tokens: object, config: WatermarkConfig) -> tuple[np.ndarray, ...]:
    """Normalise one token sequence to one int64 array [T] per marked codebook.

    Accepts [T] (the single marked codebook) or [K, T] (row k = codebook k), as a
    numpy array, a torch tensor or nested lists.
    """
    if hasattr(tokens, "detach"):  # torch tensor, without importing torch here
        tokens = tokens.detach().cpu().numpy()
    arr = np.asarray(tokens)
    if arr.dtype.kind not in "iu":
        if arr.size == 0:
            arr = arr.astype(np.int64)
        else:
            raise TokenError(f"token ids must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.ndim == 1:
        if len(config.codebooks) != 1:
            raise TokenError(
                f"config marks codebooks {config.codebooks}; pass tokens of shape [K, T] "
                "with one row per codebook"
            )
        return (arr,)
    if arr.ndim == 2:
        need = max(config.codebooks)
        if arr.shape[0] <= need:
            raise TokenError(
                f"tokens have {arr.shape[0]} codebook rows but the config marks codebook {need}; "
                "pass all codebooks as [K, T] (row k = codebook k)"
            )
        return tuple(arr[k] for k in config.codebooks)
    raise TokenError(f"tokens must have shape [T] or [K, T], got {arr.shape}")


@dataclass(frozen=True)
class UnitCounts:
    """Counts of de-duplicated units for N sequences.

    Attributes:
        n_units: int64 [N].
        hits: int64 [N] green units (zero-bit and layered schemes) or None.
        colour_counts: int64 [N, b, r] units per (message position, colour) (payload
            schemes) or None.
    """

    n_units: np.ndarray
    hits: np.ndarray | None
    colour_counts: np.ndarray | None


class Scorer:
    """Counts de-duplicated units of token sequences under one key.

    Tables are evaluated once per (key, config, codebook, C) and memoised, so
    scoring many candidate alignments under one key costs one sort.
    """

    def __init__(
        self,
        key: WatermarkKey,
        config: WatermarkConfig,
        cluster_maps: Sequence[ClusterMap],
        *,
        cache: bool = True,
    ) -> None:
        if len(cluster_maps) != len(config.codebooks):
            raise ClusterMapError("need one cluster map per marked codebook")
        self.config = config
        self.key_id = key.key_id
        self.cluster_maps = tuple(cluster_maps)
        make = cached_tables if cache else build_tables
        self.tables: tuple[UnitTables, ...] = tuple(
            make(key, config, k, cm.n_clusters)
            for k, cm in zip(config.codebooks, cluster_maps, strict=True)
        )
        sizes = [t.n_units for t in self.tables]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.total_units = int(self._offsets[-1])
        # kept in the tables' own small dtypes (and not copied for one codebook): the
        # int64 copies of 1M-unit tables cost more than counting a 10 s clip
        if config.has_payload:
            self._colour = _joined([t.colour for t in self.tables])
            self._position = _joined([t.position for t in self.tables])
        if config.binomial:
            self._green = _joined([t.green for t in self.tables])

    def _codebook_units(self, j: int, tok: np.ndarray) -> np.ndarray:
        """Unit ids of marked codebook j: tok [..., T] -> int64 [..., T - h]; entry k covers
        frames k .. k + h, and is UNREAD where one of those frames is."""
        cm = self.cluster_maps[j]
        if tok.size and (tok.min() < UNREAD or tok.max() >= cm.vocab_size):
            raise TokenError(
                f"codebook {self.config.codebooks[j]} has token ids outside "
                f"[0, {cm.vocab_size}) (or {UNREAD} for a frame not read); is the cluster map "
                "for this codec?"
            )
        read = tok != UNREAD
        cl = cm.ids[np.where(read, tok, 0)]
        if self.config.context_width == 1:
            u = cl[..., :-1] * cm.n_clusters + cl[..., 1:]
            read = read[..., :-1] & read[..., 1:]
        else:
            u = cl
        return np.where(read, u + self._offsets[j], UNREAD)

    def units(self, rows: tuple[np.ndarray, ...]) -> np.ndarray:
        """Unit ids (not de-duplicated) of one sequence, the unread ones left out:
        int64 [<= T * codebooks]."""
        if len(rows) != len(self.cluster_maps):
            raise TokenError("need one token row per marked codebook")
        parts = [self._codebook_units(j, tok) for j, tok in enumerate(rows)]
        u = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return u[u != UNREAD]

    def units_batch(self, tokens: np.ndarray) -> np.ndarray:
        """Unit ids of N equal-length single-codebook sequences [N, T] -> [N, T'] (fast
        path), UNREAD where a unit touches an unread frame."""
        if len(self.cluster_maps) != 1:
            raise TokenError("units_batch takes one marked codebook; use count() for [K, T]")
        return self._codebook_units(0, np.asarray(tokens, dtype=np.int64))

    def count(self, sequences: Sequence[tuple[np.ndarray, ...]] | np.ndarray) -> UnitCounts:
        """De-duplicate and count units.

        Args:
            sequences: N sequences, each a tuple of one int array [T] per marked
                codebook (see `as_codebook_rows`), or an int array [N, T] when one
                codebook is marked.
        """
        if isinstance(sequences, np.ndarray):
            u = self.units_batch(sequences)
            n_seq = u.shape[0]
            seq_idx = np.repeat(np.arange(n_seq, dtype=np.int64), u.shape[1])
            flat = u.ravel()
        else:
            us = [self.units(s) for s in sequences]
            n_seq = len(us)
            lens = np.array([x.size for x in us], dtype=np.int64)
            seq_idx = np.repeat(np.arange(n_seq, dtype=np.int64), lens)
            flat = np.concatenate(us) if us else np.zeros(0, np.int64)
        return self._tally(seq_idx, flat, n_seq)

    def count_windows(
        self, rows: tuple[np.ndarray, ...], starts: np.ndarray, width: int
    ) -> UnitCounts:
        """Counts for the windows [s, s + width) of one sequence, s in `starts` (frames).

        A unit belongs to a window when all its frames (context and token) do; each
        window is de-duplicated on its own. Vectorised: one gather and one sort.
        """
        h = self.config.context_width
        starts = np.asarray(starts, dtype=np.int64)
        span = starts[:, None] + np.arange(width - h)  # [n_windows, width - h]
        parts = [self._codebook_units(j, tok)[span] for j, tok in enumerate(rows)]
        u = np.concatenate(parts, axis=1)
        seq_idx = np.repeat(np.arange(starts.size, dtype=np.int64), u.shape[1])
        return self._tally(seq_idx, u.ravel(), starts.size)

    def weighted_hits(self, units: np.ndarray, weights: np.ndarray) -> int:
        """Weighted green count of distinct units of the one marked codebook (a soft
        reading's, `watermark.soft.weigh`)."""
        if len(self.cluster_maps) != 1 or not self.config.binomial:
            raise TokenError("soft readings are scored for one marked codebook with a green list")
        return int(weights[self._green[units]].sum())

    def _tally(self, seq_idx: np.ndarray, flat: np.ndarray, n_seq: int) -> UnitCounts:
        read = flat != UNREAD  # every counting path ends here: unread units are dropped once
        uniq = _sorted_unique(seq_idx[read] * self.total_units + flat[read])
        seq = uniq // self.total_units
        unit = uniq - seq * self.total_units
        n_units = np.bincount(seq, minlength=n_seq).astype(np.int64)
        hits = w = None
        if self.config.binomial:
            hits = np.bincount(seq, weights=self._green[unit], minlength=n_seq).astype(np.int64)
        if self.config.has_payload:
            b, r = self.config.n_symbols, self.config.radix
            # int64 throughout, as seq is: the tables' own dtypes are small ints
            cell = (seq * b + self._position[unit]) * r + self._colour[unit]
            w = np.bincount(cell, minlength=n_seq * b * r).reshape(n_seq, b, r).astype(np.int64)
        return UnitCounts(n_units, hits, w)


def _joined(arrays: list[np.ndarray]) -> np.ndarray:
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def _sorted_unique(x: np.ndarray) -> np.ndarray:
    # np.unique in numpy 2.x may take a hash-table path that is ~10x slower than a
    # plain sort on these int64 keys; the sort also yields ids grouped by sequence.
    if x.size == 0:
        return x
    x = np.sort(x)
    keep = np.empty(x.size, bool)
    keep[0] = True
    np.not_equal(x[1:], x[:-1], out=keep[1:])
    return x[keep]


def pvalues(
    counts: UnitCounts, config: WatermarkConfig, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sequence exact p-values.

    Returns:
        (p [N] float64, score [N] int64, exact [N] bool). score = green units
        (zero-bit) or sum over positions of the top colour count (payload).
        With `rng`, randomised p-values (uniform under H0; for calibration studies).
    """
    p, p_rand, score, exact = _pvalues(counts, config, rng)
    return (p if rng is None else p_rand), score, exact


def pvalues_and_randomised(
    counts: UnitCounts, config: WatermarkConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(p [N], randomised p [N]) in one pass; for calibration studies."""
    p, p_rand, _, _ = _pvalues(counts, config, rng)
    return p, p_rand


def _pvalues(counts, config, rng):
    if counts.hits is not None:
        upper, at = binomial_tails(counts.hits, counts.n_units, config.effective_gamma)
        score, exact = counts.hits, np.ones(upper.shape, bool)
    else:
        w = counts.colour_counts
        score = w.max(axis=2).sum(axis=1).astype(np.int64)
        upper, at, exact = sum_of_max_tails(w)
    p = np.minimum(1.0, upper + at)
    p_rand = None if rng is None else np.minimum(1.0, upper + rng.random(p.shape) * at)
    return p, p_rand, score, exact
