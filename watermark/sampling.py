"""The one token sampler: temperature, top-k, top-p and VALL-E 2 repetition-aware sampling.

Order of operations in a step (watermark first, so both RAS branches see the bias):
    scores = WatermarkLogitsProcessor(history, logits)       # bias green tokens
    token  = sample_next(scores, history, temperature=..., top_k=..., top_p=...)
`sample_next` nucleus-samples from the filtered distribution; if the token makes up
>= ras_threshold of the last ras_window tokens of history, it samples again from
the full temperature-scaled (still watermark-biased) distribution (Chen et al. 2024,
VALL-E 2; public implementations use window 10, threshold 0.1, top-p 0.8, top-k 25).
A logit-bias mark composes with both branches; a deterministic (Gumbel-argmax)
watermark would not, since RAS exists to break the loops those cause.
"""

from __future__ import annotations

import torch

_NEG_INF = float("-inf")


def _check(scores: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None):
    if scores.dim() != 2:
        raise ValueError(f"scores must be [B, V], got shape {tuple(scores.shape)}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature} (use top_k=1 for greedy)")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1 or None, got {top_k}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1] or None, got {top_p}")


def filter_logits(
    scores: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> torch.Tensor:
    """Temperature, then top-k, then top-p (nucleus); removed tokens become -inf.

    Args:
        scores: float [B, V], each row with at least one finite entry.
    Returns:
        float [B, V]; softmax of each row is a distribution over the kept tokens.
        At least one token (the most likely) is always kept.
    """
    _check(scores, temperature, top_k, top_p)
    logits = scores / temperature if temperature != 1.0 else scores
    v = logits.shape[-1]
    if top_k is not None and top_k < v:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, _NEG_INF)
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # drop a token when the mass strictly before it already reaches top_p
        drop_sorted = (torch.cumsum(probs, dim=-1) - probs) >= top_p
        drop_sorted[:, 0] = False
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, _NEG_INF)
    return logits


def sample_next(
    scores: torch.Tensor,
    history: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    ras_window: int = 10,
    ras_threshold: float = 0.1,
    generator: torch.Generator | None = None,
) -> torch.LongTensor:
    """Sample one token per row with VALL-E 2 repetition-aware sampling.

    Args:
        scores: float [B, V] logits (already watermark-biased).
        history: long [B, T] tokens sampled so far in this codebook (T may be 0).
        ras_window: K, how many recent tokens RAS looks at (0 disables RAS).
        ras_threshold: t_r; resample when count(token in last K) >= t_r * K.
        generator: torch.Generator for reproducible draws.
    Returns:
        long [B].
    """
    _check(scores, temperature, top_k, top_p)
    if history.dim() != 2 or history.shape[0] != scores.shape[0]:
        raise ValueError(
            f"history must be [B, T] with B={scores.shape[0]}, got {tuple(history.shape)}"
        )
    if ras_window < 0 or not 0.0 <= ras_threshold <= 1.0:
        raise ValueError("ras_window must be >= 0 and ras_threshold in [0, 1]")
    filtered = filter_logits(scores, temperature=temperature, top_k=top_k, top_p=top_p)
    token = torch.multinomial(torch.softmax(filtered, dim=-1), 1, generator=generator)[:, 0]
    if ras_window == 0 or history.shape[1] == 0:
        return token
    recent = history[:, -ras_window:]
    repeats = (recent == token[:, None]).sum(dim=1)
    redo = repeats >= ras_threshold * ras_window
    if not bool(redo.any()):
        return token
    full = scores[redo] / temperature if temperature != 1.0 else scores[redo]
    again = torch.multinomial(torch.softmax(full, dim=-1), 1, generator=generator)[:, 0]
    token = token.clone()
    token[redo] = again
    return token
