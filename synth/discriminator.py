"""Slim GAN discriminators for the decoder's adversarial term, sized for two CPU cores.

A decoder trained on mel losses alone gets the spectral envelope right and the fine
structure (phase, harmonics between mel bins) wrong: the round trip sounds buzzy and
PESQ stays low while STOI is fine. A discriminator judges exactly that structure.
Two kinds, as in HiFi-GAN (Kong et al. 2020) and Vocos (Siuzdak 2023), with a
fraction of their channels:

- periods: the waveform folded into [T / p, p] columns, so each column sees one phase
  of a period p (pitch regularity);
- resolutions: 2-D convolutions over STFT magnitudes at several window lengths
  (harmonic and temporal detail).

Shapes: wav [B, 1, N] -> a list of (score map, [feature maps]) per sub-discriminator.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

Scores = list[tuple[torch.Tensor, list[torch.Tensor]]]


def _convolve(layers: nn.ModuleList, out: nn.Module,
              x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The sub-discriminators' shared stack: leaky-ReLU convolutions, their maps kept as features."""
    feats = []
    for layer in layers:
        x = F.leaky_relu(layer(x), 0.1)
        feats.append(x)
    return out(x), feats


class PeriodDiscriminator(nn.Module):
    """wav [B, 1, N] folded to [B, 1, N / p, p] -> score [B, 1, T', p] and features."""

    def __init__(self, period: int, channels: tuple[int, ...] = (8, 16, 32, 64)) -> None:
        super().__init__()
        self.period = period
        layers, c_in = [], 1
        for c in channels:
            layers.append(weight_norm(nn.Conv2d(c_in, c, (5, 1), (3, 1), padding=(2, 0))))
            c_in = c
        layers.append(weight_norm(nn.Conv2d(c_in, c_in, (5, 1), 1, padding=(2, 0))))
        self.layers = nn.ModuleList(layers)
        self.out = weight_norm(nn.Conv2d(c_in, 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        b, c, n = wav.shape
        if n % self.period:
            wav = F.pad(wav, (0, self.period - n % self.period), mode="reflect")
        x = wav.view(b, c, -1, self.period)
        return _convolve(self.layers, self.out, x)


class ResolutionDiscriminator(nn.Module):
    """wav [B, 1, N] -> log-magnitude STFT [B, 1, frames, bins] -> score map and features."""

    def __init__(self, n_fft: int, channels: int = 16) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.layers = nn.ModuleList([
            weight_norm(nn.Conv2d(1, channels, (3, 9), (1, 2), padding=(1, 4))),
            *(weight_norm(nn.Conv2d(channels, channels, (3, 9), (1, 2), padding=(1, 4))) for _ in range(3)),
            weight_norm(nn.Conv2d(channels, channels, (3, 3), padding=(1, 1))),
        ])
        self.out = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        spec = torch.stft(wav[:, 0], self.n_fft, hop_length=self.n_fft // 4, window=self.window,
                          return_complex=True).abs()
        x = torch.log(spec.clamp(min=1e-5)).transpose(1, 2)[:, None]  # [B, 1, frames, bins]
        return _convolve(self.layers, self.out, x)


class Discriminator(nn.Module):
    """Period and resolution sub-discriminators side by side. wav [B, 1, N] -> Scores."""

    def __init__(self, periods: tuple[int, ...] = (2, 3, 5, 7, 11),
                 ffts: tuple[int, ...] = (256, 512, 1024)) -> None:
        super().__init__()
        self.subs = nn.ModuleList([*(PeriodDiscriminator(p) for p in periods),
                                   *(ResolutionDiscriminator(n) for n in ffts)])

    def forward(self, wav: torch.Tensor) -> Scores:
        return [d(wav) for d in self.subs]


def discriminator_loss(real: Scores, fake: Scores) -> torch.Tensor:
    """Least-squares GAN: real maps towards 1, generated towards 0 (fake from detached audio)."""
    loss = real[0][0].new_zeros(())
    for (r, _), (f, _) in zip(real, fake, strict=True):
        loss = loss + (1 - r).pow(2).mean() + f.pow(2).mean()
    return loss / len(real)


def generator_loss(fake: Scores) -> torch.Tensor:
    """Least-squares GAN, generator side: generated maps towards 1."""
    return sum((1 - f).pow(2).mean() for f, _ in fake) / len(fake)


def feature_loss(real: Scores, fake: Scores) -> torch.Tensor:
    """L1 between the discriminator's features of paired real and generated audio."""
    total, count = real[0][0].new_zeros(()), 0
    for (_, rf), (_, ff) in zip(real, fake, strict=True):
        for r, f in zip(rf, ff, strict=True):
            total = total + (r.detach() - f).abs().mean()
            count += 1
    return total / count
