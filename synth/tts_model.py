"""Networks of the reference TTS: duration predictor, AR codec LM (codebook 1), NAR (codebooks 2..K).

Layout of one sequence (VALL-E style, prompt in context):

    [ prompt frames (P, all K codebooks of the voice's enrolment audio) | target frames (T) ]

Frame-level conditioning. Instead of VALL-E's phoneme prefix, whose alignment
an attention LM must discover by itself (hours of GPU training), every target
frame is given its phone: phones are embedded, mixed with their neighbours by
a small phone-level convolution stack, upsampled by their durations to the
codec frame rate (50 Hz), told where in the phone the frame lies (fraction
elapsed, log duration) and smoothed by one frame-level convolution. This turns
the codec LM into a conditional acoustic model that trains in tens of CPU
minutes; the durations come from the duration predictor at inference and from
the corpus alignments in training. Prompt frames carry no phones (a learnt
"prompt" vector instead), so any 3-10 s enrolment clip works without its
transcript: the prompt only says *who* speaks.

AR model (codebook 1): a causal pre-LN transformer with rotary positions over
the whole sequence. Prompt positions embed the sum of their K codebook tokens;
target position t embeds the previous codebook-1 token (BOS at t = 0) plus the
frame conditioning, and predicts codebook 1 at t. The number of target frames
is fixed by the durations, so no end-of-sequence token is needed and
generation cannot run away. Decoding uses a KV cache: the prompt is processed
once, then one position per step.

NAR model (codebooks 2..K, VALL-E's NAR): one non-causal transformer shared by
all stages. For stage k the target positions embed the sum of codebooks < k
plus the frame conditioning and a stage embedding; prompt positions embed all
K codebooks. Output logits for codebook k are tied to that codebook's input
embedding (inputs read as sqrt(d) * table, outputs as h . table; this saves
1.8 M parameters, keeping the fp16 checkpoint under 30 MB). Training samples
one stage per sequence; decoding is greedy, one pass per stage (VALL-E's
choice: later codebooks carry little information).

Duration predictor: phone embeddings through three 1-D convolutions (kernel 3)
predicting log(1 + frames) per phone (FastSpeech style), trained by MSE on
the corpus alignments. It is speaker-independent; a per-voice speaking-rate
factor (actual / predicted frames over the voice's training utterances) is
stored with each named voice. Prompts from a file use rate 1.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from synth.frontend import PHONES


@dataclass
class TTSConfig:
    n_codebooks: int = 8
    codebook_size: int = 1024
    n_phones: int = len(PHONES)
    d_model: int = 256
    n_heads: int = 4
    ar_layers: int = 4
    nar_layers: int = 3
    ffn_mult: int = 4
    dropout: float = 0.1
    phone_conv_layers: int = 2
    dur_channels: int = 128
    frame_rate: float = 50.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TTSConfig:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


# ---------------------------------------------------------------- building blocks
_ROPE: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}


def _rope_table(dh: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [N', Dh/2] for positions 0..N'-1 (N' >= n), grown by doubling and kept."""
    have = _ROPE.get(dh)
    if have is None or have[0].shape[0] < n:
        size = max(1024, 1 << (n - 1).bit_length())
        # A table first built during generation would otherwise be an inference tensor, and
        # a later training step could not save it for backward.
        with torch.inference_mode(False):
            inv = 1.0 / (10000 ** (torch.arange(0, dh, 2, dtype=torch.float32) / dh))
            ang = torch.arange(size, dtype=torch.float32)[:, None] * inv[None]
            have = _ROPE[dh] = (ang.cos(), ang.sin())
    return have


def _rope(x: torch.Tensor, start: int) -> torch.Tensor:
    """Rotary position embedding of x [B, H, L, Dh] at positions start..start+L-1."""
    length, dh = x.shape[-2], x.shape[-1]
    cos, sin = _rope_table(dh, start + length)
    cos, sin = cos[start:start + length].to(x.dtype), sin[start:start + length].to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


class Block(nn.Module):
    """Pre-LN transformer block with rotary self-attention and an optional KV cache."""

    def __init__(self, d: int, heads: int, ffn_mult: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, ffn_mult * d)
        self.ff2 = nn.Linear(ffn_mult * d, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, start: int = 0, *, causal: bool,
                mask: torch.Tensor | None = None, cache: dict | None = None) -> torch.Tensor:
        """x [B, L, D] at positions start..start+L-1.

        cache: {} on the first call (prefill); filled with preallocated key and
        value buffers of `cache_len` positions (set by the caller, default 4096)
        and reused by later calls, one or more positions at a time.
        """
        b, length, d = x.shape
        h = self.heads
        q, k, v = self.qkv(self.ln1(x)).view(b, length, 3, h, d // h).permute(2, 0, 3, 1, 4)
        q, k = _rope(q, start), _rope(k, start)
        if cache is not None:
            if "k" not in cache:
                size = max(cache.get("cache_len", 4096), start + length)
                cache["k"] = k.new_zeros(b, h, size, d // h)
                cache["v"] = v.new_zeros(b, h, size, d // h)
            end = start + length
            if end > cache["k"].shape[2]:  # grow
                grow = max(end, 2 * cache["k"].shape[2]) - cache["k"].shape[2]
                cache["k"] = F.pad(cache["k"], (0, 0, 0, grow))
                cache["v"] = F.pad(cache["v"], (0, 0, 0, grow))
            cache["k"][:, :, start:end] = k
            cache["v"][:, :, start:end] = v
            k, v = cache["k"][:, :, :end], cache["v"][:, :, :end]
        if cache is not None and length == 1:
            a = F.scaled_dot_product_attention(q, k, v)  # one new query sees the whole cache
        elif cache is not None and start > 0:
            m = torch.ones(length, start + length, dtype=torch.bool, device=x.device).tril(start)
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=m)
        else:
            # no attention dropout: it would force the O(L^2)-memory math kernel
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal and mask is None)
        x = x + self.drop(self.out(a.transpose(1, 2).reshape(b, length, d)))
        return x + self.drop(self.ff2(self.drop(F.gelu(self.ff1(self.ln2(x))))))


class FrameConditioner(nn.Module):
    """Phones + durations -> one conditioning vector per target frame (see module docstring)."""

    def __init__(self, cfg: TTSConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.emb = nn.Embedding(cfg.n_phones + 1, d, padding_idx=cfg.n_phones)
        self.convs = nn.ModuleList(nn.Conv1d(d, d, 3, padding=1) for _ in range(cfg.phone_conv_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(cfg.phone_conv_layers))
        self.pos = nn.Linear(3, d)
        self.frame_conv = nn.Conv1d(d, d, 5, padding=2)
        self.frame_norm = nn.LayerNorm(d)

    def forward(self, phones: torch.Tensor, frame_phone: torch.Tensor, frame_feat: torch.Tensor
                ) -> torch.Tensor:
        """phones [B, L] (pad = n_phones), frame_phone [B, T] index into L, frame_feat [B, T, 3]."""
        x = self.emb(phones)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = x + F.gelu(conv(norm(x).transpose(1, 2))).transpose(1, 2)
        idx = frame_phone.clamp(min=0)[..., None].expand(-1, -1, x.shape[-1])
        y = torch.gather(x, 1, idx) + self.pos(frame_feat)
        return y + F.gelu(self.frame_conv(self.frame_norm(y).transpose(1, 2))).transpose(1, 2)


class PromptEmbedding(nn.Module):
    """Sum of K codebook embeddings (used for prompt frames, and for codebooks < k in the NAR).

    Tables start at std d^-1/2 and are read times sqrt(d) (unit scale in the
    residual stream), so the NAR can tie its output logits to them unscaled.
    """

    def __init__(self, cfg: TTSConfig) -> None:
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(cfg.codebook_size, cfg.d_model)
                                    for _ in range(cfg.n_codebooks))
        for t in self.tables:
            nn.init.normal_(t.weight, std=cfg.d_model ** -0.5)
        self.scale = math.sqrt(cfg.d_model)

    def lookup(self, k: int, codes: torch.Tensor) -> torch.Tensor:
        return self.tables[k](codes) * self.scale

    def forward(self, codes: torch.Tensor, n: int | None = None) -> torch.Tensor:
        """codes [B, K', T] -> [B, T, D], summing the first n (default all K') codebooks."""
        n = codes.shape[1] if n is None else n
        out = self.lookup(0, codes[:, 0])
        for k in range(1, n):
            out = out + self.lookup(k, codes[:, k])
        return out


# ---------------------------------------------------------------- models
class DurationPredictor(nn.Module):
    def __init__(self, cfg: TTSConfig) -> None:
        super().__init__()
        c = cfg.dur_channels
        self.emb = nn.Embedding(cfg.n_phones + 1, c, padding_idx=cfg.n_phones)
        self.convs = nn.ModuleList(nn.Conv1d(c, c, 3, padding=1) for _ in range(3))
        self.norms = nn.ModuleList(nn.LayerNorm(c) for _ in range(3))
        self.drop = nn.Dropout(cfg.dropout)
        self.proj = nn.Linear(c, 1)

    def forward(self, phones: torch.Tensor) -> torch.Tensor:
        """phones [B, L] -> predicted log(1 + frames) [B, L]."""
        x = self.emb(phones)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = self.drop(F.relu(norm(conv(x.transpose(1, 2)).transpose(1, 2))))
        return self.proj(x)[..., 0]


class ARModel(nn.Module):
    def __init__(self, cfg: TTSConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.cfg = cfg
        self.cond = FrameConditioner(cfg)
        self.prompt = PromptEmbedding(cfg)
        self.tok = nn.Embedding(cfg.codebook_size + 1, d)  # + BOS
        self.kind = nn.Embedding(2, d)  # 0 prompt, 1 target
        self.blocks = nn.ModuleList(Block(d, cfg.n_heads, cfg.ffn_mult, cfg.dropout)
                                    for _ in range(cfg.ar_layers))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, cfg.codebook_size)

    @property
    def bos(self) -> int:
        return self.cfg.codebook_size

    def prompt_input(self, prompt: torch.Tensor) -> torch.Tensor:
        return self.prompt(prompt) + self.kind.weight[0]

    def forward(self, prompt: torch.Tensor, cb1: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits [B, T, V] for target codebook 1.

        prompt [B, K, P], cb1 [B, T] target tokens (padding anywhere after the
        real frames is harmless: attention is causal), cond [B, T, D].
        """
        prev = torch.cat([torch.full_like(cb1[:, :1], self.bos), cb1[:, :-1]], dim=1)
        x = torch.cat([self.prompt_input(prompt), self.tok(prev) + cond + self.kind.weight[1]], dim=1)
        for blk in self.blocks:
            x = blk(x, causal=True)
        return self.head(self.ln(x[:, prompt.shape[-1]:]))

    # -- incremental decoding
    def start(self, prompt: torch.Tensor, total_len: int = 4096) -> list[dict]:
        """Run the prompt [B, K, P] through the model; KV caches sized for total_len positions."""
        caches: list[dict] = [{"cache_len": total_len} for _ in self.blocks]
        x = self.prompt_input(prompt)
        for blk, c in zip(self.blocks, caches, strict=True):
            x = blk(x, 0, causal=True, cache=c)
        return caches

    def step(self, prev_token: torch.Tensor, cond_t: torch.Tensor, position: int, caches: list[dict],
             head_bias: torch.Tensor | None = None) -> torch.Tensor:
        """One decoding step: prev_token [B], cond_t [B, D] -> logits [B, V].

        head_bias: float [V] or [B, V] replacing the head's own bias (the watermark
        folded in, `watermark.head.HeadBias`); None keeps the head's.
        """
        x = (self.tok(prev_token) + cond_t + self.kind.weight[1])[:, None]
        for blk, c in zip(self.blocks, caches, strict=True):
            x = blk(x, position, causal=True, cache=c)
        x = self.ln(x[:, 0])
        if head_bias is None:
            return self.head(x)
        return torch.nn.functional.linear(x, self.head.weight, head_bias)


class NARModel(nn.Module):
    def __init__(self, cfg: TTSConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.cfg = cfg
        self.cond = FrameConditioner(cfg)
        self.codes = PromptEmbedding(cfg)
        self.kind = nn.Embedding(2, d)
        self.stage = nn.Embedding(cfg.n_codebooks, d)
        self.blocks = nn.ModuleList(Block(d, cfg.n_heads, cfg.ffn_mult, cfg.dropout)
                                    for _ in range(cfg.nar_layers))
        self.ln = nn.LayerNorm(d)

    def forward(self, prompt: torch.Tensor, codes: torch.Tensor, cond: torch.Tensor, stage: torch.Tensor,
                target_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [B, T, V] of codebook `stage` (one per row, 1 <= stage < K).

        prompt [B, K, P]; codes [B, K, T] (only codebooks < stage are read);
        cond [B, T, D]; target_mask [B, T] True on real frames (None: all real).
        """
        b, k_all, t = codes.shape
        # sum of codebooks below each row's stage
        below = torch.arange(k_all, device=codes.device)[None, :] < stage[:, None]  # [B, K]
        x_t = self.codes.lookup(0, codes[:, 0])  # stage >= 1 always sees codebook 1
        for k in range(1, k_all - 1):
            x_t = x_t + self.codes.lookup(k, codes[:, k]) * below[:, k, None, None].to(x_t.dtype)
        st = self.stage(stage)[:, None]
        x = torch.cat([self.codes(prompt) + self.kind.weight[0] + st,
                       x_t + cond + self.kind.weight[1] + st], dim=1)
        mask = None
        if target_mask is not None:
            keep = torch.cat([torch.ones(b, prompt.shape[-1], dtype=torch.bool, device=x.device),
                              target_mask], dim=1)
            mask = keep[:, None, None, :]
        for blk in self.blocks:
            x = blk(x, causal=False, mask=mask)
        h = self.ln(x[:, prompt.shape[-1]:])  # [B, T, D]
        w = torch.stack([tbl.weight for tbl in self.codes.tables])[stage]  # [B, V, D]
        return torch.einsum("btd,bvd->btv", h, w.to(h.dtype))


class TTSModel(nn.Module):
    def __init__(self, cfg: TTSConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.dur = DurationPredictor(cfg)
        self.ar = ARModel(cfg)
        self.nar = NARModel(cfg)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
