"""Alignment search: the hypotheses the verifier tries before detecting.

A suspect clip may be shifted by part of a codec frame, inverted, or sped up
or slowed down. Each hypothesis is a (time-scale, sub-frame offset, polarity)
that is undone before re-encoding; the resulting token sequences become the
candidates of `watermark.detect_many`. The correction is a weighted Bonferroni
over every hypothesis of the plan, tried or not: the first (the clip as it is)
gets weight `primary_weight`, the others share the rest, and a hypothesis' p-value
is multiplied by 1 / its weight. The weights sum to 1, so the family-wise error
stays <= alpha (stopping early only makes the reported p-value larger). Most
suspect clips are not time-shifted or re-timed, so this spends the error budget
where the mark usually is.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from synth.audio import resample
from verify.echo import find_echo, remove_echo
from verify.smoothing import find_box_filter, undo_box_filter
from verify.specialists import SPECIALISTS, UNDO_FIRST

UNDOABLE = ("echo", "smoothing")  # edits a hypothesis can find in a clip and undo (undo_edit)


@dataclass(frozen=True)
class Hypothesis:
    scale: float  # the clip was played `scale` times faster; undone by resampling
    offset: int  # samples of silence prepended (sub-frame alignment)
    polarity: int  # +1 or -1
    encoder: str = "verifier"  # which verifier-side encoder re-tokenises: "verifier" or a specialist
    undo: str | None = None  # an edit found in the clip and undone first: see UNDOABLE

    def apply(self, x: np.ndarray, sample_rate: int) -> np.ndarray:
        y = x if self.scale == 1.0 else resample(x, sample_rate, int(round(sample_rate * self.scale)))
        if self.offset:
            y = np.concatenate([np.zeros(self.offset, np.float32), y])
        return (y * self.polarity).astype(np.float32)

    def to_dict(self) -> dict:
        return {"scale": self.scale, "offset_samples": self.offset, "polarity": self.polarity,
                "encoder": self.encoder, "undo": self.undo}


@dataclass(frozen=True)
class SearchPlan:
    """Scales x offsets x polarities, tried in order of prior likelihood.

    The default is small because every hypothesis costs a factor in the Bonferroni
    correction, and every time-scale one analysis of the clip (offsets of one scale
    share it: `Codec.offset_encoder`). Measured on the shipped codec, codebook-1
    agreement falls from 0.74 to 0.23 under a quarter-frame shift, so four offsets
    (quarter-frame steps) are searched; the scales undo playback-speed changes of
    +-25 % (AudioSeal's speed attack is x1.25). Polarity is not searched by default:
    pass polarities=(1, -1) to add it (it doubles the cost).

    For each edit in `undo`, the clip at scale 1 is also analysed, at every offset, with
    that edit found and undone (`undo_edit`: its parameters are estimated from the audio
    alone; when the clip shows no such edit the family is not tried and counts as p = 1):
    an echo (`verify.echo`) and a moving-average smoothing filter (`verify.smoothing`).

    Scales after the first are screened: on a clip longer than 1.5 x `screen_seconds`,
    each is first tried on the clip's first `screen_seconds` seconds, and the whole clip
    is analysed at that scale only when the screen's best uncorrected p-value is below
    `screen_p`. A screened-out hypothesis counts as p = 1, which can only make the
    reported p-value larger, so the correction stays valid. It saves a third of the
    work on an unmarked 10 s clip; its price: a clip that was re-timed *and* whose mark
    starts after its first `screen_seconds` (a marked clip spliced after unmarked audio)
    is missed. `screen_seconds=None` turns it off.

    For each specialist encoder in `specialists` (verify/specialists.py: one trained on a
    family of heavy edits, e.g. band-limiting filters), the clip at scale 1 is also
    re-tokenised by it at every offset, when the clip shows that family's trace (the
    specialist's gate; otherwise the family counts as p = 1, like an undo family). A
    specialist of `UNDO_FIRST` reads the clip with that edit found and undone.
    """

    scales: tuple[float, ...] = (1.0, 1.25, 0.8)
    offset_fractions: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75)
    polarities: tuple[int, ...] = (1,)
    primary_weight: float = 0.5
    specialists: tuple[str, ...] = ()
    undo: tuple[str, ...] = ("echo", "smoothing")
    screen_seconds: float | None = 5.0
    screen_p: float = 1e-2

    def __post_init__(self) -> None:
        if not 0.0 < self.primary_weight <= 1.0:
            raise ValueError(f"primary_weight must be in (0, 1], got {self.primary_weight}")
        unknown = set(self.undo) - set(UNDOABLE)
        if unknown:
            raise ValueError(f"cannot undo {sorted(unknown)}; choose from {sorted(UNDOABLE)}")
        unknown = set(self.specialists) - set(SPECIALISTS)
        if unknown or len(set(self.specialists)) != len(self.specialists):
            raise ValueError(f"specialists must be distinct names from {list(SPECIALISTS)}, "
                             f"got {list(self.specialists)}")
        if self.primary_weight == 1.0 and self.count() > 1:
            raise ValueError("primary_weight 1 leaves no error budget for the other hypotheses")
        if self.screen_seconds is not None and self.screen_seconds <= 0:
            raise ValueError(f"screen_seconds must be positive or None, got {self.screen_seconds}")
        if not 0.0 < self.screen_p <= 1.0:
            raise ValueError(f"screen_p must be in (0, 1], got {self.screen_p}")

    def hypotheses(self, hop_length: int) -> list[Hypothesis]:
        return [h for stage in self.stages(hop_length) for h in stage]

    def stages(self, hop_length: int) -> Iterator[list[Hypothesis]]:
        """The hypotheses in batches of one analysis each, most likely first: the clip as
        it is alone, then the rest of its scale, each specialist encoder at that scale,
        the clip with each edit of `undo` undone, then one further scale at a time."""
        offsets = [int(round(f * hop_length)) for f in self.offset_fractions]

        def group(scale: float, encoder: str = "verifier", undo: str | None = None) -> list[Hypothesis]:
            return [Hypothesis(scale, o, p, encoder, undo) for p in self.polarities for o in offsets]

        first = group(self.scales[0])
        yield first[:1]
        if len(first) > 1:
            yield first[1:]
        for name in self.specialists:
            yield group(self.scales[0], name, UNDO_FIRST.get(name))
        for edit in self.undo:
            yield group(self.scales[0], undo=edit)
        for scale in self.scales[1:]:
            yield group(scale)

    def screens(self, n_samples: int, sample_rate: int) -> int:
        """Samples of a clip of `n_samples` that screen its further scales (0: none)."""
        if self.screen_seconds is None or n_samples <= 1.5 * self.screen_seconds * sample_rate:
            return 0
        return int(self.screen_seconds * sample_rate)

    def count(self) -> int:
        families = len(self.scales) + len(self.specialists) + len(self.undo)
        return families * len(self.offset_fractions) * len(self.polarities)

    def multiplier(self, first: bool) -> float:
        """1 / weight of the first hypothesis (`first`) or of any other one."""
        n = self.count()
        if n == 1:
            return 1.0
        return 1.0 / self.primary_weight if first else (n - 1) / (1.0 - self.primary_weight)

    @classmethod
    def quick(cls) -> SearchPlan:
        """No search: the clip as it is (one hypothesis)."""
        return cls(scales=(1.0,), offset_fractions=(0.0,), polarities=(1,), primary_weight=1.0,
                   undo=())


def undo_edit(name: str, y: np.ndarray, sample_rate: int, hop_length: int) -> np.ndarray | None:
    """`y` [N] with the edit `name` found and undone, or None when `y` shows no such edit.

    The codec's hop matters to the echo search: audio a codec decoded correlates with
    itself at multiples of it (verify/echo.py).
    """
    if name == "echo":
        found = find_echo(y, sample_rate, hop_length)
        return None if found is None else remove_echo(y, found.delay, found.gain)
    if name == "smoothing":
        width = find_box_filter(y, sample_rate)
        return None if width is None else undo_box_filter(y, width)
    raise ValueError(f"cannot undo {name!r}; choose from {sorted(UNDOABLE)}")
