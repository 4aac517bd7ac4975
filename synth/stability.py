"""How well codec tokens survive decode -> edit -> re-encode, and clusters built from it.

Agreement of codebook k under an edit is the fraction of frames t where
encode(edit(decode(encode(x))))[k, t'] == encode(x)[k, t], with t' = t for
edits that keep the time axis and t' mapped by the speed factor otherwise.
The confusion counts (original code -> re-encoded code) feed `balanced_clusters`.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from synth.codec import Codec
from synth.edits import Edit


def _frame_map(edit_name: str, t_orig: int, t_new: int) -> np.ndarray:
    """Indices into the original frames for each re-encoded frame."""
    if t_new == t_orig or not edit_name.startswith("speed-"):
        return np.arange(min(t_orig, t_new))
    factor = float(edit_name.split("-", 1)[1])
    idx = np.round(np.arange(t_new) * factor).astype(int)
    return idx[idx < t_orig]


def measure_stability(
    codec: Codec,
    clips: Sequence[np.ndarray],
    edits: dict[str, Edit],
    *,
    confusion_codebooks: int = 1,
    reencoder: Codec | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, list[float]], np.ndarray]:
    """Per-edit, per-codebook agreement and confusion counts.

    clips: mono float32 arrays at codec.sample_rate. `reencoder` (e.g. the codec with
    its verifier-side encoder) re-encodes the edited audio; default `codec`. Returns
    ({edit: [agreement of codebook 1..K]}, confusion [confusion_codebooks, V, V]
    of original -> re-encoded codes summed over all edits).
    """
    V, K = codec.codebook_size, codec.n_codebooks
    hits = {name: np.zeros(K) for name in edits}
    totals = dict.fromkeys(edits, 0)
    confusion = np.zeros((confusion_codebooks, V, V), dtype=np.int64)
    for clip in clips:
        codes = codec.encode(torch.from_numpy(clip)).numpy()
        decoded = codec.decode(torch.from_numpy(codes)).numpy()[: len(clip)]
        for name, edit in edits.items():
            edited = np.ascontiguousarray(edit(decoded, codec.sample_rate))
            again = (reencoder or codec).encode(torch.from_numpy(edited)).numpy()
            t_new = again.shape[1]
            src = _frame_map(name, codes.shape[1], t_new)
            a = again[:, : len(src)]
            o = codes[:, src]
            hits[name] += (a == o).sum(axis=1)
            totals[name] += len(src)
            for k in range(confusion_codebooks):
                np.add.at(confusion[k], (o[k], a[k]), 1)
        if progress:
            progress(1)
    agreement = {n: (hits[n] / max(totals[n], 1)).round(4).tolist() for n in edits}
    return agreement, confusion


def cluster_agreement(confusion: np.ndarray, cluster_of: np.ndarray) -> float:
    """Fraction of confusion mass that stays inside its cluster (confusion [V, V])."""
    total = confusion.sum()
    if total == 0:
        return float("nan")
    same = cluster_of[:, None] == cluster_of[None, :]
    return float((confusion * same).sum() / total)


def _balanced_assign(dist: np.ndarray, capacity: int) -> np.ndarray:
    """Assign rows of dist [N, C] to columns, each column at most `capacity` rows."""
    n, c = dist.shape
    order = np.argsort(dist, axis=None)
    assign = np.full(n, -1)
    load = np.zeros(c, dtype=int)
    for flat in order:
        i, j = divmod(int(flat), c)
        if assign[i] < 0 and load[j] < capacity:
            assign[i] = j
            load[j] += 1
            if load.sum() == n:
                break
    return assign


def balanced_clusters(confusion: np.ndarray, codewords: np.ndarray, n_clusters: int,
                      *, iters: int = 20, seed: int = 0) -> np.ndarray:
    """Equal-size clusters of tokens that the codec confuses with each other.

    confusion [V, V] counts; codewords [V, D]. Tokens are embedded spectrally
    from the symmetrised confusion graph, with a codeword-neighbour graph added
    so that tokens rarely seen in the measurement still land beside their
    nearest codewords; balanced k-means then cuts the embedding into
    `n_clusters` groups of V / n_clusters tokens. Returns cluster_of [V].
    """
    V = confusion.shape[0]
    if V % n_clusters:
        raise ValueError(f"{n_clusters} clusters do not divide {V} tokens evenly")
    conf = confusion.astype(np.float64)
    conf = conf + conf.T
    np.fill_diagonal(conf, 0.0)
    d2 = ((codewords[:, None, :] - codewords[None, :, :]) ** 2).sum(-1)
    knn = np.argsort(d2, axis=1)[:, 1:9]
    near = np.zeros((V, V))
    np.put_along_axis(near, knn, 1.0, axis=1)
    near = np.maximum(near, near.T)
    scale = conf.sum() / max(near.sum(), 1.0)
    w = conf + 0.2 * scale * near + 1e-9
    deg = w.sum(1)
    lap = w / np.sqrt(deg[:, None] * deg[None, :])
    vals, vecs = np.linalg.eigh(lap)
    emb = vecs[:, -n_clusters:]
    emb = emb / np.linalg.norm(emb, axis=1, keepdims=True).clip(1e-12)
    rng = np.random.default_rng(seed)
    centres = emb[rng.choice(V, n_clusters, replace=False)]
    capacity = V // n_clusters
    assign = np.zeros(V, dtype=int)
    for _ in range(iters):
        dist = ((emb[:, None, :] - centres[None]) ** 2).sum(-1)
        new = _balanced_assign(dist, capacity)
        if np.array_equal(new, assign):
            break
        assign = new
        centres = np.stack([emb[assign == j].mean(0) for j in range(n_clusters)])
    return assign
