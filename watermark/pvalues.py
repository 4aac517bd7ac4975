"""Exact p-values: the one place the null distributions live.

Zero-bit scheme: after de-duplication each unit is green independently with
probability gamma, so the hits are Binomial(n, gamma) and
    p = P(X >= s) = I_gamma(s, n - s + 1)      (regularised incomplete beta)
computed with `scipy.special.betainc`, exact in the tail (no normal approximation).

Payload scheme (MPAC): unit counts W[i, c] per message position i and colour c.
The statistic is S = sum_i max_c W[i, c] (the hits of the best-fitting message).
Given the number of units n_i at each position, H0 makes each row of W
Multinomial(n_i, uniform over r), independent across positions, so
    P(S >= s) = tail of the convolution over i of pmf(max of Multinomial(n_i, r)).
The max-pmf comes from an exact recursion (`max_multinomial_pmf`) in which every term
is a positive probability, so tails are accurate to relative rounding error down to
~1e-300. For positions with more than MAX_EXACT_UNITS units the table would be too
large; there the union bound over all r^b messages, r^b * P(Bin(n, 1/r) >= S), is
used instead. It is valid (conservative), and flagged `exact=False`.

Weighted zero-bit statistic (a soft reading, `watermark/soft.py`): units carry integer
weights q_u fixed by the audio alone, and S = sum_u q_u [u green]. Under H0 the colours
are still independent Bernoulli(gamma), so S is a sum of scaled binomials, one per
weight level, and `weighted_binomial_sf` gives P(S >= s) exactly: the pmf comes from
an FFT of the distribution tilted so that its mean is s (the tail's terms are then the
largest ones, so rounding is relative to them, not to the mode of the untilted pmf),
and is tilted back in log space. With every weight 1 it is the binomial tail above.

Multiple testing: `bonferroni(p, m) = min(1, m p)`, valid for any dependence
between the hypotheses (keys, alignment offsets, time-scales, polarities).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
from scipy.special import betainc, gammaln
from scipy.stats import binom

MAX_EXACT_UNITS = 2048


def binom_sf(k: np.ndarray | int, n: np.ndarray | int, p: float) -> np.ndarray:
    """P(X >= k) for X ~ Binomial(n, p), elementwise, exact."""
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    k, n = np.broadcast_arrays(k, n)
    out = np.where(k <= 0, 1.0, 0.0)
    inside = (k > 0) & (k <= n)
    if np.any(inside):
        kk, nn = k[inside], n[inside]
        out = out.astype(np.float64)
        out[inside] = betainc(kk, nn - kk + 1.0, p)
    return out


def binomial_tails(
    hits: np.ndarray | int, n: np.ndarray | int, gamma: float
) -> tuple[np.ndarray, np.ndarray]:
    """(P(X > hits), P(X = hits)) for X ~ Binomial(n, gamma), elementwise.

    p = P(X >= hits) is their sum; the randomised p-value P(X > hits) + U P(X = hits)
    is exactly Uniform(0, 1) under H0, which is what a KS test needs (the plain
    p-value is discrete and super-uniform, P(p <= a) <= a).
    """
    hits = np.asarray(hits)
    return binom_sf(hits + 1, n, gamma), np.asarray(binom.pmf(hits, n, gamma), np.float64)


def binomial_pvalue(
    hits: np.ndarray | int,
    n: np.ndarray | int,
    gamma: float,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Zero-bit p-value P(Bin(n, gamma) >= hits); with `rng`, the randomised one."""
    if rng is None:
        return binom_sf(hits, n, gamma)
    upper, at = binomial_tails(hits, n, gamma)
    return upper + rng.random(upper.shape) * at


@lru_cache(maxsize=8)
def _max_pmf_table(size: int, r: int) -> np.ndarray:
    """table[n, m] = P(max_c W_c = m) for W ~ Multinomial(n, uniform over r); n, m <= size.

    Recursion over the cap m. A_j[t] = P(all of j boxes hold <= m | t balls thrown
    uniformly into those j boxes). Going from cap m-1 to m, split by the set of i
    boxes that hold exactly m:
        A_j^(m)[t] = sum_i C(j,i) Mult(t; m..m, t-im) j^-im (j-i)^(t-im) A_{j-i}^(m-1)[t-im]
    and P(max = m | n) is the same sum for j = r restricted to i >= 1. All terms are
    non-negative: no cancellation, so tiny tail probabilities stay accurate.
    """
    t = np.arange(size + 1)
    lg = gammaln(t + 1.0)
    lchoose = {
        (j, i): gammaln(j + 1.0) - gammaln(i + 1.0) - gammaln(j - i + 1.0)
        for j in range(r + 1)
        for i in range(j + 1)
    }
    a = [np.zeros(size + 1) for _ in range(r)]
    for arr in a:
        arr[0] = 1.0
    table = np.zeros((size + 1, size + 1))
    table[0, 0] = 1.0

    def term(j: int, i: int, m: int, prev: np.ndarray) -> tuple[int, np.ndarray]:
        # contribution of "exactly i of j boxes hold m" for t = i*m .. size
        lo = i * m
        tt = t[lo:]
        rest = tt - lo
        logw = lchoose[(j, i)] + lg[tt] - i * lg[m] - lg[rest] - lo * np.log(j)
        if j > i:
            logw = logw + rest * np.log((j - i) / j)
            return lo, np.exp(logw) * prev[rest]
        # j == i: no other box, so only rest == 0 is possible (prev is A_0 = [1, 0, ...])
        w = np.zeros_like(logw)
        w[0] = np.exp(logw[0])
        return lo, w

    for m in range(1, size + 1):
        col = np.zeros(size + 1)
        for i in range(1, r + 1):
            if i * m > size:
                break
            lo, v = term(r, i, m, a[r - i])
            col[lo:] += v
        table[:, m] = col
        new = [a[0]]
        for j in range(1, r):
            aj = a[j].copy()
            for i in range(1, j + 1):
                if i * m > size:
                    break
                lo, v = term(j, i, m, a[j - i])
                aj[lo:] += v
            new.append(aj)
        a = new
    return table


def _table(n_max: int, r: int) -> np.ndarray:
    size = 64  # power-of-two sizes: few distinct tables, each built once per process
    while size < n_max:
        size *= 2
    return _max_pmf_table(size, r)


def max_multinomial_pmf(n: int, r: int) -> np.ndarray:
    """pmf [n + 1] of max_c W_c for W ~ Multinomial(n, uniform over r colours)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n > MAX_EXACT_UNITS:
        raise ValueError(f"n={n} exceeds MAX_EXACT_UNITS={MAX_EXACT_UNITS}")
    return _table(n, r)[n, : n + 1]


@lru_cache(maxsize=8)
def _kernels(size: int, r: int) -> tuple[np.ndarray, ...]:
    # row n of the max-pmf table restricted to its support [ceil(n / r), n]
    table = _max_pmf_table(size, r)
    return tuple(table[n, -(-n // r) : n + 1].copy() for n in range(size + 1))


def sum_of_max_tails(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Null tails of S = sum_i max_c W[i, c], given the units per position, for N tables.

    Args:
        counts: int [N, b, r], unit counts per (message position, colour).
    Returns:
        (P(S > s) [N], P(S = s) [N], exact [N]) at each observed s. exact=False when a
        position had more than MAX_EXACT_UNITS units; then the first entry is the
        union bound min(1, r^b P(Bin(n, 1/r) >= s)) and the second is 0.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n_tab, b, r = counts.shape
    n_i = counts.sum(axis=2)
    s_all = counts.max(axis=2).sum(axis=1)
    lo_all = (-(-n_i // r)).sum(axis=1)
    upper = np.zeros(n_tab)
    at = np.zeros(n_tab)
    exact = n_i.max(axis=1, initial=0) <= MAX_EXACT_UNITS
    if not exact.all():
        bad = ~exact
        p = binom_sf(s_all[bad], n_i[bad].sum(axis=1), 1.0 / r) * float(r) ** b
        upper[bad] = np.minimum(1.0, p)
    if exact.any():
        size = 64  # power-of-two sizes: few distinct tables, each built once per process
        while size < int(n_i[exact].max(initial=0)):
            size *= 2
        kernels = _kernels(size, r)
        convolve = np.convolve
        for t in np.flatnonzero(exact).tolist():
            pmf = np.ones(1)
            for n in n_i[t].tolist():
                if n:
                    pmf = convolve(pmf, kernels[n])
            k = int(s_all[t] - lo_all[t])
            upper[t] = pmf[k + 1 :].sum()
            at[t] = pmf[k] if k < pmf.size else 0.0
    return upper, at, exact


def sum_of_max_tail(counts: np.ndarray) -> tuple[float, float, bool]:
    """`sum_of_max_tails` for one table counts [b, r]."""
    upper, at, exact = sum_of_max_tails(np.asarray(counts)[None])
    return float(upper[0]), float(at[0]), bool(exact[0])


def sum_of_max_pvalue(
    counts: np.ndarray, rng: np.random.Generator | None = None
) -> tuple[float, bool]:
    """P(S >= s) under H0 (see `sum_of_max_tail`); with `rng`, the randomised
    p-value P(S > s) + U P(S = s). Returns (p-value, exact)."""
    upper, at, exact = sum_of_max_tail(counts)
    u = 1.0 if rng is None else float(rng.random())
    return min(1.0, upper + u * at), exact


def bonferroni(p: float | np.ndarray, hypotheses: int) -> float | np.ndarray:
    """Family-wise correction for `hypotheses` tests: min(1, m p)."""
    if hypotheses < 1:
        raise ValueError(f"hypotheses must be >= 1, got {hypotheses}")
    return np.minimum(1.0, np.asarray(p, dtype=np.float64) * hypotheses)



def _weighted_counts(units_per_weight: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray, int]:
    n = np.asarray(units_per_weight, dtype=np.int64)
    if n.ndim != 1 or np.any(n < 0):
        raise ValueError("units_per_weight must be a 1-d array of counts (>= 0)")
    if not 0.0 < gamma < 1.0:
        raise ValueError(f"gamma must be in (0, 1), got {gamma}")
    w = np.flatnonzero(n)
    w = w[w > 0]  # entry 0: units of weight 0 add nothing
    return w, n[w].astype(np.float64), int((w * n[w]).sum())


def _tilted_green(theta: float, w: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """For units of weights `w` under the tilt theta: (log E exp(theta w [green]), the
    tilted probability of green), both float [len(w)]."""
    a = np.log(gamma) + theta * w.astype(np.float64)
    log_z = np.logaddexp(np.log1p(-gamma), a)
    return log_z, np.exp(a - log_z)


def _tilt(w: np.ndarray, nw: np.ndarray, s: int, gamma: float) -> tuple[float, float]:
    """(theta, K(theta)): the exponential tilt whose mean is s (theta = 0 when s is at
    most the mean), K the cumulant generating function of S = sum_q q Bin(n_q, gamma)."""
    wf = w.astype(np.float64)

    def cgf(theta: float) -> tuple[float, float, float]:
        log_z, pw = _tilted_green(theta, w, gamma)
        return (float((nw * log_z).sum()), float((nw * wf * pw).sum()),
                float((nw * wf * wf * pw * (1 - pw)).sum()))

    k, mean, var = cgf(0.0)
    if s <= mean:
        return 0.0, k
    # K' is increasing and convex-then-flat in theta: Newton from a bracket, bisecting
    # whenever a Newton step leaves it
    lo, hi = 0.0, 1.0
    while cgf(hi)[1] < s:
        lo, hi = hi, hi * 2.0
    theta = 0.5 * (lo + hi)
    for _ in range(100):
        k, mean, var = cgf(theta)
        if abs(mean - s) < 1e-9 * s:
            break
        lo, hi = (theta, hi) if mean < s else (lo, theta)
        step = theta - (mean - s) / var if var > 0 else 0.5 * (lo + hi)
        theta = step if lo < step < hi else 0.5 * (lo + hi)
    return theta, cgf(theta)[0]


class _Tilted(NamedTuple):
    weights: np.ndarray  # the weights that carry units
    counts: np.ndarray  # float, units per weight
    top: int  # the largest possible S
    theta: float
    cgf: float  # K(theta)


def _tilted(units_per_weight: np.ndarray, s: int, gamma: float) -> float | _Tilted:
    """The tilt for P(S >= s), or the tail itself where it is 1 or 0."""
    w, nw, top = _weighted_counts(units_per_weight, gamma)
    if s <= 0:
        return 1.0
    if s > top:
        return 0.0
    return _Tilted(w, nw, top, *_tilt(w, nw, s, gamma))


def weighted_binomial_bound(units_per_weight: np.ndarray, s: int, gamma: float) -> float:
    """Chernoff bound exp(K(theta) - theta s) >= P(S >= s) (S as in `weighted_binomial_sf`):
    microseconds, where the exact tail takes about a millisecond; for ranking candidates."""
    t = _tilted(units_per_weight, s, gamma)
    return t if isinstance(t, float) else float(min(1.0, np.exp(t.cgf - t.theta * s)))


def weighted_binomial_sf(units_per_weight: np.ndarray, s: int, gamma: float) -> float:
    """P(S >= s) for S = sum_q q * Binomial(units_per_weight[q], gamma), independent.

    Args:
        units_per_weight: int [Q + 1]; entry q = how many units carry weight q.
        s: the observed weighted count of green units.
    Cost: O(Q N + N log N) with N ~ the largest possible S (~1 ms for a 10 s clip).
    """
    t = _tilted(units_per_weight, s, gamma)
    if isinstance(t, float):
        return t
    w, nw, top, theta, k = t
    size = 1 << int(np.ceil(np.log2(top + 1)))
    roots = np.exp(-2j * np.pi * np.arange(size) / size)
    j = np.arange(size // 2 + 1)  # a real pmf needs only half of the spectrum (irfft)
    log_phi = np.zeros(j.shape, np.complex128)
    for weight, count, pw in zip(w, nw, _tilted_green(theta, w, gamma)[1], strict=True):
        # a unit of this weight contributes (1 - pw + pw z^weight): z^weight by index, no power
        log_phi += count * np.log1p(pw * (roots[(j * weight) % size] - 1.0))
    tilted = np.fft.irfft(np.exp(log_phi), size)  # P_theta(S = x), x < size
    x = np.arange(s, top + 1)
    total = float((np.clip(tilted[s: top + 1], 0.0, None) * np.exp(-theta * (x - s))).sum())
    chernoff = k - theta * s  # P(S >= s) = exp(K - theta s) E_theta[exp(-theta (S - s)); S >= s]
    return float(min(1.0, np.exp(chernoff + np.log(total)) if total > 0 else np.exp(chernoff)))
