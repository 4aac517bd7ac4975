"""VoxSeal token watermark: keyed green lists over codec-token clusters, MPAC payload,
exact de-duplicated p-values.

Sampling side::

    proc = WatermarkLogitsProcessor(key, WatermarkConfig(), payload=gen_id, cluster_map=cmap)
    scores = proc(history, logits)                      # [B, T], [B, V] -> [B, V]
    token = sample_next(scores, history, top_k=25, top_p=0.8, generator=g)
    # or, for a model with a linear head, no extra tensor op per step:
    fold = HeadBias(proc, head.bias)                    # once per generation
    logits = F.linear(x, head.weight, fold.row(last_token))

Verifier side::

    det = detect_many(candidate_token_arrays, keys, WatermarkConfig(), cmap)
    det.p_value, det.payload, det.windows
    # with the reader's beliefs (top tokens and logits per frame), still an exact test:
    det = detect_many(tokens, keys, config, cmap, soft=[SoftReading(top_tokens, top_logits)])

Module map (one concept per module): keys (key, key id, subkeys), prf (the keyed PRF),
tables (colouring of scoring units), clusters (ClusterMap), config (WatermarkConfig
and why its defaults), payload (message <-> symbols + CRC), processor, head (the processor folded into
an LM head's bias), sampling,
scoring (de-duplicated counts), soft (weighted units of a soft reading), pvalues (exact
nulls, Bonferroni), detect (Detection),
synthetic (null/watermarked sequences for studies).
"""

from watermark.clusters import ClusterMap
from watermark.config import WatermarkConfig
from watermark.detect import Detection, PayloadMatch, Window, detect, detect_many, match_payload
from watermark.errors import (
    ClusterMapError,
    ConfigError,
    KeyFormatError,
    PayloadError,
    TokenError,
    WatermarkError,
)
from watermark.head import HeadBias
from watermark.keys import WatermarkKey
from watermark.processor import WatermarkLogitsProcessor
from watermark.sampling import filter_logits, sample_next
from watermark.soft import SoftReading, SoftScoring

__all__ = [
    "ClusterMap",
    "ClusterMapError",
    "ConfigError",
    "Detection",
    "HeadBias",
    "KeyFormatError",
    "PayloadError",
    "SoftReading",
    "SoftScoring",
    "TokenError",
    "WatermarkConfig",
    "WatermarkError",
    "WatermarkKey",
    "WatermarkLogitsProcessor",
    "Window",
    "detect",
    "detect_many",
    "match_payload",
    "PayloadMatch",
    "filter_logits",
    "sample_next",
]
