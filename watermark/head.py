"""The watermark bias folded into a language model's output layer.

`WatermarkLogitsProcessor` follows the transformers convention (history and
logits in, biased logits out), which costs three tensor ops per step: about
4.6 us, 17 % of a bare 1024-way softmax + multinomial at batch 1 on CPU, where
even one extra op (about 1.5 us) is over 5 %. A model whose logits come from a
linear head (`logits = x @ W.T + b`) can take the bias for free: the head's own
bias vector is replaced by `b + bias_row(previous token)`, precomputed for every
previous token id, so a step adds no tensor op at all, only a Python list index.
The logits are the processor's, up to float rounding of one addition.
"""

from __future__ import annotations

import torch

from watermark.errors import TokenError
from watermark.processor import SPECIAL_IDS, WatermarkLogitsProcessor


class HeadBias:
    """Per-previous-token bias vectors for a linear output layer.

    Args:
        processor: the clip's watermark processor.
        head_bias: the head's own bias, float [V'] (V' >= the processor's vocabulary;
            extra columns such as EOS stay unbiased by the mark), or None for a head
            without bias (then `width` is required).
        width: V' when `head_bias` is None.

    `row(prev)` takes the previous token of this codebook's history as a Python int
    (None or an id in [V, V + 64) for "no context") and returns float [V'] to use as
    the head's bias; `rows(prev)` does the same for long [B] (one gather). Memory:
    (V + 64) x V' floats, 4.5 MB for V = V' = 1024 in float32.
    """

    def __init__(self, processor: WatermarkLogitsProcessor, head_bias: torch.Tensor | None = None,
                 *, width: int | None = None) -> None:
        if not isinstance(processor, WatermarkLogitsProcessor):
            raise TypeError("processor must be a WatermarkLogitsProcessor")
        if head_bias is None:
            if width is None:
                raise ValueError("give the head's bias, or its width when it has none")
            dtype, device = torch.float32, torch.device("cpu")
        else:
            if head_bias.dim() != 1:
                raise ValueError(f"head_bias must be [V], got shape {tuple(head_bias.shape)}")
            width, dtype, device = head_bias.shape[0], head_bias.dtype, head_bias.device
        table = processor._table_for(width, dtype, device)
        if table.shape[0] == 1:  # h = 0: one row whatever the history
            table = table.expand(processor.vocab_size + SPECIAL_IDS, -1)
        if head_bias is not None:
            table = table + head_bias.detach()
        self._table = table.contiguous()
        self._rows = list(self._table.unbind(0))
        self._start = self._rows[-1]
        self.n_ids = len(self._rows)

    def row(self, prev: int | None) -> torch.Tensor:
        """float [V']: the head bias for a step whose previous token is `prev`."""
        if prev is None:
            return self._start
        if not 0 <= prev < self.n_ids:
            raise TokenError(f"previous token ids must be in [0, {self.n_ids}) "
                             f"(codes, then up to {SPECIAL_IDS} special ids), got {prev}")
        return self._rows[prev]

    def rows(self, prev: torch.Tensor) -> torch.Tensor:
        """float [B, V'] for previous tokens long [B]."""
        try:
            return self._table.index_select(0, prev)
        except IndexError:
            raise TokenError(f"previous token ids must be in [0, {self.n_ids})") from None
