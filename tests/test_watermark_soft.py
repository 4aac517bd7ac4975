"""Soft readings: the weighted statistic's exact null, its units, and what it buys."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from watermark.clusters import ClusterMap
from watermark.config import WatermarkConfig
from watermark.detect import detect_many
from watermark.errors import WatermarkError
from watermark.keys import WatermarkKey
from watermark.pvalues import weighted_binomial_bound, weighted_binomial_sf
from watermark.scoring import UNREAD, Scorer
from watermark.soft import SoftReading, SoftScoring, cluster_beliefs, weigh, weighted_units

GAMMA = 0.25
KEY = WatermarkKey.from_bytes(b"soft-reading-test-key-0123456789")


def _convolved_tail(per_weight: np.ndarray, s: int, gamma: float) -> float:
    """The null by brute force: one Bernoulli unit at a time."""
    pmf = np.array([1.0])
    for weight, count in enumerate(per_weight):
        for _ in range(count if weight else 0):
            nxt = np.zeros(pmf.size + weight)
            nxt[: pmf.size] += pmf * (1 - gamma)
            nxt[weight:] += pmf * gamma
            pmf = nxt
    return float(pmf[s:].sum()) if s < pmf.size else 0.0


@settings(max_examples=120, deadline=None)
@given(st.lists(st.integers(0, 12), min_size=2, max_size=10), st.floats(0.0, 1.05),
       st.sampled_from([0.1, 0.25, 0.5]))
def test_the_weighted_tail_is_the_brute_force_null(per_weight, where, gamma):
    per_weight = np.array(per_weight)
    top = int((np.arange(per_weight.size) * per_weight)[1:].sum())
    s = int(round(where * top))
    want = _convolved_tail(per_weight, s, gamma)
    got = weighted_binomial_sf(per_weight, s, gamma)
    assert got == pytest.approx(want, rel=1e-9, abs=1e-300)
    assert weighted_binomial_bound(per_weight, s, gamma) >= got * (1 - 1e-9)


def test_with_every_weight_one_it_is_the_binomial_tail_far_out():
    for n, s in [(100, 25), (500, 300), (200, 200), (3000, 1200)]:
        want = binom.sf(s - 1, n, GAMMA)
        assert weighted_binomial_sf(np.array([0, n]), s, GAMMA) == pytest.approx(want, rel=1e-9)
    assert weighted_binomial_sf(np.array([0, 10]), 11, GAMMA) == 0.0
    assert weighted_binomial_sf(np.array([0, 10]), 0, GAMMA) == 1.0
    with pytest.raises(ValueError, match="counts"):
        weighted_binomial_sf(np.array([0, -1]), 1, GAMMA)


def _reading(tokens: np.ndarray, second: np.ndarray, gap: float) -> SoftReading:
    """Two candidates per frame: `tokens` first, `second` `gap` logits behind."""
    return SoftReading(np.stack([tokens, second], axis=1), np.stack(
        [np.zeros(tokens.size), np.full(tokens.size, -gap)], axis=1))


def test_units_keep_their_largest_weight_and_skip_unread_frames():
    ids = np.arange(8) % 4  # 8 tokens in 4 clusters
    reading = _reading(np.array([0, 1, 0, 1, 2]), np.array([4, 5, 6, 7, 3]), 50.0)
    beliefs = cluster_beliefs(reading, ids, 4, 1.0)
    assert np.allclose(beliefs.sum(axis=1), 1.0)
    sure = SoftScoring(top_clusters=1, levels=8)
    units, weight = weighted_units(beliefs, np.ones(5, bool), 1, sure)
    # pairs (0,1) (1,0) (0,1) (1,2): the repeat is one unit
    assert units.tolist() == [0 * 4 + 1, 1 * 4 + 0, 1 * 4 + 2] and weight.tolist() == [8, 8, 8]
    units, _ = weighted_units(beliefs, np.array([True, True, False, True, True]), 1, sure)
    assert units.tolist() == [0 * 4 + 1, 1 * 4 + 2]
    # two equally likely clusters per frame: four units per pair, each with a quarter
    even = cluster_beliefs(_reading(np.array([0, 1]), np.array([2, 3]), 0.0), ids, 4, 1.0)
    units, weight = weighted_units(even, np.ones(2, bool), 1, SoftScoring(top_clusters=2, levels=8))
    assert sorted(units.tolist()) == [0 * 4 + 1, 0 * 4 + 3, 2 * 4 + 1, 2 * 4 + 3]
    assert weight.tolist() == [2] * 4
    with pytest.raises(WatermarkError, match="temperature"):
        SoftScoring(temperature=0.0)


@pytest.fixture(scope="module")
def setup():
    cfg = WatermarkConfig(gamma=0.25, delta=4.0, payload_delta=2.0)  # the product's layered scheme
    cmap = ClusterMap.identity(64)
    return cfg, cmap


def test_a_certain_soft_reading_gives_the_plain_count(setup):
    cfg, cmap = setup
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 64, 300)
    key = KEY
    plain = detect_many([tokens], key, cfg, cmap, window_frames=100)
    sure = detect_many([tokens], key, cfg, cmap, window_frames=100,
                       soft=[_reading(tokens, (tokens + 1) % 64, 1e4)])
    assert sure.statistic == "weighted-binomial" and plain.statistic == "binomial"
    assert sure.raw_p_value == pytest.approx(plain.raw_p_value, rel=1e-9)
    assert sure.n_units == plain.n_units and sure.score == 16 * plain.score
    # its windows too: the same stretches, the same p-values, every hit weighing 16
    assert len(sure.windows) == len(plain.windows) == 5
    for a, b in zip(sure.windows, plain.windows, strict=True):
        assert (a.start_frame, a.end_frame, a.n_units, a.hits) == (b.start_frame, b.end_frame, b.n_units,
                                                                   16 * b.hits)
        assert a.p_value == pytest.approx(b.p_value, rel=1e-9)
    assert sure.payload == plain.payload  # the payload always comes from the tokens
    with pytest.raises(WatermarkError, match="one soft reading"):
        detect_many([tokens], key, cfg, cmap, soft=[])


def test_soft_pvalues_of_unmarked_readings_are_calibrated(setup):
    """The weights depend on the audio only, so over keys the p-value is super-uniform."""
    cfg, cmap = setup
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 64, 200)
    reading = SoftReading(rng.integers(0, 64, (200, 6)), rng.normal(0, 1.5, (200, 6)))
    [weighed] = weigh(reading, tokens, cmap, cfg.context_width, SoftScoring())  # key-free: once
    ps = []
    for i in range(300):
        key = WatermarkKey.from_bytes(i.to_bytes(4, "big") * 8)
        hits = Scorer(key, cfg, [cmap]).weighted_hits(weighed.units, weighed.weights)
        ps.append(weighted_binomial_sf(weighed.per_weight, hits, cfg.effective_gamma))
    ps = np.array(ps)
    for alpha in (0.05, 0.2, 0.5):
        # P(p <= alpha) <= alpha; 300 draws: allow three binomial standard errors
        assert (ps <= alpha).mean() <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / 300)
    assert (ps <= 0.5).mean() > 0.3  # and not degenerate (all 1)


def test_a_reader_that_ranks_the_marked_token_second_is_still_heard(setup):
    """Frames where noise put a wrong token first and the true one second: the plain
    count loses them, the soft reading keeps part of their evidence."""
    import torch

    from watermark.processor import WatermarkLogitsProcessor
    from watermark.synthetic import generate

    cfg, cmap = setup
    key = KEY
    gen = generate(WatermarkLogitsProcessor(key, cfg, None, cmap), 1, 400, 2.0,
                   torch.Generator().manual_seed(5), vocab=64, top_k=25, top_p=0.8)
    truth = gen.tokens[0]
    rng = np.random.default_rng(2)
    wrong = rng.integers(0, 64, truth.size)
    swapped = rng.random(truth.size) < 0.6  # 60 % of the frames read wrong, the truth a close second
    first = np.where(swapped, wrong, truth)
    second = np.where(swapped, truth, wrong)
    plain = detect_many([first], key, cfg, cmap, window_frames=0)
    soft = detect_many([first], key, cfg, cmap, window_frames=0, soft=[_reading(first, second, 0.5)])
    assert soft.raw_p_value < plain.raw_p_value * 1e-2
    masked = first.copy()
    masked[::2] = UNREAD
    half = detect_many([masked], key, cfg, cmap, window_frames=0, soft=[_reading(first, second, 0.5)])
    assert half.raw_p_value > soft.raw_p_value  # unread frames carry no evidence
