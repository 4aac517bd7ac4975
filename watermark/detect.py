"""Detection: exact, multiplicity-corrected p-values, payload, localisation.

`detect_many` scores every candidate token sequence (the verifier passes one per
alignment offset, polarity or time-scale) under every key, keeps the best, and
corrects its p-value for *all* hypotheses tried with Bonferroni:
    p = min(1, raw_p * len(candidates) * len(keys) * extra_hypotheses),
valid whatever the dependence between candidates (they overlap heavily).

Windows (localisation) are scored for the winning (candidate, key) only; their
p-values are per-window and *not* corrected (they say where the mark is, not
whether there is one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np

from watermark import payload as payload_codec
from watermark.config import WatermarkConfig
from watermark.errors import WatermarkError
from watermark.keys import WatermarkKey
from watermark.pvalues import (
    binomial_tails,
    bonferroni,
    weighted_binomial_bound,
    weighted_binomial_sf,
)
from watermark.scoring import (
    ClusterMaps,
    Scorer,
    UnitCounts,
    as_codebook_rows,
    pvalues,
    resolve_cluster_maps,
)
from watermark.soft import SoftReading, SoftScoring, Weighed, weigh

CODEC_VOCAB = 1024  # EnCodec codebook size: the identity map used when none is given
DEFAULT_WINDOW_FRAMES = 250  # 5 s at 50 frames/s


@dataclass(frozen=True)
class Window:
    """Score of one stretch [start_frame, end_frame) of the winning candidate, with the
    winner's statistic (hits and n_units weighted where it was a soft reading)."""

    start_frame: int
    end_frame: int
    p_value: float
    hits: int
    n_units: int


@dataclass(frozen=True)
class Detection:
    """Result of `detect` / `detect_many`.

    Attributes:
        p_value: raw_p_value corrected (Bonferroni) for `hypotheses` tests.
        raw_p_value: exact p-value of the winning (candidate, key).
        score: green units (zero-bit, layered) or sum of per-position top colour counts
            (classic MPAC).
        n_units: de-duplicated units scored.
        key_id: public id of the winning key (None when nothing was scored).
        payload: decoded message, only when its check bits pass; else None.
        payload_confidence: model probability that all decoded symbols are right.
        symbol_confidences: per message position, posterior of the decoded symbol.
        symbols: decoded symbols (payload configs), whether or not the check passed.
        hypotheses: number of tests the correction accounts for.
        candidate: index of the winning candidate sequence.
        statistic: "binomial" (zero-bit, layered), "weighted-binomial" (a soft reading,
            watermark/soft.py; score and n_units are then its weighted green count and
            its weighted units) or "sum-of-max" (classic MPAC).
        exact: False if a conservative bound replaced the exact null (huge inputs).
        windows: per-window scores of the winning candidate.
        colour_counts: int [b, r] units per (message position, colour) of the winning
            candidate (payload schemes; for `match_payload`), else None.
    """

    p_value: float
    raw_p_value: float
    score: int
    n_units: int
    key_id: str | None
    payload: int | None
    payload_confidence: float | None
    symbol_confidences: tuple[float, ...] | None
    symbols: tuple[int, ...] | None
    hypotheses: int
    candidate: int | None
    statistic: str
    exact: bool
    windows: list[Window] = field(default_factory=list)
    colour_counts: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (payload as int and as 0x-hex string)."""
        d = asdict(self)
        d.pop("colour_counts")
        d["symbol_confidences"] = (
            list(self.symbol_confidences) if self.symbol_confidences is not None else None
        )
        d["symbols"] = list(self.symbols) if self.symbols is not None else None
        d["payload_hex"] = None if self.payload is None else f"{self.payload:#x}"
        d["windows"] = [asdict(w) for w in self.windows]
        return d


class DecodedPayload(NamedTuple):
    """Majority decode of one token stream's colour counts."""

    payload: int | None  # None unless the check bits pass
    symbols: tuple[int, ...]
    symbol_confidences: tuple[float, ...]
    confidence: float  # product of the symbol confidences


def decode_payload(counts: np.ndarray, config: WatermarkConfig) -> DecodedPayload:
    """Majority decode with per-symbol posteriors.

    Args:
        counts: int [b, r] unit counts per (message position, colour).
    The posterior assumes each unit votes its position's symbol with probability q
    and each other colour with (1 - q) / (r - 1), q estimated from the counts (the
    share of units on the winning colours). A position with no units gets 1 / r.
    """
    w = np.asarray(counts)
    r = config.radix
    n = int(w.sum())
    symbols = w.argmax(axis=1)
    q = w.max(axis=1).sum() / n if n else 1.0 / r
    q = float(np.clip(q, 1.0 / r + 1e-3, 0.999))
    llr = np.log(q * (r - 1) / (1.0 - q))
    z = w * llr
    z = z - z.max(axis=1, keepdims=True)
    post = np.exp(z)
    post /= post.sum(axis=1, keepdims=True)
    conf = post[np.arange(w.shape[0]), symbols]
    return DecodedPayload(
        payload_codec.decode(symbols, config),
        tuple(int(s) for s in symbols),
        tuple(float(c) for c in conf),
        float(np.prod(conf)),
    )


class PayloadMatch(NamedTuple):
    """Result of `match_payload`."""

    payload: int | None  # the best candidate, only when it passes both tests
    best: int | None  # the best candidate whether or not it passed
    posterior: float  # of the best among the candidates (uniform prior)
    p_value: float  # binomial tail of its matches, Bonferroni-corrected for the candidates
    matches: int  # units whose colour is the best candidate's symbol at their position
    n_units: int


def match_payload(counts: np.ndarray | None, candidates: Sequence[int], config: WatermarkConfig, *,
                  min_posterior: float = 0.99, alpha: float = 1e-3) -> PayloadMatch:
    """Which of `candidates` (e.g. the registry's published payloads) the colours carry.

    Blind decoding needs every one of the b positions right and CRC-clean, which takes
    far more tokens than telling known ids apart. Model (as in `decode_payload`): a
    unit votes its position's symbol with probability q, each other colour with
    (1 - q) / (r - 1); per position that gives a posterior over the r symbols
    (softmax of lambda * counts, lambda = log(q (r - 1) / (1 - q))). The Bayes factor of
    candidate m against "some payload not in the list" (all r^b symbol strings equally
    likely) is prod over positions of r * posterior[position, m's symbol]: a candidate
    that merely shares many positions with the true, unlisted id is ruled out by the
    positions where it differs. Prior: half on the list (split evenly), half off it.
    The best candidate is reported when its posterior is >= `min_posterior` *and* its
    matching units are significant against Binomial(n, 1/r) after Bonferroni over the
    candidates. q is estimated as the best candidate's match rate.

    Args:
        counts: int [b, r] colour counts (`Detection.colour_counts`).
    """
    none = PayloadMatch(None, None, 0.0, 1.0, 0, 0)
    if counts is None or not config.has_payload or len(candidates) == 0:
        return none
    w = np.asarray(counts, dtype=np.int64)
    n = int(w.sum())
    if n == 0:
        return none
    cands = [int(c) for c in candidates]
    b, r = w.shape
    symbols = np.stack([payload_codec.encode(c, config) for c in cands])  # [M, b]
    x = w[np.arange(b)[None, :], symbols].sum(axis=1)  # [M] matching units
    i = int(np.argmax(x))
    q = float(np.clip(x[i] / n, 1.0 / r + 1e-6, 1 - 1e-6))
    lam = np.log(q * (r - 1) / (1 - q))
    z = lam * w
    log_post = z - z.max(axis=1, keepdims=True)
    log_post -= np.log(np.exp(log_post).sum(axis=1, keepdims=True))  # [b, r]
    log_bf = (np.log(r) + log_post[np.arange(b)[None, :], symbols]).sum(axis=1)  # [M]
    log_joint = np.log(0.5 / len(cands)) + log_bf
    j = int(np.argmax(log_joint))
    top = log_joint[j]
    posterior = float(1.0 / (np.exp(log_joint - top).sum() + 0.5 * np.exp(-top)))
    upper, at = binomial_tails(int(x[j]), n, 1.0 / r)
    p = float(bonferroni(float(upper + at), len(cands)))
    ok = posterior >= min_posterior and p < alpha
    return PayloadMatch(cands[j] if ok else None, cands[j], posterior, p, int(x[j]), n)


def _windows(scorer: Scorer, rows: tuple[np.ndarray, ...], window_frames: int,
             soft: SoftReading | None = None, scoring: SoftScoring | None = None) -> list[Window]:
    t = min(r.size for r in rows)
    if window_frames <= 0 or t == 0:
        return []
    if t <= window_frames:
        starts, width = np.zeros(1, np.int64), t
    else:
        hop = max(1, window_frames // 2)
        starts = np.arange(0, t - window_frames + 1, hop)
        if starts[-1] + window_frames < t:
            starts = np.append(starts, t - window_frames)
        width = window_frames
    if soft is not None:  # the winner was scored on its soft reading: so are its windows
        gamma = scorer.config.effective_gamma
        weighed = weigh(soft, rows[0], scorer.cluster_maps[0], scorer.config.context_width,
                        scoring or SoftScoring(), [(int(s), int(s) + width) for s in starts])
        out = []
        for s, w in zip(starts, weighed, strict=True):
            hits = scorer.weighted_hits(w.units, w.weights)
            out.append(Window(int(s), int(s) + width, weighted_binomial_sf(w.per_weight, hits, gamma), hits,
                              int(w.units.size)))
        return out
    counts = scorer.count([rows]) if t <= window_frames else scorer.count_windows(rows, starts, width)
    p, score, _ = pvalues(counts, scorer.config)
    return [
        Window(int(s), int(s) + width, float(pi), int(si), int(ni))
        for s, pi, si, ni in zip(starts, p, score, counts.n_units, strict=True)
    ]


class _Scores(NamedTuple):
    """One key's p-values for every candidate: p, score, n_units [N]; exact, weighted
    bool [N]; the plain counts (payload colours, windows)."""

    p: np.ndarray
    score: np.ndarray
    n_units: np.ndarray
    exact: np.ndarray
    weighted: np.ndarray
    counts: UnitCounts


def _scores(scorer: Scorer, seqs: list[tuple[np.ndarray, ...]], weighed: dict[int, Weighed]) -> _Scores:
    """`weighed`: the candidates that have a soft reading, by index (`weigh`, key-free)."""
    counts = scorer.count(seqs)
    p, score, exact = pvalues(counts, scorer.config)
    n_units, weighted = counts.n_units.copy(), np.zeros(len(seqs), bool)
    if weighed:
        p, score, exact = p.copy(), score.copy(), exact.copy()
        gamma = scorer.config.effective_gamma
        tallies = {i: (w.per_weight, scorer.weighted_hits(w.units, w.weights)) for i, w in weighed.items()}
        # the exact tail costs ~1 ms, its Chernoff bound microseconds: the candidate with
        # the smallest bound gets the exact tail and the others keep their bounds, which
        # are valid p-values too (each is >= its exact tail), so the minimum stays valid
        bounds = {i: weighted_binomial_bound(per_weight, s, gamma) for i, (per_weight, s) in tallies.items()}
        first = min(bounds, key=bounds.__getitem__)
        for i, (per_weight, s) in tallies.items():
            p[i] = weighted_binomial_sf(per_weight, s, gamma) if i == first else bounds[i]
            score[i], n_units[i] = s, int(per_weight[1:].sum())
            exact[i], weighted[i] = i == first, True
    return _Scores(p, score, n_units, exact, weighted, counts)


def detect_many(
    candidates: Sequence[object],
    keys: Sequence[WatermarkKey] | WatermarkKey,
    config: WatermarkConfig,
    cluster_map: ClusterMaps = None,
    *,
    extra_hypotheses: int = 1,
    window_frames: int = DEFAULT_WINDOW_FRAMES,
    soft: Sequence[SoftReading | None] | None = None,
    soft_scoring: SoftScoring | None = None,
) -> Detection:
    """Best (candidate, key) with its p-value corrected for every hypothesis tried.

    Args:
        candidates: token sequences, each [T] (one marked codebook) or [K, T]
            (row k = codebook k), numpy or torch; e.g. one per alignment offset.
        keys: keys to try (a single key is accepted too).
        config: the configuration the audio was generated with.
        cluster_map: a ClusterMap for the marked codebook, a dict codebook ->
            ClusterMap, or None (identity over 1024 tokens).
        extra_hypotheses: further tests made outside this call (multiplies the count).
        window_frames: localisation window length in frames (0 = no windows);
            windows overlap by half.
        soft: per candidate, the reader's soft reading of it (`watermark.soft`) or None.
            A candidate with one is scored with the weighted statistic (one marked
            codebook with a green list), the others with the plain count. The winner's
            windows are scored as it was; the payload always comes from the tokens.
        soft_scoring: how soft readings become weights (default `SoftScoring()`).
    """
    if isinstance(keys, WatermarkKey):
        keys = [keys]
    keys = list(keys)
    if not keys:
        raise WatermarkError("pass at least one watermark key to detect with")
    if not all(isinstance(k, WatermarkKey) for k in keys):
        raise WatermarkError("keys must be WatermarkKey objects (load them with WatermarkKey.load)")
    if not isinstance(config, WatermarkConfig):
        raise WatermarkError("config must be a WatermarkConfig")
    if len(candidates) == 0:
        raise WatermarkError("pass at least one candidate token sequence")
    if not isinstance(extra_hypotheses, int) or extra_hypotheses < 1:
        raise WatermarkError(f"extra_hypotheses must be an int >= 1, got {extra_hypotheses!r}")
    maps = resolve_cluster_maps(config, cluster_map, CODEC_VOCAB)
    seqs = [as_codebook_rows(c, config) for c in candidates]
    if soft is not None and len(soft) != len(seqs):
        raise WatermarkError(f"pass one soft reading (or None) per candidate: {len(soft)} for "
                             f"{len(seqs)} candidates")
    hypotheses = len(seqs) * len(keys) * extra_hypotheses
    scoring = soft_scoring or SoftScoring()

    weighed = {}
    if any(r is not None for r in soft or []):
        if len(maps) != 1 or not config.binomial:
            raise WatermarkError("soft readings are scored for one marked codebook with a green list")
        weighed = {i: weigh(r, seqs[i][0], maps[0], config.context_width, scoring)[0]
                   for i, r in enumerate(soft) if r is not None}

    best = None
    for key in keys:
        scorer = Scorer(key, config, maps)
        scores = _scores(scorer, seqs, weighed)
        i = int(np.argmin(scores.p))
        if best is None or scores.p[i] < best[0]:
            best = (float(scores.p[i]), i, scorer, scores)
    raw_p, i, scorer, scores = best
    counts = scores.counts
    score, exact = int(scores.score[i]), bool(scores.exact[i])
    statistic = ("weighted-binomial" if scores.weighted[i] else
                 "binomial" if config.binomial else "sum-of-max")
    message = confidence = symbols = confs = None
    if config.has_payload:
        message, symbols, confs, confidence = decode_payload(counts.colour_counts[i], config)
    return Detection(
        p_value=float(bonferroni(raw_p, hypotheses)),
        raw_p_value=raw_p,
        score=score,
        n_units=int(scores.n_units[i]),
        key_id=scorer.key_id,
        payload=message,
        payload_confidence=confidence,
        symbol_confidences=confs,
        symbols=symbols,
        hypotheses=hypotheses,
        candidate=i,
        statistic=statistic,
        exact=exact,
        windows=_windows(scorer, seqs[i], window_frames, soft[i] if scores.weighted[i] else None, scoring),
        colour_counts=None if counts.colour_counts is None else counts.colour_counts[i],
    )


def score_windows(
    tokens: object,
    key: WatermarkKey,
    config: WatermarkConfig,
    cluster_map: ClusterMaps = None,
    *,
    window_frames: int = DEFAULT_WINDOW_FRAMES,
    soft: SoftReading | None = None,
    soft_scoring: SoftScoring | None = None,
) -> list[Window]:
    """The localisation windows of one token sequence under one key, as `detect_many`
    scores its winner's: for a caller that searched with window_frames=0 and wants the
    windows of its final winner only (each soft window costs an exact tail)."""
    maps = resolve_cluster_maps(config, cluster_map, CODEC_VOCAB)
    return _windows(Scorer(key, config, maps), as_codebook_rows(tokens, config), window_frames, soft,
                    soft_scoring)


def detect(
    tokens: object,
    keys: Sequence[WatermarkKey] | WatermarkKey,
    config: WatermarkConfig,
    cluster_map: ClusterMaps = None,
    *,
    extra_hypotheses: int = 1,
    window_frames: int = DEFAULT_WINDOW_FRAMES,
) -> Detection:
    """Detect in one token sequence ([T] or [K, T]); see `detect_many`."""
    return detect_many(
        [tokens],
        keys,
        config,
        cluster_map,
        extra_hypotheses=extra_hypotheses,
        window_frames=window_frames,
    )
