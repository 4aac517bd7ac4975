"""Rendering codes so that codebook 1's decision survives: a beam search over the residual stages.

The watermark lives in codebook 1, and decode -> re-encode keeps a code only if the spoken
frame is read back into the same cell. The decoder renders the *quantised* frame q (the sum
of every stage's codeword), so q must lie in that cell, and deep enough that decoding error
and mild edits do not carry it out. Greedy residual codes ignore this: on the shipped codec
q of 5 % / 7 % of the frames (training voices / held-out voice) lies in another codeword's
cell, on the gated mel codec 5 % / 9 %, and a round trip keeps 0.29 of those frames' codes
against 0.83 of the rest there; the keeps rise with the margin by which q wins its cell.

`keep_cell` leaves codebook 1 as it is and re-searches stages 2..K for the frames whose q
wins its cell by less than `margin` (in codebook 1's logits, minus squared distances in its
view): a beam over the stages scores each partial sum by its squared error to the given
codes' q plus a hinge on the margin, and a frame takes the result only where it wins by
more than the given codes did. Through the error term the search stays near the given q,
so what is spoken changes no more than it must. The compact codec renders
every decode this way (`CompactConfig.cell_margin`). Measured (benchmarks/cell_margin.py,
benchmarks/results/cell-margin/): on the shipped codec at margin 1.0 (times the median
squared distance between neighbouring codewords) codebook-1 agreement through the
verifier encoder rises from 0.81 / 0.75 to 0.95 / 0.96 with STOI and PESQ within 0.005, and
the verifier's pair agreement with TTS-sampled codes from 0.64 to 0.81.

Shapes: codes [K, N] for N frames; returns codes [K, N].
"""
from __future__ import annotations

import torch

HINGE = 10.0  # error units per unit of missing margin: the margin is met first, then the error


def key_spacing(codebook) -> float:
    """Median squared distance from a key to its nearest other key: the unit of margins."""
    keys = codebook.key_vectors[codebook.first_key:]
    d = torch.cdist(keys, keys).pow(2).fill_diagonal_(float("inf"))
    return float(d.min(1).values.median())


def cell_margin(codebook, q: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """How much `code` [N] wins frames q [N, D] by: its logit minus the best other's, [N]."""
    logits = codebook.logits(q)
    own = logits.gather(1, code[:, None])[:, 0]
    return own - logits.scatter(1, code[:, None], -float("inf")).max(-1).values


class _Rivals:
    """The margin against a frame's nearest few keys (and the silence code, where gated):
    what the beam scores, 64x cheaper than every key; the result is checked on all."""

    def __init__(self, codebook, target: torch.Tensor, code: torch.Tensor, n: int) -> None:
        self.cb = codebook
        logits = codebook.logits(target).scatter(1, code[:, None], -float("inf"))
        first = codebook.first_key
        rivals = logits[:, first:].topk(min(n, logits.shape[1] - first - 1), -1).indices + first
        self.keys = codebook.key_vectors[torch.cat([code[:, None], rivals], 1)]  # [N, 1 + R, Dk]
        self.key_norms = self.keys.pow(2).sum(-1)[:, None]  # [N, 1, 1 + R]

    def __call__(self, q: torch.Tensor) -> torch.Tensor:
        """q [N, B, D] -> margins [N, B]."""
        n, b, d = q.shape
        flat = q.reshape(-1, d)
        view = self.cb.view(flat).reshape(n, b, -1)
        logits = (2 * torch.bmm(view, self.keys.transpose(1, 2)) - self.key_norms
                  - view.pow(2).sum(-1, keepdim=True))  # [N, B, 1 + R]
        own, best_rival = logits[..., 0], logits[..., 1:].max(-1).values
        margin = own - best_rival
        gate = self.cb.gate
        if gate is not None:  # the silence code's logit: the best key's plus the gate's term
            under = self.cb.GATE_SCALE * (gate - self.cb.loudness(flat).reshape(n, b))
            margin = torch.minimum(margin, own - (torch.maximum(own, best_rival) + under))
        return margin


@torch.no_grad()
def keep_cell(codebooks, codes: torch.Tensor, margin: float, beam: int = 8, candidates: int = 8,
              rivals: int = 16) -> torch.Tensor:
    """Codes [K, N] (codebook 1 unchanged) whose quantised frames win codebook 1's cell by
    `margin` where the search finds such codes near the given codes' own quantised frames;
    elsewhere the given codes.

    codebooks: the residual VQ's stages, codebook 1 first (`logits`, `view`, `key_vectors`,
    `first_key`, `gate`: StableCodebook, KeyedCodebook).
    """
    if margin <= 0:
        raise ValueError(f"margin must be above 0, got {margin}")
    if codes.shape[0] != len(codebooks):
        raise ValueError(f"codes {list(codes.shape)} need one row per codebook ({len(codebooks)})")
    cb1 = codebooks[0]
    code = codes[0]
    given = sum(cb.embed[c] for cb, c in zip(codebooks, codes, strict=True))  # [N, D]
    start = cell_margin(cb1, given, code)
    # gated frames are decided by loudness, not by a key's cell: leave them
    idx = ((code >= cb1.first_key) & (start < margin)).nonzero()[:, 0]
    if len(idx) == 0 or len(codebooks) == 1:
        return codes
    t, k = given[idx], code[idx]
    n, d = t.shape
    rival_margin = _Rivals(cb1, t, k, rivals)

    def score(q: torch.Tensor) -> torch.Tensor:
        return (t[:, None] - q).pow(2).sum(-1) + HINGE * torch.relu(margin - rival_margin(q))

    q = cb1.embed[k][:, None]  # [n, 1, D]
    path = torch.zeros(n, 1, 0, dtype=torch.long)
    for cb in codebooks[1:]:
        b = q.shape[1]
        top = cb.logits((t[:, None] - q).reshape(-1, d)).reshape(n, b, -1)
        top = top.topk(candidates, -1).indices  # [n, b, M] nearest codewords to each residual
        grown = (q[:, :, None] + cb.embed[top]).reshape(n, b * candidates, d)
        keep = score(grown).topk(min(beam, b * candidates), -1, largest=False).indices
        q = grown.gather(1, keep[..., None].expand(-1, -1, d))
        parent = path.gather(1, (keep // candidates)[..., None].expand(-1, -1, path.shape[-1]))
        path = torch.cat([parent, top.reshape(n, -1).gather(1, keep)[..., None]], -1)
    best = score(q).argmin(-1)
    rows = torch.arange(n)
    found = cell_margin(cb1, q[rows, best], k)
    better = found > start[idx]
    out = codes.clone()
    out[1:, idx[better]] = path[rows, best][better].T
    return out
