"""Audio edits: the one place for the transformations suspect audio may have gone through.

Used by the codec's stability measurement and by the verifier's robustness
evaluation. Every edit maps (samples [N] float32, sample_rate) to float32
samples at the same rate; lengths change only where the edit itself changes
duration (speed, crop). Parameters of the AudioSeal paper's attacks follow
OmniSealBench's audio_attacks_paper.yaml.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.signal import butter, lfilter, sosfiltfilt

from synth.audio import decode_bytes, encode_audio, resample

Edit = Callable[[np.ndarray, int], np.ndarray]


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    return np.pad(y, (0, max(0, n - len(y))))[:n]


def _undo_delay(y: np.ndarray, x: np.ndarray, max_lag: int = 2048) -> np.ndarray:
    # Encoders add priming samples (AAC: 1024) that our muxer does not mark for
    # removal; the edit should model lossy coding, not a shift, so undo the lag.
    n = min(len(x), len(y))
    spec = np.fft.rfft(y[:n], 2 * n) * np.conj(np.fft.rfft(x[:n], 2 * n))
    corr = np.fft.irfft(spec, 2 * n)
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    lag = int(lags[np.argmax(corr[lags])])
    return y[lag:] if lag > 0 else np.concatenate([np.zeros(-lag, np.float32), y])


def lossy(fmt: str, bitrate: int) -> Edit:
    """Encode to `fmt` at `bitrate` bits/s and decode back (encoder delay removed, length kept)."""
    def edit(x: np.ndarray, sr: int) -> np.ndarray:
        y = decode_bytes(encode_audio(x, sr, fmt, bitrate), fmt, sr)
        return _fit(_undo_delay(y, x), len(x))
    return edit


def resample_via(mid_rate: int) -> Edit:
    def edit(x: np.ndarray, sr: int) -> np.ndarray:
        return _fit(resample(resample(x, sr, mid_rate), mid_rate, sr), len(x))
    return edit


def white_noise_snr(snr_db: float, seed: int = 0) -> Edit:
    def edit(x: np.ndarray, sr: int) -> np.ndarray:
        p = float(np.mean(x.astype(np.float64) ** 2)) or 1e-10
        noise = np.random.default_rng(seed).standard_normal(len(x)) * np.sqrt(p / 10 ** (snr_db / 10))
        return (x + noise).astype(np.float32)
    return edit


def white_noise_std(std: float, seed: int = 0) -> Edit:
    def edit(x: np.ndarray, sr: int) -> np.ndarray:
        return (x + std * np.random.default_rng(seed).standard_normal(len(x))).astype(np.float32)
    return edit


def pink_noise_std(std: float, seed: int = 0) -> Edit:
    def edit(x: np.ndarray, sr: int) -> np.ndarray:
        white = np.random.default_rng(seed).standard_normal(len(x))
        spec = np.fft.rfft(white)
        spec[1:] /= np.sqrt(np.arange(1, len(spec)))
        pink = np.fft.irfft(spec, n=len(x))
        pink *= std / (pink.std() or 1.0)
        return (x + pink).astype(np.float32)
    return edit


def shift(samples: int) -> Edit:
    """Delay (positive) or advance (negative) by `samples`, zero-filled, length kept."""
    def edit(x: np.ndarray, sr: int) -> np.ndarray:
        if samples >= 0:
            return np.concatenate([np.zeros(samples, np.float32), x])[: len(x)]
        return np.concatenate([x[-samples:], np.zeros(-samples, np.float32)])
    return edit


def speed(factor: float) -> Edit:
    """Play `factor` times faster by resampling (pitch and length change)."""
    def edit(x: np.ndarray, sr: int) -> np.ndarray:
        return resample(x, int(round(sr * factor)), sr)
    return edit


def time_stretch(factor: float) -> Edit:
    """Change tempo by `factor` keeping pitch (phase vocoder via librosa-free STFT overlap-add)."""
    def edit(x: np.ndarray, sr: int) -> np.ndarray:
        n_fft, hop = 1024, 256
        win = np.hanning(n_fft)
        pad = np.pad(x.astype(np.float64), (n_fft, n_fft))
        frames = np.lib.stride_tricks.sliding_window_view(pad, n_fft)[::hop] * win
        spec = np.fft.rfft(frames, axis=1)
        steps = np.arange(0, spec.shape[0] - 1, factor)
        omega = 2 * np.pi * hop * np.arange(spec.shape[1]) / n_fft
        phase = np.angle(spec[0])
        out_spec = np.empty((len(steps), spec.shape[1]), complex)
        for i, s in enumerate(steps):
            j = int(s)
            frac = s - j
            mag = (1 - frac) * np.abs(spec[j]) + frac * np.abs(spec[j + 1])
            out_spec[i] = mag * np.exp(1j * phase)
            dphi = np.angle(spec[j + 1]) - np.angle(spec[j]) - omega
            dphi -= 2 * np.pi * np.round(dphi / (2 * np.pi))
            phase = phase + omega + dphi
        y = np.zeros(len(steps) * hop + n_fft)
        norm = np.zeros_like(y)
        for i, fr in enumerate(np.fft.irfft(out_spec, n=n_fft, axis=1)):
            y[i * hop:i * hop + n_fft] += fr * win
            norm[i * hop:i * hop + n_fft] += win ** 2
        y = y / np.maximum(norm, 1e-8)
        return y[n_fft: n_fft + int(round(len(x) / factor))].astype(np.float32)
    return edit


def _sos_filter(kind: str, cutoff, order: int = 5) -> Edit:
    def edit(x: np.ndarray, sr: int) -> np.ndarray:
        sos = butter(order, cutoff, btype=kind, fs=sr, output="sos")
        return sosfiltfilt(sos, x).astype(np.float32)
    return edit


def bandpass(low: float, high: float) -> Edit:
    return _sos_filter("bandpass", [low, high])


def highpass(cutoff: float) -> Edit:
    return _sos_filter("highpass", cutoff)


def lowpass(cutoff: float) -> Edit:
    return _sos_filter("lowpass", cutoff)


def gain(factor: float) -> Edit:
    def edit(x: np.ndarray, sr: int) -> np.ndarray:
        return (x * factor).astype(np.float32)
    return edit


def echo(delay_s: float, volume: float) -> Edit:
    def edit(x: np.ndarray, sr: int) -> np.ndarray:
        d = int(round(delay_s * sr))
        y = x.astype(np.float64).copy()
        if d < len(x):
            y[d:] += volume * x[: len(x) - d]
        peak = np.max(np.abs(y)) or 1.0
        scale = min(1.0, np.max(np.abs(x)) / peak) if peak > 1.0 else 1.0
        return (y * scale).astype(np.float32)
    return edit


def smooth(window: int) -> Edit:
    """Moving-average filter of `window` samples."""
    def edit(x: np.ndarray, sr: int) -> np.ndarray:
        return lfilter(np.ones(window) / window, [1.0], x).astype(np.float32)
    return edit


def crop(fraction: float | None = None, seconds: float | None = None) -> Edit:
    """Keep the middle `fraction` of the clip, or the middle `seconds`."""
    def edit(x: np.ndarray, sr: int) -> np.ndarray:
        n = int(len(x) * fraction) if fraction is not None else int(seconds * sr)
        n = max(1, min(n, len(x)))
        s = (len(x) - n) // 2
        return x[s:s + n].copy()
    return edit


def identity() -> Edit:
    def edit(x: np.ndarray, sr: int) -> np.ndarray:
        return np.asarray(x, dtype=np.float32)
    return edit


def stability_edits(frame_samples: int) -> dict[str, Edit]:
    """The edits `voxseal codec stability` measures (foundation issue)."""
    return {
        "clean": identity(),
        "mp3-32k": lossy("mp3", 32_000),
        "aac-64k": lossy("m4a", 64_000),
        "opus-24k": lossy("opus", 24_000),
        "resample-8k": resample_via(8_000),
        "resample-44k1": resample_via(44_100),
        "noise-30db": white_noise_snr(30),
        "noise-20db": white_noise_snr(20),
        "shift-quarter": shift(frame_samples // 4),
        "shift-half": shift(frame_samples // 2),
        "speed-0.95": speed(0.95),
        "speed-1.05": speed(1.05),
    }
