"""A fixed spectral-analysis encoder: normalised log-mel frames at the codec frame rate.

Issue 2 allows it where a learned encoder misses the targets, and the learned one did:
decoding its *unquantised* latents with the shipped ISTFT decoder scores no better than
decoding its codes (flite-slt STOI 0.847 / 0.845, PESQ-WB 1.21 / 1.21; the residual VQ
leaves 1.5 % of the latents' variance), and the round trip's F0 is off by more than 50
cents in 55 % of voiced frames (`benchmarks/codec_ceiling.py`,
benchmarks/results/mel-codec/ceiling-shipped.txt): the latents, not the codebooks, drop
the pitch. A log-mel analysis
keeps the harmonics that carry it, and it makes re-encoding stability the decoder's own
reconstruction target: a decoder whose output has the mel it was given is read back as
the same codes.

Shapes: wav [B, 1, N] -> features [B, n_mels, ceil(N / hop)]; frame t is centred on
sample (t + 1/2) * hop, so the frame count is the SEANet encoder's.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from synth.mel import mel_filterbank


class MelAnalysisEncoder(nn.Module):
    """wav [B, 1, N] -> (log-mel - mean) / std, [B, n_mels, ceil(N / hop)].

    `mean` and `std` [n_mels] are buffers set from the training corpus once
    (`set_normalisation_`); they are part of the token space.
    """

    def __init__(self, n_mels: int, hop: int, n_fft: int, sample_rate: int) -> None:
        super().__init__()
        if n_fft < hop or (n_fft - hop) % 2:
            raise ValueError(f"n_fft {n_fft} must be at least hop {hop} and differ from it by an even number")
        self.hop, self.n_fft, self.sample_rate = hop, n_fft, sample_rate
        self.register_buffer("filters", mel_filterbank(sample_rate, n_fft, n_mels), persistent=False)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("mean", torch.zeros(n_mels))
        self.register_buffer("std", torch.ones(n_mels))

    def log_mel(self, wav: torch.Tensor) -> torch.Tensor:
        """wav [B, 1, N] -> un-normalised log-mel [B, n_mels, ceil(N / hop)]."""
        x = wav[:, 0]
        frames = -(-x.shape[-1] // self.hop)
        side = (self.n_fft - self.hop) // 2
        # zeros, not reflection, past the ends: a clip shorter than the window is valid input
        x = F.pad(x, (side, frames * self.hop - x.shape[-1] + side))
        spec = torch.stft(x, self.n_fft, hop_length=self.hop, window=self.window, center=False,
                          return_complex=True).abs()
        return torch.log(self.filters @ spec + 1e-5)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return (self.log_mel(wav) - self.mean[:, None]) / self.std[:, None]

    @torch.no_grad()
    def set_normalisation_(self, log_mels: torch.Tensor) -> None:
        """Per-band mean and std from un-normalised log-mel frames [N, n_mels]."""
        self.mean.copy_(log_mels.mean(0))
        self.std.copy_(log_mels.std(0).clamp_min(1e-3))
