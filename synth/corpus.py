"""Multi-speaker English speech from Debian's free synthesizers.

Voices come from espeak-ng (several variants), flite and festival (voices in
Debian main only; mbrola and pico are non-free). Each utterance is written as
16 kHz mono WAV with a metadata line: text, phonemes (espeak-ng IPA), phone end
times where the synthesizer reports them (flite, festival), speaker id, split.

Held out for evaluation: every sentence the hash split marks (synth.textgen)
and every utterance of the voices in HELD_OUT_VOICES.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from synth.audio import load_audio, save_audio
from synth.fileio import atomic_write_text
from synth.textgen import sentences

SAMPLE_RATE = 16_000


class CorpusError(Exception):
    exit_code = 4


@dataclass(frozen=True)
class Voice:
    name: str
    engine: str  # "espeak-ng" | "flite" | "festival"
    args: tuple[str, ...] = field(default_factory=tuple)


VOICES: tuple[Voice, ...] = (
    Voice("espeak-us-m3", "espeak-ng", ("-v", "en-us+m3", "-s", "160", "-p", "45")),
    Voice("espeak-us-f2", "espeak-ng", ("-v", "en-us+f2", "-s", "165", "-p", "60")),
    Voice("espeak-gb-m1", "espeak-ng", ("-v", "en-gb+m1", "-s", "155", "-p", "40")),
    Voice("espeak-gb-f4", "espeak-ng", ("-v", "en-gb+f4", "-s", "170", "-p", "55")),
    Voice("espeak-rp-m7", "espeak-ng", ("-v", "en-gb-x-rp+m7", "-s", "150", "-p", "35")),
    Voice("flite-awb", "flite", ("awb",)),
    Voice("flite-slt", "flite", ("slt",)),
    Voice("flite-kal16", "flite", ("kal16",)),
    Voice("flite-rms", "flite", ("rms",)),
    Voice("festival-kal", "festival", ("voice_kal_diphone",)),
    Voice("festival-ked", "festival", ("voice_ked_diphone",)),
    Voice("festival-slt-hts", "festival", ("voice_cmu_us_slt_arctic_hts",)),
)
HELD_OUT_VOICES = frozenset({"flite-rms"})
VOICES_BY_NAME = {v.name: v for v in VOICES}


@dataclass
class Utterance:
    id: str
    path: str
    text: str
    speaker: str
    split: str  # "train" | "eval"
    seconds: float
    phonemes: str
    phones: list[tuple[str, float]] | None  # (phone, end time in s) where the engine reports it


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60, **kw)


def phonemize(text: str) -> str:
    """IPA phonemes of `text` from espeak-ng (US English)."""
    return _run(["espeak-ng", "-q", "--ipa=3", "-v", "en-us", text]).stdout.strip()


def _synth_espeak(voice: Voice, text: str, out: Path) -> list | None:
    _run(["espeak-ng", *voice.args, "-w", str(out), text])
    return None


def _synth_flite(voice: Voice, text: str, out: Path) -> list | None:
    res = _run(["flite", "-voice", voice.args[0], "-t", text, "-o", str(out), "-psdur"])
    phones = []
    for tok in res.stdout.split():
        name, _, end = tok.rpartition(":")
        try:
            phones.append((name, float(end)))
        except ValueError:
            continue
    return phones or None


def _synth_festival(voice: Voice, text: str, out: Path) -> list | None:
    quoted = text.replace("\\", " ").replace('"', " ")
    script = (
        f'({voice.args[0]})\n'
        f'(set! utt (SayText "{quoted}"))\n'
        f'(utt.save.wave utt "{out}" \'riff)\n'
        '(mapcar (lambda (s) (format t "PH %s %f\\n" (item.name s) (item.feat s "end")))'
        " (utt.relation.items utt 'Segment))\n"
    )
    res = _run(["festival", "--pipe"], input=script, env={**os.environ, "AUDIODEV": "null"})
    phones = []
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "PH":
            phones.append((parts[1], float(parts[2])))
    return phones or None


_ENGINES: dict[str, Callable[[Voice, str, Path], list | None]] = {
    "espeak-ng": _synth_espeak, "flite": _synth_flite, "festival": _synth_festival,
}


def check_engines() -> None:
    missing = [e for e in _ENGINES if shutil.which(e) is None]
    if missing:
        raise CorpusError(f"speech synthesizers not installed: {', '.join(missing)}; "
                          f"run scripts/setup.sh")


def synthesize(voice: Voice, text: str) -> tuple[np.ndarray, list | None]:
    """Speak `text` with `voice`; returns (16 kHz mono float32 [N], phone end times or None)."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        phones = _ENGINES[voice.engine](voice, text, raw)
        wav, _ = load_audio(raw, SAMPLE_RATE)
    return wav, phones


def build_corpus(out_dir: str | os.PathLike, minutes: float, seed: int = 0,
                 eval_fraction: float = 0.1, progress: Callable[[float], None] | None = None) -> dict:
    """Synthesize about `minutes` of speech into `out_dir` (deterministic for `seed`).

    Writes `wavs/*.wav`, `metadata.jsonl` (one Utterance per line) and
    `corpus.json` (summary). Returns the summary.
    """
    check_engines()
    if minutes <= 0:
        raise CorpusError("--minutes must be positive")
    out = Path(out_dir)
    (out / "wavs").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    budget = minutes * 60.0
    eval_budget = budget * eval_fraction
    train_voices = [v for v in VOICES if v.name not in HELD_OUT_VOICES]
    # Enough sentences for ~3 s utterances; drawn once so the list is fixed for a seed.
    n_train = int(budget / 2.0) + 20
    train_texts = sentences(seed, n_train, held_out=False)
    eval_texts = sentences(seed + 1, max(20, int(eval_budget / 2.0) + 20), held_out=True)
    items: list[Utterance] = []
    total = {"train": 0.0, "eval": 0.0}
    plan = [("train", t) for t in train_texts] + [("eval", t) for t in eval_texts]
    for i, (split, text) in enumerate(plan):
        limit = budget - eval_budget if split == "train" else eval_budget
        if total[split] >= limit:
            continue
        if split == "train":
            voice = train_voices[rng.randrange(len(train_voices))]
        else:  # eval mixes seen voices and the held-out ones
            voice = VOICES[rng.randrange(len(VOICES))] if i % 2 else VOICES_BY_NAME[
                sorted(HELD_OUT_VOICES)[i % len(HELD_OUT_VOICES)]]
        wav, phones = synthesize(voice, text)
        uid = f"{split}-{len(items):05d}-{voice.name}"
        rel = f"wavs/{uid}.wav"
        save_audio(out / rel, wav, SAMPLE_RATE)
        seconds = len(wav) / SAMPLE_RATE
        total[split] += seconds
        items.append(Utterance(uid, rel, text, voice.name, split, round(seconds, 3),
                               phonemize(text), phones))
        if progress:
            progress(min(1.0, (total["train"] + total["eval"]) / budget))
    lines = "".join(json.dumps(asdict(u)) + "\n" for u in items)
    atomic_write_text(out / "metadata.jsonl", lines)
    summary = {
        "seed": seed, "sample_rate": SAMPLE_RATE, "utterances": len(items),
        "train_minutes": round(total["train"] / 60, 2), "eval_minutes": round(total["eval"] / 60, 2),
        "speakers": sorted({u.speaker for u in items}),
        "held_out_voices": sorted(HELD_OUT_VOICES),
    }
    atomic_write_text(out / "corpus.json", json.dumps(summary, indent=2) + "\n")
    return summary


def read_corpus(corpus_dir: str | os.PathLike, split: str | None = None) -> list[Utterance]:
    """The utterances of a built corpus (optionally one split)."""
    meta = Path(corpus_dir) / "metadata.jsonl"
    if not meta.is_file():
        raise CorpusError(f"not a corpus (no metadata.jsonl): {corpus_dir}; build one with "
                          f"`voxseal corpus build DIR`")
    out = []
    for line in meta.read_text().splitlines():
        u = Utterance(**json.loads(line))
        if split is None or u.split == split:
            out.append(u)
    return out
