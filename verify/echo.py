"""Echo: find one delayed copy in a clip and take it out (an alignment hypothesis).

An echo (AudioSeal's attack: 0.5 s at volume 0.5; a re-recording's strongest
reflection) makes y[n] = x[n] + a x[n - d]. The codec re-tokenises the sum, and
codebook-1 pair agreement with the sampled codes falls from 0.63 to 0.19
(benchmarks/results/clean-100/attack-agreement.txt). Knowing d and a, the comb
x[n] = y[n] - a x[n - d] gives x back exactly.

Both are estimated from the audio alone (no key), so the verifier tries one more
hypothesis family, counted in its correction like any other (verify/search.py). The
echo shows as a peak of the clip's autocorrelation at lag d, of height a / (1 + a^2)
for white x; the clip is first differenced to whiten speech. Audio decoded by a codec
also correlates with itself at every multiple of the codec's hop (measured on ours:
~0.3 at multiples of 20 ms, against ~0.02 between them), and speech at broad ranges of
lags, so a lag's peak is measured above the larger of two baselines: the lags one and
two hops away, and the lags 4-8 samples away (an echo's peak is one sample wide). The
gain is then the one whose comb leaves no peak at d. Measured on 5 s clips with
AudioSeal's echo: the delay found exactly in 8 of 8 TTS clips (peak 0.09-0.14, gain
0.45-0.525) and 20 of 20 synthesizer clips (peak 0.31-0.43); without an echo the peak
stays below 0.04 on TTS clips, but passes MIN_PEAK on ~20 % of other synthesizers'
clips (espeak repeats waveform periods exactly), which costs one more analysis and a
share of the error budget on those clips (verify/search.py: a family is counted only
on the clips where it is found).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import fft

MIN_DELAY_S = 0.05  # shorter lags hold pitch periods and the codec's own periodicity
MAX_DELAY_S = 1.0
MIN_PEAK = 0.06  # excess normalised autocorrelation that counts as an echo
_NEIGHBOURS = (-2, -1, 1, 2)  # in hops
_LOCAL = (-8, -7, -6, -5, -4, 4, 5, 6, 7, 8)  # in samples
_COARSE = np.arange(0.05, 0.951, 0.1)
_FINE = np.array([-0.075, -0.05, -0.025, 0.0, 0.025, 0.05, 0.075])


@dataclass(frozen=True)
class Echo:
    delay: int  # samples
    gain: float
    peak: float  # the autocorrelation excess that revealed it


def _lag_products(x: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """Normalised, unbiased autocorrelation of `x` [N] at `lags` (each < N)."""
    energy = float(x @ x) / x.size or 1.0
    return np.array([float(x[lag:] @ x[: x.size - lag]) / (x.size - lag) for lag in lags]) / energy


def _excess(r_at: Callable[[np.ndarray], np.ndarray], lags: np.ndarray, hop: int) -> np.ndarray:
    """Peak height at `lags` above the larger baseline; r_at(lags) -> autocorrelation."""
    by_hop = np.mean([r_at(lags + k * hop) for k in _NEIGHBOURS], axis=0)
    local = np.mean([r_at(lags + k) for k in _LOCAL], axis=0)
    return r_at(lags) - np.maximum(by_hop, local)


def remove_echo(y: np.ndarray, delay: int, gain: float) -> np.ndarray:
    """x [N] with x[n] = y[n] - gain * x[n - delay] (float32)."""
    if delay <= 0:
        raise ValueError(f"delay must be positive, got {delay}")
    x = np.asarray(y, dtype=np.float64).copy()
    for start in range(delay, x.size, delay):
        stop = min(start + delay, x.size)
        x[start:stop] -= gain * x[start - delay: stop - delay]
    return x.astype(np.float32)


def find_echo(y: np.ndarray, sample_rate: int, hop: int) -> Echo | None:
    """The strongest single echo of `y` [N] between MIN_DELAY_S and MAX_DELAY_S (and at
    most a third of the clip), or None when no lag stands out by MIN_PEAK."""
    x = np.diff(np.asarray(y, dtype=np.float64) - np.mean(y))
    n = x.size
    lo = int(MIN_DELAY_S * sample_rate)
    hi = min(int(MAX_DELAY_S * sample_rate), n // 3)
    top = hi + max(max(_NEIGHBOURS) * hop, max(_LOCAL))
    if hi <= lo or top >= n or not np.any(x):
        return None
    size = fft.next_fast_len(n + top + 1, real=True)  # no wrap-around up to lag `top`
    spectrum = fft.rfft(x, size)
    r = fft.irfft(spectrum.real ** 2 + spectrum.imag ** 2, size)[: top + 1]
    r = r / r[0] * n / (n - np.arange(top + 1))
    excess = _excess(lambda lags: r[lags], np.arange(lo, hi + 1), hop)
    i = int(np.argmax(excess))
    if excess[i] < MIN_PEAK:
        return None
    delay = lo + i

    def residual(gain: float) -> float:
        z = remove_echo(x, delay, gain)
        return abs(float(_excess(lambda lags: _lag_products(z, lags), np.array([delay]), hop)[0]))

    # coarse, then fine around the best coarse gain: 14 combs instead of 37
    gain = min(_COARSE, key=residual)
    gain = min(np.round(gain + _FINE, 3), key=residual)
    return Echo(delay, float(gain), float(excess[i]))
