"""Training data of the reference TTS: aligned, codec-tokenised corpus utterances and batches.

Every training utterance of the corpus (all voices but the held-out ones) is
used, each with exact phone alignments: flite and festival report phone end
times, and the espeak-ng voices are re-synthesized through libespeak-ng, whose
phoneme events time every phone (see `synth.frontend`). Phone ends are rounded
to codec frames (50 Hz), so durations are whole frames summing to the token
count. The audio is encoded once with the codec; the result is cached in
`<out>.cache.pt`, keyed by the codec checkpoint's sha256 and the corpus'
metadata hash, and reused on resume.
"""
from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from synth.audio import load_audio
from synth.corpus import HELD_OUT_VOICES, VOICES_BY_NAME, read_corpus
from synth.fileio import atomic_open
from synth.frontend import PAU, espeak_alignment, frames_from_alignment, utterance_phones

CACHE_FORMAT = "voxseal-tts-cache-1"


class TTSDataError(Exception):
    exit_code = 4


@dataclass
class Item:
    id: str
    speaker: str
    codes: torch.Tensor  # int16 [K, T]
    phones: torch.Tensor  # int64 [L]
    durs: torch.Tensor  # int64 [L], sums to T


def frame_layout(durs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Durations [L] -> (frame -> phone index [T], frame features [T, 3]).

    Features: fraction of the phone elapsed at the frame centre, log(1 + duration) / 3,
    and 1 on the phone's first frame. Used identically in training and generation.
    """
    durs = durs.to(torch.long)
    t = int(durs.sum())
    idx = torch.repeat_interleave(torch.arange(len(durs)), durs)
    starts = torch.cumsum(durs, 0) - durs
    within = torch.arange(t) - starts[idx]
    d = durs[idx].to(torch.float32)
    feat = torch.stack([(within + 0.5) / d, torch.log1p(d) / 3.0, (within == 0).float()], dim=1)
    return idx, feat


def corpus_fingerprint(corpus_dir: str | os.PathLike) -> str:
    return hashlib.sha256((Path(corpus_dir) / "metadata.jsonl").read_bytes()).hexdigest()


def build_items(corpus_dir: str | os.PathLike, codec, *, split: str = "train",
                speakers: set[str] | None = None, limit: int | None = None,
                progress: Callable[[float], None] | None = None) -> list[Item]:
    """Align and encode the corpus' utterances of `split` (skipping held-out voices)."""
    utts = [u for u in read_corpus(corpus_dir, split) if u.speaker not in HELD_OUT_VOICES]
    if speakers is not None:
        utts = [u for u in utts if u.speaker in speakers]
    if limit is not None:
        utts = utts[:limit]
    if not utts:
        if split != "train":
            return []
        raise TTSDataError(f"corpus {corpus_dir} has no training utterances of a trainable voice")
    items: list[Item] = []
    for i, u in enumerate(utts):
        wav, _ = load_audio(Path(corpus_dir) / u.path, codec.sample_rate)
        voice = VOICES_BY_NAME.get(u.speaker)
        if u.phones:
            al = utterance_phones(u.phones, u.seconds)
        elif voice is not None and voice.engine == "espeak-ng":
            al, _ = espeak_alignment(u.text, voice.args)
        else:
            continue  # no alignment and no way to make one
        codes = codec.encode(torch.from_numpy(wav))
        n = codes.shape[-1]
        ids, dur = frames_from_alignment(al, n, codec.frame_rate)
        keep = dur > 0
        ids, dur = ids[keep], dur[keep]
        if len(ids) < 3:
            continue
        items.append(Item(u.id, u.speaker, codes.to(torch.int16), torch.from_numpy(ids),
                          torch.from_numpy(dur)))
        if progress:
            progress((i + 1) / len(utts))
    if not items and split == "train":
        raise TTSDataError(f"no usable (aligned) training utterances in {corpus_dir}")
    return items


def load_or_build_cache(corpus_dir: str | os.PathLike, codec, cache_path: str | os.PathLike,
                        progress: Callable[[float], None] | None = None) -> tuple[list[Item], list[Item]]:
    """(train items, eval items) of a corpus, from `cache_path` when it matches codec and corpus."""
    key = {"format": CACHE_FORMAT, "codec_sha256": codec.checkpoint_sha256,
           "corpus": corpus_fingerprint(corpus_dir)}
    p = Path(cache_path)
    if p.is_file():
        try:
            blob = torch.load(p, map_location="cpu", weights_only=False)
            if blob.get("key") == key:
                return [Item(**d) for d in blob["items"]], [Item(**d) for d in blob["eval"]]
        except Exception:  # a broken cache is rebuilt
            pass
    items = build_items(corpus_dir, codec, progress=progress)
    speakers = {it.speaker for it in items}
    evals = build_items(corpus_dir, codec, split="eval", speakers=speakers)
    with atomic_open(p, "wb") as fh:
        torch.save({"key": key, "items": [vars(it) for it in items], "eval": [vars(it) for it in evals]}, fh)
    return items, evals


class Batcher:
    """Random (prompt, target) pairs: target = an utterance (cropped to max_frames),
    prompt = a crop of another utterance of the same speaker (its own, when alone)."""

    def __init__(self, items: list[Item], rng: random.Random, *, max_frames: int = 400,
                 prompt_frames: tuple[int, int] = (100, 150)) -> None:
        self.items = items
        self.rng = rng
        self.max_frames = max_frames
        self.prompt_frames = prompt_frames
        self.by_speaker: dict[str, list[int]] = {}
        for i, it in enumerate(items):
            self.by_speaker.setdefault(it.speaker, []).append(i)

    def _prompt(self, i: int, p: int) -> torch.Tensor:
        others = [j for j in self.by_speaker[self.items[i].speaker] if j != i] or [i]
        src = self.items[self.rng.choice(others)].codes
        t = src.shape[-1]
        if t <= p:
            reps = -(-p // t)
            return src.repeat(1, reps)[:, :p].long()
        s = self.rng.randrange(t - p + 1)
        return src[:, s:s + p].long()

    def __call__(self, n: int) -> dict[str, torch.Tensor]:
        picks = [self.rng.randrange(len(self.items)) for _ in range(n)]
        p = self.rng.randint(*self.prompt_frames)
        prompts, crops = [], []
        for i in picks:
            it = self.items[i]
            t = it.codes.shape[-1]
            idx, feat = frame_layout(it.durs)
            a = 0 if t <= self.max_frames else self.rng.randrange(t - self.max_frames + 1)
            b = min(t, a + self.max_frames)
            first, last = int(idx[a]), int(idx[b - 1])
            crops.append((it.codes[:, a:b].long(), it.phones[first:last + 1], idx[a:b] - first, feat[a:b]))
            prompts.append(self._prompt(i, p))
        return collate(prompts, crops)


def collate(prompts: list[torch.Tensor], crops: list[tuple]) -> dict[str, torch.Tensor]:
    """Pad a list of (codes [K, T], phones [L], frame_phone [T], feat [T, 3]) into a batch."""
    from synth.frontend import PHONES

    n = len(crops)
    k = crops[0][0].shape[0]
    t = max(c[0].shape[-1] for c in crops)
    length = max(len(c[1]) for c in crops)
    codes = torch.zeros(n, k, t, dtype=torch.long)
    phones = torch.full((n, length), len(PHONES), dtype=torch.long)
    fphone = torch.zeros(n, t, dtype=torch.long)
    feat = torch.zeros(n, t, 3)
    mask = torch.zeros(n, t, dtype=torch.bool)
    for j, (c, ph, fp, ft) in enumerate(crops):
        tt = c.shape[-1]
        codes[j, :, :tt] = c
        phones[j, :len(ph)] = ph
        fphone[j, :tt] = fp
        feat[j, :tt] = ft
        mask[j, :tt] = True
    return {"prompt": torch.stack(prompts), "codes": codes, "phones": phones, "frame_phone": fphone,
            "feat": feat, "mask": mask}


def duration_batch(items: list[Item], rng: random.Random, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Whole-utterance phone sequences and their durations, padded (duration -1 = padding)."""
    from synth.frontend import PHONES

    picks = [items[rng.randrange(len(items))] for _ in range(n)]
    length = max(len(it.phones) for it in picks)
    phones = torch.full((n, length), len(PHONES), dtype=torch.long)
    durs = torch.full((n, length), -1, dtype=torch.long)
    for j, it in enumerate(picks):
        phones[j, :len(it.phones)] = it.phones
        durs[j, :len(it.durs)] = it.durs
    return phones, durs


def voice_prompt(items: list[Item], speaker: str, frames: int) -> torch.Tensor:
    """A fixed enrolment prompt for a named voice: `frames` codec frames of speech from its
    longest training utterance, starting at the first non-pause phone."""
    mine = sorted((it for it in items if it.speaker == speaker), key=lambda it: (-it.codes.shape[-1], it.id))
    it = mine[0]
    lead = int(it.durs[0]) if int(it.phones[0]) == PAU else 0
    start = max(0, min(lead, it.codes.shape[-1] - frames))
    return it.codes[:, start:start + frames].clone()


def speaker_ids(items: list[Item]) -> list[str]:
    return sorted({it.speaker for it in items})
