"""torchaudio.functional.{spectrogram, inverse_spectrogram, phase_vocoder}, as torchaudio defines them."""
from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["inverse_spectrogram", "phase_vocoder", "spectrogram"]


def _get_spec_norms(normalized: bool | str) -> tuple[bool, bool]:
    """(frame_length_norm, window_norm); True means "window", as in torchaudio."""
    if isinstance(normalized, str):
        if normalized not in ("frame_length", "window"):
            raise ValueError(f"Invalid normalized parameter: {normalized}")
        return normalized == "frame_length", normalized == "window"
    if isinstance(normalized, bool):
        return False, normalized
    raise TypeError("Input type not supported")


def spectrogram(waveform: Tensor, pad: int, window: Tensor, n_fft: int, hop_length: int, win_length: int,
                power: float | None, normalized: bool | str, center: bool = True, pad_mode: str = "reflect",
                onesided: bool = True, return_complex: bool | None = None) -> Tensor:
    """(..., time) -> (..., n_fft // 2 + 1, frames); complex if `power` is None, else |X| ** power."""
    del return_complex  # deprecated and ignored by torchaudio too
    if pad > 0:
        waveform = torch.nn.functional.pad(waveform, (pad, pad), "constant")
    frame_length_norm, window_norm = _get_spec_norms(normalized)
    shape = waveform.size()
    spec = torch.stft(waveform.reshape(-1, shape[-1]), n_fft=n_fft, hop_length=hop_length,
                      win_length=win_length, window=window, center=center, pad_mode=pad_mode,
                      normalized=frame_length_norm, onesided=onesided, return_complex=True)
    spec = spec.reshape(shape[:-1] + spec.shape[-2:])
    if window_norm:
        spec = spec / window.pow(2.0).sum().sqrt()
    if power is None:
        return spec
    return spec.abs() if power == 1.0 else spec.abs().pow(power)


def inverse_spectrogram(spectrogram: Tensor, length: int | None, pad: int, window: Tensor, n_fft: int,
                        hop_length: int, win_length: int, normalized: bool | str, center: bool = True,
                        pad_mode: str = "reflect", onesided: bool = True) -> Tensor:
    """Complex (..., freq, frames) -> (..., time), least-squares inverse of `spectrogram`."""
    del pad_mode  # accepted for symmetry, unused (as in torchaudio)
    frame_length_norm, window_norm = _get_spec_norms(normalized)
    if not spectrogram.is_complex():
        raise ValueError("Expected `spectrogram` to be complex dtype.")
    if window_norm:
        spectrogram = spectrogram * window.pow(2.0).sum().sqrt()
    shape = spectrogram.size()
    wav = torch.istft(spectrogram.reshape(-1, shape[-2], shape[-1]), n_fft=n_fft, hop_length=hop_length,
                      win_length=win_length, window=window, center=center, normalized=frame_length_norm,
                      onesided=onesided, length=None if length is None else length + 2 * pad,
                      return_complex=False)
    if length is not None and pad > 0:
        wav = wav[:, pad:-pad]
    return wav.reshape(shape[:-2] + wav.shape[-1:])


def phase_vocoder(complex_specgrams: Tensor, rate: float, phase_advance: Tensor) -> Tensor:
    """Speed a complex (..., freq, frames) spectrogram up by `rate` without changing pitch."""
    if not complex_specgrams.is_complex():
        raise ValueError("Expected `complex_specgrams` to be complex dtype.")
    if rate == 1.0:
        return complex_specgrams
    shape = complex_specgrams.size()
    spec = complex_specgrams.reshape([-1] + list(shape[-2:]))
    time_steps = torch.arange(0, spec.size(-1), rate, device=spec.device, dtype=torch.real(spec).dtype)
    alphas = time_steps % 1.0
    phase_0 = spec[..., :1].angle()
    spec = torch.nn.functional.pad(spec, [0, 2])
    spec_0 = spec.index_select(-1, time_steps.long())
    spec_1 = spec.index_select(-1, (time_steps + 1).long())
    phase = spec_1.angle() - spec_0.angle() - phase_advance
    phase = phase - 2 * math.pi * torch.round(phase / (2 * math.pi))
    phase = torch.cat([phase_0, (phase + phase_advance)[..., :-1]], dim=-1)
    mag = alphas * spec_1.abs() + (1 - alphas) * spec_0.abs()
    out = torch.polar(mag, torch.cumsum(phase, -1))
    return out.reshape(shape[:-2] + out.shape[1:])
