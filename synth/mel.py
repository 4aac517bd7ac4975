"""Log-mel spectra in torch (no torchaudio): the reconstruction losses' front end."""
from __future__ import annotations

import functools

import numpy as np
import torch


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + f / 700.0)


@functools.lru_cache(maxsize=16)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> torch.Tensor:
    """Triangular HTK-style mel filters [n_mels, n_fft // 2 + 1]."""
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mel_pts = np.linspace(0, _hz_to_mel(np.array(sample_rate / 2)), n_mels + 2)
    hz_pts = 700.0 * (10 ** (mel_pts / 2595.0) - 1.0)
    fb = np.zeros((n_mels, len(freqs)))
    for i in range(n_mels):
        lo, mid, hi = hz_pts[i], hz_pts[i + 1], hz_pts[i + 2]
        up = (freqs - lo) / max(mid - lo, 1e-9)
        down = (hi - freqs) / max(hi - mid, 1e-9)
        fb[i] = np.clip(np.minimum(up, down), 0, None)
    return torch.tensor(fb, dtype=torch.float32)


def bands_below(sample_rate: int, n_mels: int, cutoff_hz: float) -> torch.Tensor:
    """bool [n_mels]: the mel_filterbank bands whose upper edge lies at or below cutoff_hz."""
    mel_pts = np.linspace(0, _hz_to_mel(np.array(sample_rate / 2)), n_mels + 2)
    upper = 700.0 * (10 ** (mel_pts[2:] / 2595.0) - 1.0)
    return torch.from_numpy(upper <= cutoff_hz + 1e-6)


def log_mel(wav: torch.Tensor, sample_rate: int, n_fft: int, n_mels: int) -> torch.Tensor:
    """wav [B, N] -> log-mel [B, n_mels, frames] (hop n_fft // 4)."""
    spec = torch.stft(wav, n_fft, hop_length=n_fft // 4, window=torch.hann_window(n_fft),
                      return_complex=True).abs()
    return torch.log(mel_filterbank(sample_rate, n_fft, n_mels) @ spec + 1e-5)


def multiscale_mel_loss(pred: torch.Tensor, target: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """L1 between log-mels at four resolutions, plus L2 at the same scales (pred/target [B, N])."""
    loss = pred.new_zeros(())
    for n_fft, n_mels in ((256, 32), (512, 64), (1024, 80), (2048, 80)):
        a, b = log_mel(pred, sample_rate, n_fft, n_mels), log_mel(target, sample_rate, n_fft, n_mels)
        loss = loss + (a - b).abs().mean() + 0.5 * (a - b).pow(2).mean()
    return loss / 4
