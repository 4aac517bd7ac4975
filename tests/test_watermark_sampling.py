"""WatermarkLogitsProcessor and the VALL-E 2 sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from watermark.clusters import ClusterMap
from watermark.config import WatermarkConfig
from watermark.errors import ConfigError, PayloadError, TokenError
from watermark.keys import WatermarkKey
from watermark.processor import WatermarkLogitsProcessor
from watermark.sampling import filter_logits, sample_next
from watermark.tables import build_tables

KEY = WatermarkKey.from_bytes(b"k" * 32)
C16 = ClusterMap.from_array(np.arange(1024) % 16)


def _proc(cfg=None, payload=0x1234ABCD, cmap=None):
    cfg = cfg or WatermarkConfig()
    return WatermarkLogitsProcessor(KEY, cfg, payload if cfg.has_payload else None, cmap)


def test_bias_is_delta_on_green_and_matches_tables():
    cfg = WatermarkConfig(payload_bits=0, delta=2.5)
    proc = _proc(cfg, cmap=C16)
    ids = torch.tensor([[5, 7, 33], [1, 2, 3]])  # last tokens 33 (cluster 1) and 3 (cluster 3)
    scores = torch.zeros(2, 1024)
    out = proc(ids, scores)
    green = build_tables(KEY, cfg, 0, 16).green.reshape(17, 16)
    for row, last in enumerate((33, 3)):
        expect = 2.5 * green[last % 16][np.arange(1024) % 16]
        assert np.allclose(out[row].numpy(), expect)
    # same history -> same list; only the last token matters for h = 1
    assert torch.equal(proc(torch.tensor([[9, 9, 33]]), scores[:1]), out[:1])
    assert torch.equal(proc.green_mask(ids), out > 0)


def test_first_step_and_special_tokens():
    proc = _proc(cmap=C16)
    scores = torch.randn(3, 1025)  # 1024 codes + EOS
    out = proc(torch.zeros(3, 0, dtype=torch.long), scores)
    assert out.shape == (3, 1025)
    assert torch.equal(out[:, 1024], scores[:, 1024])  # EOS column never biased
    start = proc(torch.tensor([[1024]]), scores[:1])  # BOS/EOS as context = start row
    assert torch.equal(start, out[:1])
    with pytest.raises(TokenError, match="columns"):
        proc(torch.zeros(1, 1, dtype=torch.long), torch.zeros(1, 100))
    with pytest.raises(TokenError, match="same B"):
        proc(torch.zeros(2, 1, dtype=torch.long), torch.zeros(3, 1024))


def test_h0_ignores_history_and_payload_changes_list():
    cfg = WatermarkConfig(context_width=0)
    p1 = WatermarkLogitsProcessor(KEY, cfg, 1 << 31)
    p2 = WatermarkLogitsProcessor(KEY, cfg, (1 << 31) + 1)
    s = torch.zeros(2, 1024)
    a = p1(torch.tensor([[1], [900]]), s)
    assert torch.equal(a[0], a[1])
    assert not torch.equal(a, p2(torch.tensor([[1], [900]]), s))
    assert abs(float((a[0] > 0).float().mean()) - 0.25) < 0.06


def test_processor_argument_errors():
    with pytest.raises(ConfigError, match="not marked"):
        WatermarkLogitsProcessor(KEY, WatermarkConfig(), 1, codebook=2)
    with pytest.raises(ConfigError, match="zero-bit"):
        WatermarkLogitsProcessor(KEY, WatermarkConfig(payload_bits=0), 5)
    with pytest.raises(PayloadError, match="fit"):
        WatermarkLogitsProcessor(KEY, WatermarkConfig(), -1)


def test_processor_keeps_dtype_and_batch():
    proc = _proc()
    for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
        out = proc(torch.randint(0, 1024, (4, 7)), torch.randn(4, 1024).to(dtype))
        assert out.dtype == dtype and out.shape == (4, 1024)


scores_strategy = st.builds(
    lambda seed, scale, b, masked: (seed, scale, b, masked),
    st.integers(0, 2**31 - 1),
    st.sampled_from([0.01, 1.0, 30.0, 1e4]),
    st.integers(1, 4),
    st.floats(0.0, 0.99),
)


@settings(max_examples=40, deadline=None)
@given(
    params=scores_strategy,
    top_k=st.one_of(st.none(), st.integers(1, 1100)),
    top_p=st.one_of(st.none(), st.floats(0.01, 1.0)),
    temperature=st.floats(0.05, 5.0),
    h=st.sampled_from([0, 1]),
    delta=st.sampled_from([0.0, 2.0, 20.0]),
)
def test_bias_never_breaks_the_distribution(params, top_k, top_p, temperature, h, delta):
    seed, scale, b, masked = params
    g = torch.Generator().manual_seed(seed)
    scores = scale * torch.randn(b, 1024, generator=g)
    mask = torch.rand(b, 1024, generator=g) < masked
    mask[:, 0] = False  # at least one finite logit per row
    scores = scores.masked_fill(mask, float("-inf"))
    cfg = WatermarkConfig(context_width=h, delta=delta)
    proc = WatermarkLogitsProcessor(KEY, cfg, 7 << 29, C16)
    hist = torch.randint(0, 1024, (b, int(seed % 5)), generator=g)
    out = proc(hist, scores)
    assert not torch.isnan(out).any()
    assert torch.equal(torch.isinf(out), torch.isinf(scores))  # -inf stays, none added
    filt = filter_logits(out, temperature=temperature, top_k=top_k, top_p=top_p)
    probs = torch.softmax(filt, dim=-1)
    assert torch.isfinite(probs).all()
    assert torch.allclose(probs.sum(-1), torch.ones(b, dtype=probs.dtype), atol=1e-5)
    tok = sample_next(out, hist, temperature=temperature, top_k=top_k, top_p=top_p, generator=g)
    assert tok.shape == (b,) and bool((tok >= 0).all()) and bool((tok < 1024).all())
    assert bool(torch.isfinite(out[torch.arange(b), tok]).all())


def test_top_k_and_top_p_keep_the_right_tokens():
    scores = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isfinite(filter_logits(scores, top_k=2)).sum() == 2
    kept = torch.isfinite(filter_logits(scores, top_p=0.8))[0].tolist()
    assert kept == [True, True, False, False]  # 0.5 + 0.3 reaches 0.8
    kept = torch.isfinite(filter_logits(scores, top_p=0.81))[0].tolist()
    assert kept == [True, True, True, False]
    assert torch.isfinite(filter_logits(scores, top_p=0.01)).sum() == 1
    with pytest.raises(ValueError, match="temperature"):
        filter_logits(scores, temperature=0.0)
    with pytest.raises(ValueError, match="top_p"):
        filter_logits(scores, top_p=1.5)


def test_sampler_is_reproducible_with_a_generator():
    scores = torch.randn(8, 1024)
    hist = torch.randint(0, 1024, (8, 20))
    kw = dict(temperature=0.9, top_k=25, top_p=0.8)
    a = sample_next(scores, hist, generator=torch.Generator().manual_seed(3), **kw)
    b = sample_next(scores, hist, generator=torch.Generator().manual_seed(3), **kw)
    assert torch.equal(a, b)


def test_repetition_aware_sampling_resamples_from_the_full_distribution():
    # nucleus = {token 0}; token 0 already fills the window -> RAS redraws from the full
    # distribution, where token 0 has probability 0.5
    scores = torch.log(torch.tensor([[0.5] + [0.5 / 1023] * 1023])).repeat(4000, 1)
    hist = torch.zeros(4000, 10, dtype=torch.long)
    g = torch.Generator().manual_seed(0)
    tok = sample_next(scores, hist, top_p=0.4, generator=g)
    assert abs(float((tok == 0).float().mean()) - 0.5) < 0.04
    # no repetition in the window -> nucleus sample stays token 0
    fresh = torch.arange(1, 11).repeat(4000, 1)
    assert bool((sample_next(scores, fresh, top_p=0.4, generator=g) == 0).all())
    # one occurrence in the last 10 is already 10 %: resample
    once = fresh.clone()
    once[:, -1] = 0
    assert float((sample_next(scores, once, top_p=0.4, generator=g) == 0).float().mean()) < 0.6
    # ras_window=0 disables it
    assert bool((sample_next(scores, hist, top_p=0.4, ras_window=0, generator=g) == 0).all())


def test_ras_composes_with_the_watermark():
    """Both RAS branches draw from the biased scores: green mass rises either way."""
    cfg = WatermarkConfig(payload_bits=0, delta=3.0, context_width=0)
    proc = WatermarkLogitsProcessor(KEY, cfg, None)
    g = torch.Generator().manual_seed(1)
    scores = torch.randn(3000, 1024, generator=g)
    hist = torch.zeros(3000, 10, dtype=torch.long)
    green = proc.green_mask(hist)
    # ras_window=0: always the nucleus branch; ras_threshold=0: always the full-distribution one
    for ras in (dict(ras_window=0), dict(ras_threshold=0.0)):
        tok = sample_next(proc(hist, scores), hist, top_k=25, top_p=0.8, generator=g, **ras)
        frac = float(green[torch.arange(3000), tok].float().mean())
        assert frac > 0.6  # vs 0.25 without the bias


@settings(max_examples=25, deadline=None)
@given(
    seed=st.binary(min_size=32, max_size=32),
    history=st.lists(st.integers(0, 1023), min_size=0, max_size=12),
    h=st.sampled_from([0, 1]),
)
def test_same_key_and_history_give_the_same_green_list(seed, history, h):
    cfg = WatermarkConfig(context_width=h, payload_bits=0)
    ids = torch.tensor([history], dtype=torch.long).reshape(1, len(history))
    a = WatermarkLogitsProcessor(WatermarkKey.from_bytes(seed), cfg, None, C16).green_mask(ids)
    b = WatermarkLogitsProcessor(WatermarkKey.from_bytes(seed), cfg, None, C16).green_mask(ids)
    assert torch.equal(a, b)
    # the list depends on the history only through the last token's cluster (h = 1)
    if h == 1 and history:
        same_cluster = torch.tensor([[(history[-1] + 16) % 1024]])
        proc = WatermarkLogitsProcessor(WatermarkKey.from_bytes(seed), cfg, None, C16)
        assert torch.equal(proc.green_mask(same_cluster), a)
