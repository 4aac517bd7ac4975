"""The watermark folded into a linear head's bias gives the processor's logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from watermark.clusters import ClusterMap
from watermark.config import WatermarkConfig
from watermark.errors import TokenError
from watermark.head import HeadBias
from watermark.keys import WatermarkKey
from watermark.processor import WatermarkLogitsProcessor

KEY = WatermarkKey.from_bytes(b"h" * 32)
C16 = ClusterMap.from_array(np.arange(1024) % 16)


def _head(width: int, seed: int = 0) -> torch.nn.Linear:
    torch.manual_seed(seed)
    return torch.nn.Linear(32, width)


@settings(max_examples=40, deadline=None)
@given(history=st.lists(st.integers(0, 1024 + 63), max_size=5), h=st.sampled_from([0, 1]),
       clusters=st.booleans(), width=st.sampled_from([1024, 1025]), seed=st.integers(0, 99))
def test_folded_bias_gives_the_processor_logits(history, h, clusters, width, seed):
    cfg = WatermarkConfig(context_width=h)
    proc = WatermarkLogitsProcessor(KEY, cfg, 0xC0FFEE, C16 if clusters else None)
    head = _head(width, seed)
    fold = HeadBias(proc, head.bias.detach())
    x = torch.randn(1, 32, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        plain = head(x)
        want = proc(torch.tensor([history], dtype=torch.long).reshape(1, -1), plain)
        got = torch.nn.functional.linear(x, head.weight, fold.row(history[-1] if history else None))
    assert torch.allclose(got, want, atol=1e-5)
    if width > 1024:  # EOS column: the head's own bias, never the mark's
        assert got[0, 1024] == pytest.approx(float(plain[0, 1024]), abs=1e-6)


def test_batched_rows_and_start_row():
    proc = WatermarkLogitsProcessor(KEY, WatermarkConfig(), 7, C16)
    head = _head(1024)
    fold = HeadBias(proc, head.bias.detach())
    prev = torch.tensor([3, 1000, 1024, 1087])  # codes, then BOS/special ids
    rows = fold.rows(prev)
    assert rows.shape == (4, 1024)
    for i, p in enumerate(prev.tolist()):
        assert torch.equal(rows[i], fold.row(p))
    assert torch.equal(fold.row(None), fold.row(1024))  # no context = a special id's row
    zeros = torch.zeros(4, 1024)
    assert torch.allclose(rows - head.bias.detach(), proc(prev[:, None], zeros), atol=1e-6)


def test_head_without_bias_and_bad_input():
    proc = WatermarkLogitsProcessor(KEY, WatermarkConfig(), 7)
    fold = HeadBias(proc, width=1024)
    assert torch.equal(fold.row(5), proc(torch.tensor([[5]]), torch.zeros(1, 1024))[0])
    for bad in (-1, 1024 + 64):
        with pytest.raises(TokenError, match="previous token ids"):
            fold.row(bad)
    with pytest.raises(TokenError, match="previous token ids"):
        fold.rows(torch.tensor([5000]))
    with pytest.raises(ValueError, match="width"):
        HeadBias(proc)
    with pytest.raises(TokenError, match="columns"):
        HeadBias(proc, torch.zeros(100))
    with pytest.raises(TypeError, match="WatermarkLogitsProcessor"):
        HeadBias(lambda ids, s: s, width=1024)
