"""Synthetic token sequences for calibration and power studies (no audio needed).

Null sequences (independent of any key) of three kinds the verifier will meet in
re-encoded human speech: uniform, highly repetitive (long runs of a few tokens:
silence, held vowels) and low-entropy Markov chains. Watermarked sequences come
from the real processor and sampler driven by random logits of controlled entropy,
and a confusion model imitates re-encoding (a flipped token usually lands on a
confusable neighbour: a token of the same *true* confusion cluster).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from watermark.clusters import ClusterMap
from watermark.config import WatermarkConfig
from watermark.keys import WatermarkKey
from watermark.processor import WatermarkLogitsProcessor
from watermark.sampling import filter_logits, sample_next
from watermark.scoring import Scorer, UnitCounts, pvalues_and_randomised


def balanced_cluster_map(vocab_size: int, n_clusters: int, rng: np.random.Generator) -> ClusterMap:
    """Random balanced map: a random permutation cut into C equal groups."""
    if vocab_size % n_clusters:
        raise ValueError("vocab_size must be a multiple of n_clusters for a balanced map")
    ids = np.empty(vocab_size, np.int64)
    ids[rng.permutation(vocab_size)] = np.arange(vocab_size) // (vocab_size // n_clusters)
    return ClusterMap.from_array(ids, n_clusters)


def uniform_null(rng: np.random.Generator, n: int, length: int, vocab: int = 1024) -> np.ndarray:
    """int64 [n, length], i.i.d. uniform tokens."""
    return rng.integers(0, vocab, size=(n, length), dtype=np.int64)


def repetitive_null(
    rng: np.random.Generator,
    n: int,
    length: int,
    vocab: int = 1024,
    mean_run: float = 25.0,
    alphabet: int = 4,
) -> np.ndarray:
    """int64 [n, length]: runs (geometric length, mean `mean_run`) of tokens drawn from a
    per-sequence alphabet of `alphabet` tokens -- silence and held vowels, exaggerated."""
    letters = rng.integers(0, vocab, size=(n, alphabet))
    new_run = rng.random((n, length)) < 1.0 / mean_run
    new_run[:, 0] = True
    run_id = np.cumsum(new_run, axis=1) - 1
    run_letter = rng.integers(0, alphabet, size=(n, length))  # letter of run k is entry k
    choice = np.take_along_axis(run_letter, run_id, axis=1)
    return np.take_along_axis(letters, choice, axis=1)


def markov_null(
    rng: np.random.Generator,
    n: int,
    length: int,
    vocab: int = 1024,
    stay: float = 0.6,
    branches: int = 3,
) -> np.ndarray:
    """int64 [n, length]: low-entropy Markov chains, a fresh chain per sequence.

    From token v the chain stays with probability `stay`, else moves to one of
    `branches` successors succ_j(v) = (a v + b_j) mod V (a, b_j random per sequence),
    so each chain has about log2(1 + branches) bits of entropy per step at most.
    """
    a = rng.integers(1, vocab, size=n) | 1
    b = rng.integers(0, vocab, size=(n, branches))
    out = np.empty((n, length), np.int64)
    cur = rng.integers(0, vocab, size=n)
    rows = np.arange(n)
    for t in range(length):
        out[:, t] = cur
        move = rng.random(n) >= stay
        j = rng.integers(0, branches, size=n)
        nxt = (a * cur + b[rows, j]) % vocab
        cur = np.where(move, nxt, cur)
    return out


def nested_cluster_maps(
    vocab_size: int, sizes: tuple[int, ...], rng: np.random.Generator
) -> tuple[ClusterMap, ...]:
    """Balanced maps with C = sizes[0] > sizes[1] > ..., each a coarsening of the one
    before (a random permutation cut into equal groups), like confusion clusters at
    several resolutions."""
    perm = rng.permutation(vocab_size)
    maps = []
    for c in sizes:
        if vocab_size % c:
            raise ValueError("vocab_size must be a multiple of every cluster count")
        ids = np.empty(vocab_size, np.int64)
        ids[perm] = np.arange(vocab_size) // (vocab_size // c)
        maps.append(ClusterMap.from_array(ids, c))
    return tuple(maps)


def confuse(
    tokens: np.ndarray,
    agreement: float,
    rng: np.random.Generator,
    neighbourhoods: tuple[tuple[ClusterMap, float], ...],
) -> np.ndarray:
    """Imitate re-encoding. Each token is kept with probability `agreement`; a flipped
    token goes to a random token of its cluster in `neighbourhoods[0][0]` with
    probability `neighbourhoods[0][1]`, else of its cluster in the next map with the
    next probability, ..., else to a uniform random token.

    Args:
        tokens: int [...] token ids.
        neighbourhoods: (map, probability) pairs, finest first; the probabilities sum
            to <= 1.
    """
    tokens = np.asarray(tokens, np.int64)
    vocab = neighbourhoods[0][0].vocab_size if neighbourhoods else int(tokens.max()) + 1
    out = rng.integers(0, vocab, size=tokens.shape)
    u = rng.random(tokens.shape)
    lo = 0.0
    for cmap, prob in neighbourhoods:
        sel = (u >= lo) & (u < lo + prob)
        lo += prob
        ids = cmap.ids
        order = np.argsort(ids, kind="stable")
        sizes = cmap.cluster_sizes()
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        cl = ids[tokens[sel]]
        pick = starts[cl] + (rng.random(cl.shape) * sizes[cl]).astype(np.int64)
        out[sel] = order[pick]
    keep = rng.random(tokens.shape) < agreement
    return np.where(keep, tokens, out)


@dataclass(frozen=True)
class Generated:
    """Output of `generate`.

    Attributes:
        tokens: int64 [n, length].
        entropy_bits: mean entropy of the model's (unbiased, unfiltered) next-token
            distributions.
        filtered_entropy_bits: the same after temperature/top-k/top-p, before the bias.
        nll_bits: mean -log2 p(token) of the sampled tokens under the unbiased,
            unfiltered model (compare with processor=None to get the quality cost).
    """

    tokens: np.ndarray
    entropy_bits: float
    filtered_entropy_bits: float
    nll_bits: float


def _entropy_bits(logits: torch.Tensor) -> float:
    logp = torch.log_softmax(logits, dim=-1)
    p = logp.exp()
    h = -torch.where(p > 0, p * logp, torch.zeros_like(p)).sum(-1)
    return float(h.mean()) / np.log(2)


def generate(
    processor: WatermarkLogitsProcessor | None,
    n: int,
    length: int,
    sigma: float,
    generator: torch.Generator,
    *,
    vocab: int = 1024,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    ras_window: int = 10,
) -> Generated:
    """Sample n sequences through the real processor + sampler.

    Logits each step are sigma * N(0, 1) i.i.d. over the vocabulary (sigma sets the
    entropy: 1, 2, 3, 4 give about 4.1, 3.4, 2.5, 1.8 bits after top-k 25, top-p 0.8).
    """
    hist = torch.zeros((n, length), dtype=torch.long)
    ent = fent = nll = 0.0
    probes = 0
    rows = torch.arange(n)
    for t in range(length):
        logits = sigma * torch.randn((n, vocab), generator=generator)
        scores = processor(hist[:, :t], logits) if processor is not None else logits
        tok = sample_next(
            scores,
            hist[:, :t],
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            ras_window=ras_window,
            generator=generator,
        )
        hist[:, t] = tok
        nll -= float(torch.log_softmax(logits / temperature, -1)[rows, tok].mean())
        if t % 25 == 0:  # entropies are costly; a sample of steps is enough
            ent += _entropy_bits(logits / temperature)
            fent += _entropy_bits(
                filter_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p)
            )
            probes += 1
    ln2 = np.log(2)
    return Generated(hist.numpy(), ent / probes, fent / probes, nll / length / ln2)


def null_pvalues(
    config: WatermarkConfig,
    cluster_map: ClusterMap,
    tokens: np.ndarray,
    rng: np.random.Generator,
    *,
    per_key: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """p-values of key-independent sequences, each group of `per_key` rows under a fresh key.

    The FPR promise is over keys and sequences together, so studies draw fresh keys
    (per_key = 1 makes every trial independent, which a KS test needs).

    Args:
        tokens: int [N, T] null sequences (one codebook).
    Returns:
        (p [N], randomised p [N]); the randomised ones are Uniform(0, 1) under H0.
    """
    parts: list[UnitCounts] = []
    for start in range(0, tokens.shape[0], per_key):
        key = WatermarkKey.from_bytes(rng.bytes(32))
        scorer = Scorer(key, config, (cluster_map,), cache=False)
        parts.append(scorer.count(tokens[start : start + per_key]))
    counts = UnitCounts(
        np.concatenate([c.n_units for c in parts]),
        np.concatenate([c.hits for c in parts]) if config.binomial else None,
        np.concatenate([c.colour_counts for c in parts]) if config.has_payload else None,
    )
    return pvalues_and_randomised(counts, config, rng)
