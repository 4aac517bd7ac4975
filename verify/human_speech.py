"""Real human speech for false-positive measurements: the Asterisk PBX voice prompts.

Debian ships Asterisk's core prompts, recorded by professional voice talent and
released under CC-BY-SA 3.0, as 16 kHz G.722 files (`scripts/setup.sh` installs
`asterisk-core-sounds-{en,es,fr,it,ru}-g722`):

    /usr/share/asterisk/sounds/<lang>_<REGION>_<f|m>_<Name>/[subdir/]<prompt>.g722

Five recorded voices (en_US_f_Allison, es_MX_f_Allison, fr_CA_f_June, it_IT_m_Carlo,
ru_RU_f_IvrvoiceRU: four people, one of them male), ~25 minutes each. None of it
went near VoxSeal's training. Prompts are short (a word to a few sentences), so a
clip is a speaker's prompts, in a seeded random order, joined with short pauses
and cut to length; no prompt is used twice in one set of clips. Tones, beeps and
the silence files are left out.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_ROOT = Path("/usr/share/asterisk/sounds")
SR = 16_000
PAUSE_SECONDS = 0.25
_SPEAKER_DIR = re.compile(r"^[a-z]{2}_[A-Z]{2}_[fm]_\w+$")
_NOT_SPEECH = re.compile(r"(^beep|tone$)")  # beep, beeperr, ascending-2tone, ...
INSTALL_HINT = ("install the Asterisk voice prompts: sudo apt-get install asterisk-core-sounds-en-g722 "
                "asterisk-core-sounds-es-g722 asterisk-core-sounds-fr-g722 asterisk-core-sounds-it-g722 "
                "asterisk-core-sounds-ru-g722 (scripts/setup.sh does)")


class HumanSpeechError(Exception):
    """No (or not enough) human speech is installed; the message says what to do."""

    exit_code = 2


@dataclass
class HumanClip:
    id: str
    speaker: str  # the prompt directory, e.g. "fr_CA_f_June"
    sources: list[str]  # prompt files, relative to the speaker directory
    wav: np.ndarray = field(repr=False)

    @property
    def seconds(self) -> float:
        return len(self.wav) / SR

    def to_dict(self) -> dict:
        return {"id": self.id, "speaker": self.speaker, "sources": self.sources,
                "seconds": round(self.seconds, 3)}


def speakers(root: str | Path | None = None) -> dict[str, list[Path]]:
    """speaker directory name -> its speech prompt files (sorted); {} when none installed.

    Only real directories count: Debian adds symlinks (`en`, `en_US`) to the same voices.
    `root` None: DEFAULT_ROOT.
    """
    root = Path(root if root is not None else DEFAULT_ROOT)
    if not root.is_dir():
        return {}
    out: dict[str, list[Path]] = {}
    for d in sorted(root.iterdir()):
        if d.is_symlink() or not d.is_dir() or not _SPEAKER_DIR.match(d.name):
            continue
        files = [f for f in sorted(d.rglob("*.g722"))
                 if "silence" not in f.relative_to(d).parts and not _NOT_SPEECH.search(f.stem)]
        if files:
            out[d.name] = files
    return out


def _trim(x: np.ndarray, floor: float = 1e-3) -> np.ndarray:
    """Drop leading and trailing digital near-silence (prompts are padded unevenly)."""
    loud = np.flatnonzero(np.abs(x) > floor)
    return x[loud[0]: loud[-1] + 1] if len(loud) else x[:0]


def build_clips(n: int, seconds: float, *, seed: int = 0, root: str | Path | None = None,
                advance=lambda k=1: None) -> list[HumanClip]:
    """`n` clips of exactly `seconds`, the speakers in turn.

    Raises HumanSpeechError when no prompts are installed or they cannot fill `n` clips.
    """
    from synth.audio import AudioError, load_audio

    if n < 1 or seconds <= 0:
        raise HumanSpeechError("ask for at least one clip of a positive length")
    root = Path(root if root is not None else DEFAULT_ROOT)
    voices = speakers(root)
    if not voices:
        raise HumanSpeechError(f"no human speech found under {root}; {INSTALL_HINT}")
    names = sorted(voices)
    rng = random.Random(seed)
    queues = {s: rng.sample(voices[s], len(voices[s])) for s in names}
    target = int(round(seconds * SR))
    pause = np.zeros(int(PAUSE_SECONDS * SR), np.float32)
    clips: list[HumanClip] = []
    exhausted: set[str] = set()
    turn = 0
    while len(clips) < n:
        if len(exhausted) == len(names):
            raise HumanSpeechError(
                f"the installed prompts fill only {len(clips)} clips of {seconds:g} s; ask for fewer "
                f"or shorter clips")
        speaker = names[turn % len(names)]
        turn += 1
        if speaker in exhausted:
            continue
        parts, used, have = [], [], 0
        root_dir = Path(root) / speaker
        while have < target and queues[speaker]:
            f = queues[speaker].pop()
            try:
                x = _trim(load_audio(f, SR)[0])
            except AudioError:  # the packages hold a few empty prompts
                continue
            if len(x) < SR // 10:
                continue
            parts += [x, pause]
            used.append(str(f.relative_to(root_dir)))
            have += len(x) + len(pause)
        if have < target:
            exhausted.add(speaker)
            continue
        wav = np.concatenate(parts)[:target].astype(np.float32)
        clips.append(HumanClip(f"human-{len(clips):04d}", speaker, used, wav))
        advance(1)
    return clips
