"""Specialist verifier encoders, and the gates that say when a clip calls for one.

The verifier encoder (synth/assets/compact16k.verifier.pt) is tuned for mild edits:
after AudioSeal's band-pass, high-pass and low-pass filters it recovers almost no
codebook-1 pair (0.01-0.11, benchmarks/results/tts-corpus240/attack-agreement.txt):
it was never trained on such audio. One encoder trained on every heavy edit at once
(`robust`, measured, not shipped) reads filtered audio somewhat better and clean audio
worse. A specialist is trained on one family of edits only (`voxseal train verifier
--specialist NAME`, verify/encoder_train.py) and is searched only on clips that show
that family's trace, which the gate reads from the audio alone (no key). The shipped
ones, with the correction that counts only the gates a clip opens (verify/search.py),
took the Tier A mean TPR at 1e-3 on 5 s clips from 0.607 to 0.893
(benchmarks/results/specialists/):

- `band`: little energy below 300 Hz (AudioSeal's band-pass 500-5000 Hz and high-pass
  1500 Hz leave the 50-300 Hz band 45-55 and 100+ dB below the strongest band; speech
  as it is: within 8 dB on our TTS and the corpus' voices).
- `highpass`: little energy below 1 kHz: 300-1000 Hz too is more than 25 dB down
  (AudioSeal's high-pass 1500 Hz: 35-64 dB; its band-pass 500-5000 Hz and speech as it
  is: within 10 dB). `band` reads high-passed clips only partly (5 s: TPR 0.80 at 1e-3);
  this one starts from `band` and learns high-pass filters alone.
- `lowpass`: little energy in 1-4 kHz (the 500 Hz low-pass leaves it 75-90 dB down;
  speech: within 15 dB). Trained 100 minutes: at 60 it was still learning, and 40 more
  took the 500 Hz low-pass at 5 s from 25 to 28 of 30 clips
  (benchmarks/results/robustness-30clips/).
- `noise`: a high noise floor: the 10th percentile of 20 ms frame energies within
  20 dB of the 90th (AudioSeal's pink and white noise: 6-11 dB; speech with pauses,
  clean or after any other Tier A edit: 30-47 dB; an echo fills the pauses, 16-40 dB).
  It reads only the louder half of the clip's frames (`LOUD_FRAMES_ONLY`): the pauses
  hold noise alone. The others are marked unread in place (`watermark.scoring.UNREAD`),
  so a token pair is scored only where its two frames were adjacent; joining the loud
  frames end to end had scored a bogus pair at every pause (white noise at 5 s: TPR
  0.40 -> 0.50; benchmarks/results/specialists/README.md has what each step changed).
  Trained 100 minutes, like `lowpass`: with the soft reading (watermark/soft.py) the
  40 more minutes took white noise at 5 s from 19 to 23 of 30 clips and pink from 4 to
  6 (benchmarks/results/robustness-30clips/).
- `smooth`: reads a clip whose moving-average filter `verify.smoothing` found and
  undid (`UNDO_FIRST`). The inverse filter brings the spectrum back except near the
  filter's nulls, and the verifier encoder reads what it leaves only partly (AudioSeal's
  smoothing, 5 s: TPR 0.50 at 1e-3); this one, trained on exactly that audio, reads
  all 10 clips (1.00). Its gate is the filter search itself: a clip with no such
  filter is not read.
- `robust`: every heavy edit (kept for comparison; its gate is always open).

A gate reads the audio alone, never the key, so it may decide what the multiple-test
correction counts (verify/search.py): a specialist whose gate stays closed is neither
tried nor counted, and the ones that open share most of the error budget. A gate that
opens on the wrong clip costs one analysis and some budget, never a false detection:
given the clip, every counted hypothesis' p-value is exact and their weights sum to 1.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from verify.spectrum import welch_psd

LOW_CUT_DB = 25.0  # 50-300 Hz this far below the strongest band: a high-pass / band-pass
MID_CUT_DB = 25.0  # 300-1000 Hz too, this far down: a high-pass above 1 kHz
HIGH_CUT_DB = 40.0  # 1-4 kHz this far below the strongest band: a low-pass
NOISE_RANGE_DB = 20.0  # frame-energy range (90th - 10th percentile) below this: a noise floor
_BANDS = ((50.0, 300.0), (300.0, 1000.0), (1000.0, 4000.0), (4000.0, 7800.0))


def band_levels_db(y: np.ndarray, sample_rate: int) -> np.ndarray:
    """Energy of `y` [N] in each of _BANDS, in dB below the strongest of them ([4], <= 0)."""
    freqs, power = welch_psd(y, sample_rate, 1024)
    level = np.array([power[(freqs >= lo) & (freqs < min(hi, sample_rate / 2))].sum()
                      for lo, hi in _BANDS])
    db = 10 * np.log10(level + 1e-20)
    return db - db.max()


def frame_range_db(y: np.ndarray, sample_rate: int) -> float:
    """90th minus 10th percentile of the energies of 20 ms frames of `y` [N], in dB."""
    n = sample_rate // 50
    frames = np.asarray(y, dtype=np.float64)[: len(y) // n * n].reshape(-1, n)
    energy = 10 * np.log10((frames ** 2).mean(axis=1) + 1e-12)
    return float(np.percentile(energy, 90) - np.percentile(energy, 10))


@dataclass(frozen=True)
class ClipTraits:
    """What the gates read from a clip, computed once per clip (`clip_traits`)."""

    band_db: np.ndarray  # [4] band_levels_db
    frame_range_db: float
    audible: bool  # long enough and not all zeros


def clip_traits(y: np.ndarray, sample_rate: int) -> ClipTraits:
    """The traits of `y` [N] every gate reads (~8 ms for 10 s at 16 kHz, once per clip)."""
    if len(y) < sample_rate // 10 or not np.any(y):
        return ClipTraits(np.zeros(len(_BANDS)), 0.0, False)
    return ClipTraits(band_levels_db(y, sample_rate), frame_range_db(y, sample_rate), True)


def shows_low_cut(t: ClipTraits) -> bool:
    return t.audible and t.band_db[0] < -LOW_CUT_DB


def shows_high_pass(t: ClipTraits) -> bool:
    return shows_low_cut(t) and t.band_db[1] < -MID_CUT_DB


def shows_high_cut(t: ClipTraits) -> bool:
    return t.audible and t.band_db[2] < -HIGH_CUT_DB


def shows_noise(t: ClipTraits) -> bool:
    return t.audible and t.frame_range_db < NOISE_RANGE_DB


GATES: dict[str, Callable[[ClipTraits], bool]] = {
    "band": shows_low_cut,
    "highpass": shows_high_pass,
    "lowpass": shows_high_cut,
    "noise": shows_noise,
    "smooth": lambda t: t.audible,  # the undo's filter search is the real gate (UNDO_FIRST)
    "robust": lambda t: True,
}
SPECIALISTS = tuple(GATES)
# specialists that read only the louder half of a clip's frames: where the clip shows
# a noise floor, its pauses hold noise alone and their tokens only dilute the count
LOUD_FRAMES_ONLY = frozenset({"noise"})
# the edit (verify.search.UNDOABLE) found and undone before the specialist reads a clip
UNDO_FIRST: dict[str, str] = {"smooth": "smoothing"}


def applies(name: str, traits: ClipTraits) -> bool:
    """Whether a clip with these traits shows the edit the specialist `name` was trained for."""
    if name not in GATES:
        raise ValueError(f"unknown specialist encoder {name!r}; choose from {', '.join(SPECIALISTS)}")
    return GATES[name](traits)


def loud_frames(y: np.ndarray, hop: int, n_frames: int) -> np.ndarray:
    """Indices of the frames of `y` [N] (`hop` samples each, `n_frames` of them, the
    last ones zero-padded) whose energy is at least the median frame's: int64 [>= n/2]."""
    y = np.asarray(y, dtype=np.float64)[: n_frames * hop]
    y = np.pad(y, (0, n_frames * hop - len(y)))
    energy = (y.reshape(n_frames, hop) ** 2).mean(axis=1)
    return np.flatnonzero(energy >= np.median(energy))
