"""The attacks of `voxseal eval robustness`: stable names, parameters, and the edit each one is.

Tier A is the AudioSeal paper's robustness table (San Roman et al. 2024) with the
parameters of OmniSealBench's audio_attacks_paper.yaml, all at 16 kHz. Tier B
sweeps the strength of the attacks a re-encoded token watermark is most exposed
to. Every edit comes from `synth.edits` (the one place for audio edits).

Names are `<tier>/<attack>-<parameter>`; `select_attacks` filters by name or prefix
(`tierA`, `tierB/mp3`, `tierA/highpass-1500`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from synth import edits

# AudioSeal's published accuracies (10 s clips, at AudioSeal's own detection threshold;
# RESEARCH.md); keyed by our Tier A names.
AUDIOSEAL_ACCURACY: dict[str, float] = {
    "tierA/none": 1.00,
    "tierA/bandpass-500-5000": 1.00,
    "tierA/highpass-1500": 0.61,
    "tierA/lowpass-500": 0.99,
    "tierA/boost-1.1": 1.00,
    "tierA/duck-0.9": 1.00,
    "tierA/echo-0.5s-0.5": 1.00,
    "tierA/pink-0.1": 1.00,
    "tierA/white-0.05": 0.91,
    "tierA/speed-1.25": 0.99,
    "tierA/smooth-40": 0.99,
    "tierA/resample-32k": 1.00,
    "tierA/aac-64k": 1.00,
    "tierA/mp3-32k": 1.00,
}


class EvalError(Exception):
    """A bad evaluation option; the message is one line for the user."""

    exit_code = 2


@dataclass(frozen=True)
class Attack:
    name: str  # stable short name, e.g. "tierB/mp3-16k"
    tier: str  # "A" | "B"
    kind: str  # edit kind: "none", "highpass", "mp3", ...
    params: dict[str, Any] = field(hash=False, compare=False)
    label: str = ""  # for tables
    sweep: str | None = None  # Tier B family ("snr", "mp3", "opus", "stretch", "crop")
    strength: float | None = None  # x value of the sweep plot

    @property
    def edit_id(self) -> str:
        """What the edit does (kind and parameters): equal for equal edits under different names."""
        return self.kind + ":" + ",".join(f"{k}={v!r}" for k, v in sorted(self.params.items()))

    def edit(self) -> edits.Edit:
        return _EDITS[self.kind](**self.params)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "tier": self.tier, "kind": self.kind, "params": dict(self.params),
                "label": self.label, "sweep": self.sweep, "strength": self.strength}


_EDITS: dict[str, Callable[..., edits.Edit]] = {
    "none": lambda: edits.identity(),
    "bandpass": lambda low_hz, high_hz: edits.bandpass(low_hz, high_hz),
    "highpass": lambda cutoff_hz: edits.highpass(cutoff_hz),
    "lowpass": lambda cutoff_hz: edits.lowpass(cutoff_hz),
    "gain": lambda factor: edits.gain(factor),
    "echo": lambda delay_s, volume: edits.echo(delay_s, volume),
    "pink_noise": lambda std, seed: edits.pink_noise_std(std, seed),
    "white_noise": lambda std, seed: edits.white_noise_std(std, seed),
    "white_noise_snr": lambda snr_db, seed: edits.white_noise_snr(snr_db, seed),
    "speed": lambda factor: edits.speed(factor),
    "smooth": lambda window: edits.smooth(window),
    "resample": lambda mid_rate: edits.resample_via(mid_rate),
    "lossy": lambda fmt, bitrate: edits.lossy(fmt, bitrate),
    "time_stretch": lambda factor: edits.time_stretch(factor),
    "crop": lambda fraction=None, seconds=None: edits.crop(fraction=fraction, seconds=seconds),
}


def _a(name: str, kind: str, label: str, **params) -> Attack:
    return Attack(f"tierA/{name}", "A", kind, params, label)


def _b(name: str, kind: str, label: str, sweep: str, strength: float, **params) -> Attack:
    return Attack(f"tierB/{name}", "B", kind, params, label, sweep, strength)


def _build() -> list[Attack]:
    out = [
        _a("none", "none", "none"),
        _a("bandpass-500-5000", "bandpass", "bandpass 500-5000 Hz", low_hz=500.0, high_hz=5000.0),
        _a("highpass-1500", "highpass", "highpass 1500 Hz", cutoff_hz=1500.0),
        _a("lowpass-500", "lowpass", "lowpass 500 Hz", cutoff_hz=500.0),
        _a("boost-1.1", "gain", "boost x1.1", factor=1.1),
        _a("duck-0.9", "gain", "duck x0.9", factor=0.9),
        _a("echo-0.5s-0.5", "echo", "echo 0.5 s, volume 0.5", delay_s=0.5, volume=0.5),
        _a("pink-0.1", "pink_noise", "pink noise std 0.1", std=0.1, seed=0),
        _a("white-0.05", "white_noise", "white noise std 0.05", std=0.05, seed=0),
        _a("speed-1.25", "speed", "speed x1.25 (resampling)", factor=1.25),
        _a("smooth-40", "smooth", "smooth, window 40", window=40),
        _a("resample-32k", "resample", "resample 16k-32k-16k", mid_rate=32_000),
        _a("aac-64k", "lossy", "AAC 64 kbps", fmt="m4a", bitrate=64_000),
        _a("mp3-32k", "lossy", "MP3 32 kbps", fmt="mp3", bitrate=32_000),
    ]
    for db in (40, 30, 20, 10, 5):
        out.append(_b(f"snr-{db}db", "white_noise_snr", f"white noise {db} dB SNR", "snr", db,
                      snr_db=float(db), seed=0))
    for kbps in (8, 16, 24, 32, 40):
        out.append(_b(f"mp3-{kbps}k", "lossy", f"MP3 {kbps} kbps", "mp3", kbps, fmt="mp3",
                      bitrate=kbps * 1000))
    for kbps in (6, 12, 24, 32):
        out.append(_b(f"opus-{kbps}k", "lossy", f"Opus {kbps} kbps", "opus", kbps, fmt="opus",
                      bitrate=kbps * 1000))
    for f in (0.9, 1.1):
        out.append(_b(f"stretch-{f}", "time_stretch", f"time stretch x{f} (pitch kept)", "stretch", f,
                      factor=f))
    out.append(_b("crop-50pct", "crop", "crop to the middle 50 %", "crop", 0.5, fraction=0.5))
    out.append(_b("crop-1s", "crop", "crop to the middle 1 s", "crop", 1.0, seconds=1.0))
    return out


ATTACKS: list[Attack] = _build()
ATTACKS_BY_NAME: dict[str, Attack] = {a.name: a for a in ATTACKS}
SWEEP_UNITS = {"snr": "white-noise SNR (dB)", "mp3": "MP3 bitrate (kbps)", "opus": "Opus bitrate (kbps)",
               "stretch": "time-stretch factor", "crop": "crop (fraction 0.5 / 1 s)"}


def select_attacks(spec: str | None) -> list[Attack]:
    """Attacks whose name equals or starts with one of the comma-separated filters (all when empty)."""
    if spec is None or not spec.strip():
        return list(ATTACKS)
    wanted: list[Attack] = []
    for f in (s.strip() for s in spec.split(",")):
        if not f:
            continue
        hits = [a for a in ATTACKS if a.name == f or a.name.startswith(f)]
        if not hits:
            raise EvalError(f"unknown attack {f!r}; names start with tierA/ or tierB/ "
                            f"(e.g. tierA, tierB/mp3, tierA/highpass-1500); list them with --list-attacks")
        wanted.extend(a for a in hits if a not in wanted)
    return [a for a in ATTACKS if a in wanted]  # table order


def parse_lengths(spec: str) -> list[float]:
    """'1,2,5,10' -> [1.0, 2.0, 5.0, 10.0] (sorted, unique); one-line EvalError when malformed."""
    out: list[float] = []
    for part in spec.split(","):
        part = part.strip()
        try:
            v = float(part)
        except ValueError:
            raise EvalError(f"bad --seconds {spec!r}: {part!r} is not a number (e.g. --seconds 1,2,5,10)") \
                from None
        if not 0.5 <= v <= 60.0 or v != v:
            raise EvalError(f"bad --seconds {spec!r}: each length must be between 0.5 and 60 s")
        if v not in out:
            out.append(v)
    if not out:
        raise EvalError("--seconds needs at least one length")
    return sorted(out)
