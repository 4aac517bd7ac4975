"""Alignment search: the hypotheses the verifier tries before detecting.

A suspect clip may be shifted by part of a codec frame, inverted, or sped up
or slowed down. Each hypothesis is a (time-scale, sub-frame offset, polarity)
that is undone before re-encoding; the resulting token sequences become the
candidates of `watermark.detect_many`. The correction is a weighted Bonferroni
and a hypothesis' p-value is multiplied by 1 / its weight (`SearchPlan.weights`).

Gated families (a specialist encoder, an edit found and undone) are counted only on
clips that open their gate, and take a large share of the budget when they do. This
keeps the test exact: the weights are a function of the audio alone, never of the
key, and given the audio every hypothesis' p-value is exact over the key's
pseudo-random colours, so the weights of the hypotheses counted for a clip summing
to 1 bounds the family-wise error by alpha on every clip. Everything else is
counted on every clip, tried or not (a screened-out scale counts as p = 1, and
stopping early only makes the reported p-value larger). A clip that opens no gate
spends half its budget on the clip as it is, where the mark usually is; a clip
that opens one (a heavy filter, a noise floor, a moving average: the clip as it is
is then rarely readable) spends most of it on the families that undo what it shows.
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
    alone; when the clip shows no such edit the family is neither tried nor counted):
    an echo (`verify.echo`) and a moving-average smoothing filter (`verify.smoothing`).

    Scales after the first are screened: on a clip longer than 1.5 x `screen_seconds`,
    each is first tried on the clip's first `screen_seconds` seconds, and the whole clip
    is analysed at that scale only when the screen's best uncorrected p-value is below
    `screen_p`. A screened-out hypothesis counts as p = 1, which can only make the
    reported p-value larger, so the correction stays valid. The screens were half the
    work on an unmarked 10 s clip at 5 s; at 3 s, 0.19 -> 0.16 s (benchmarks/verify.py).
    3 s is plenty for a sped-up marked clip: AudioSeal's x1.25 on the first 10 report
    clips gives screen p-values of 1e-9 to 1e-27 at 3 s (1e-13 to 1e-43 at 5 s;
    benchmarks/results/verify-screen.txt). Its price: a clip that was re-timed *and*
    whose mark starts after its first `screen_seconds` (a marked clip spliced after
    unmarked audio) is missed. `screen_seconds=None` turns it off.

    For each specialist encoder in `specialists` (verify/specialists.py: one trained on a
    family of heavy edits, e.g. band-limiting filters), the clip at scale 1 is also
    re-tokenised by it at every offset, when the clip shows that family's trace (the
    specialist's gate; otherwise the family is neither tried nor counted, like an undo
    family). A
    specialist of `UNDO_FIRST` reads the clip with that edit found and undone.
    """

    scales: tuple[float, ...] = (1.0, 1.25, 0.8)
    offset_fractions: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75)
    polarities: tuple[int, ...] = (1,)
    primary_weight: float = 0.5  # the clip as it is, on a clip that opens no gate
    gated_primary_weight: float = 0.1  # ... on a clip that opens one
    gated_share: float = 0.6  # shared by the hypotheses of the open gated families
    specialists: tuple[str, ...] = ()
    undo: tuple[str, ...] = ("echo", "smoothing")
    screen_seconds: float | None = 3.0
    screen_p: float = 1e-2

    def __post_init__(self) -> None:
        if not 0.0 < self.primary_weight <= 1.0:
            raise ValueError(f"primary_weight must be in (0, 1], got {self.primary_weight}")
        if not (0.0 < self.gated_primary_weight and 0.0 < self.gated_share
                and self.gated_primary_weight + self.gated_share < 1.0):
            raise ValueError("gated_primary_weight and gated_share must be positive with a sum below 1, "
                             f"got {self.gated_primary_weight} and {self.gated_share}")
        unknown = set(self.undo) - set(UNDOABLE)
        if unknown:
            raise ValueError(f"cannot undo {sorted(unknown)}; choose from {sorted(UNDOABLE)}")
        unknown = set(self.specialists) - set(SPECIALISTS)
        if unknown or len(set(self.specialists)) != len(self.specialists):
            raise ValueError(f"specialists must be distinct names from {list(SPECIALISTS)}, "
                             f"got {list(self.specialists)}")
        if self.primary_weight == 1.0 and self.ungated_count() > 1:
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
        """Every hypothesis of the plan (the most a clip can have counted)."""
        families = len(self.scales) + len(self.specialists) + len(self.undo)
        return families * len(self.offset_fractions) * len(self.polarities)

    def ungated_count(self) -> int:
        """The hypotheses counted on every clip: the scales'."""
        return len(self.scales) * len(self.offset_fractions) * len(self.polarities)

    @staticmethod
    def gated(h: Hypothesis) -> bool:
        """Whether `h` belongs to a family counted only on clips that open its gate."""
        return h.encoder != "verifier" or h.undo is not None

    def weights(self, open_gated: int) -> tuple[float, float, float]:
        """(primary, each other ungated, each gated) hypothesis' weight on a clip whose
        open gated families hold `open_gated` hypotheses; the counted weights sum to 1."""
        if not isinstance(open_gated, int) or open_gated < 0:
            raise ValueError(f"open_gated must be an int >= 0, got {open_gated!r}")
        rest = self.ungated_count() - 1
        if open_gated == 0:
            primary = self.primary_weight if rest else 1.0
            return primary, (1.0 - primary) / rest if rest else 0.0, 0.0
        gated = self.gated_share / open_gated
        if not rest:
            return 1.0 - self.gated_share, 0.0, gated
        primary = self.gated_primary_weight
        return primary, (1.0 - primary - self.gated_share) / rest, gated

    def multiplier(self, first: bool, gated: bool = False, open_gated: int = 0) -> float:
        """1 / weight of the first hypothesis (`first`), of a `gated` one or of any other
        one, on a clip whose open gated families hold `open_gated` hypotheses."""
        if gated and open_gated == 0:
            raise ValueError("a gated hypothesis is counted only on a clip with an open gate")
        primary, other, each_gated = self.weights(open_gated)
        return 1.0 / (primary if first else each_gated if gated else other)

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
