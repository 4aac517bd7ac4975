"""The sampling-side hook: a logits processor that adds the key's bias.

All work happens in the constructor: the colour of every (previous token, token)
pair is expanded into a bias table indexed by the previous *token id*, so a
sampling step is one row gather and one add, whatever the cluster map.
"""

from __future__ import annotations

import numpy as np
import torch

from watermark import payload as payload_codec
from watermark.clusters import ClusterMap
from watermark.config import WatermarkConfig
from watermark.errors import ClusterMapError, ConfigError, TokenError, WatermarkError
from watermark.keys import WatermarkKey
from watermark.tables import build_tables, green_units, unit_bias

SPECIAL_IDS = 64  # previous-token ids V .. V+63 (BOS, EOS, ...) mean "no context"


class WatermarkLogitsProcessor:
    """Adds `delta` to the logits of green tokens (transformers LogitsProcessor convention).

    Args:
        key: the watermark key.
        config: the watermark configuration.
        payload: message to embed (0 <= payload < 2**config.payload_bits), or None for a
            zero-bit mark (required when config.payload_bits == 0; in a payload config
            None favours colour 0 everywhere: detected, decodes to no payload, and, as
            one fixed list, as easy to steal as a single payload). Use a fresh random
            payload per generation.
        cluster_map: map for this codebook; None = identity over `vocab_size` tokens.
        codebook: which codebook this processor samples (must be in config.codebooks).
        vocab_size: codebook size when no cluster map is given.

    Call with `input_ids` LongTensor [B, T] (this codebook's tokens so far, T may be 0)
    and `scores` FloatTensor [B, V'] with V' >= V; returns new scores [B, V'].
    Columns >= V (EOS and other special tokens) are left unbiased; a previous token
    id in [V, V + 64) (BOS, a special token) counts as "no context" (the start row).
    Stateless apart from key, config and payload: the same history always gets the
    same bias, so it is safe under batching, beam search and restarts.
    """

    def __init__(
        self,
        key: WatermarkKey,
        config: WatermarkConfig,
        payload: int | None,
        cluster_map: ClusterMap | None = None,
        codebook: int = 0,
        *,
        vocab_size: int = 1024,
    ) -> None:
        if not isinstance(key, WatermarkKey):
            raise WatermarkError("key must be a WatermarkKey (load one with WatermarkKey.load)")
        if not isinstance(config, WatermarkConfig):
            raise WatermarkError("config must be a WatermarkConfig")
        if codebook not in config.codebooks:
            raise ConfigError(
                f"codebook {codebook} is not marked by this config (codebooks="
                f"{config.codebooks}); pass one of those or add it to the config"
            )
        if cluster_map is None:
            cluster_map = ClusterMap.identity(vocab_size)
        if not isinstance(cluster_map, ClusterMap):
            raise ClusterMapError(f"cluster_map must be a ClusterMap, got {type(cluster_map)}")
        symbols = None
        if config.has_payload:
            if payload is not None:
                symbols = payload_codec.encode(payload, config)
        elif payload is not None:
            raise ConfigError(
                "this config is zero-bit (payload_bits=0) so it cannot carry a payload; "
                "pass payload=None or use a config with payload_bits >= 32"
            )
        self.key_id = key.key_id
        self.config = config
        self.codebook = codebook
        self.payload = payload
        self.cluster_map = cluster_map
        tables = build_tables(key, config, codebook, cluster_map.n_clusters)
        c = cluster_map.n_clusters
        green = torch.from_numpy(green_units(tables, symbols).reshape(tables.n_rows, c))
        bias = torch.from_numpy(unit_bias(tables, symbols, config).reshape(tables.n_rows, c))
        ids = torch.from_numpy(np.array(cluster_map.ids))  # writable copy for torch
        v = cluster_map.vocab_size
        green_by_row = green[:, ids]  # [rows, V]
        bias_by_row = bias[:, ids]
        if config.context_width == 1:
            # row of previous token v is its cluster's row; ids V .. V + SPECIAL_IDS - 1
            # (BOS, EOS, other special tokens) get the start-context row C. Extra rows
            # instead of a clamp save an op per step.
            start = torch.full((SPECIAL_IDS,), c, dtype=ids.dtype)
            row_of_token = torch.cat([ids, start])
            green_by_row = green_by_row[row_of_token]  # [V + SPECIAL_IDS, V]
            bias_by_row = bias_by_row[row_of_token]
        self._green = green_by_row.contiguous()
        self._table = bias_by_row.contiguous()
        self.vocab_size = v
        self._cache: dict[tuple, torch.Tensor] = {}

    def green_mask(self, input_ids: torch.LongTensor) -> torch.BoolTensor:
        """bool [B, V]: which tokens are green for the next step of each row."""
        rows = self._rows(input_ids, self._green)
        return rows.expand(input_ids.shape[0], -1) if rows.dim() == 1 else rows

    def _table_for(self, width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        key = (width, dtype, device)
        t = self._cache.get(key)
        if t is None:
            t = self._table
            if width != self.vocab_size:
                if width < self.vocab_size:
                    raise TokenError(
                        f"scores have {width} columns but the cluster map covers "
                        f"{self.vocab_size} tokens; pass the matching cluster map"
                    )
                t = torch.nn.functional.pad(t, (0, width - self.vocab_size))
            t = t.to(device=device, dtype=dtype).contiguous()
            self._cache[key] = t
        return t

    def _rows(self, input_ids: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        if table.shape[0] == 1 or input_ids.shape[-1] == 0:
            return table[-1]  # broadcasts over the batch
        try:
            return table.index_select(0, input_ids.select(1, -1))
        except IndexError:
            raise TokenError(
                f"previous token ids must be in [0, {self.vocab_size + SPECIAL_IDS}) "
                f"(codes, then up to {SPECIAL_IDS} special ids)"
            ) from None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if scores.dim() != 2 or input_ids.dim() != 2 or input_ids.shape[0] != scores.shape[0]:
            raise TokenError(
                "expected input_ids [B, T] and scores [B, V] with the same B, got "
                f"{tuple(input_ids.shape)} and {tuple(scores.shape)}"
            )
        table = self._table_for(scores.shape[1], scores.dtype, scores.device)
        return scores + self._rows(input_ids, table)

    def __repr__(self) -> str:
        return (
            f"WatermarkLogitsProcessor(key_id={self.key_id!r}, codebook={self.codebook}, "
            f"C={self.cluster_map.n_clusters}, h={self.config.context_width}, "
            f"delta={self.config.delta})"
        )
