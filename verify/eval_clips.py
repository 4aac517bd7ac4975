"""The clips of `voxseal eval robustness`: watermarked TTS speech and the controls, cached on disk.

Kinds:
  watermarked      the reference TTS with the watermark (fresh random payload per clip)
  no-watermark     the same text, voice and seed generated without the watermark
  codec-roundtrip  real human speech (the Asterisk voice prompts, verify.human_speech)
                   encoded and decoded with the generation codec; where those are not
                   installed, held-out synthesizer recordings (mostly the held-out voice
                   flite-rms) stand in for it
  synthesizer      other synthesizers' held-out recordings as they are

Each clip covers at least `CLIP_SECONDS` (or the longest length asked, if longer), so
the same cached clips serve any run with lengths up to that. A clip's audio is cached
as DIR/clips/<id>-<recipe hash>.wav (float32); the recipe (TTS checkpoint hash, voice,
seed, payload, key, texts or corpus utterances, codec) decides whether a cached file
is still valid.
"""
from __future__ import annotations

import hashlib
import json
import random
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

SR = 16_000
CLIP_SECONDS = 10.0  # clips are made at least this long so reruns with other lengths reuse them
WORDS_PER_SECOND = 2.6  # conservative speaking rate used to pick how many sentences to speak
MAX_EXTENSIONS = 4  # sentences added when a generated clip came out shorter than needed
TEXT_SEED = 60_606  # held-out sentences for the TTS clips (offset by --seed)
SPEECH_TEXT_SEED = 70_707  # held-out sentences for synthesizer speech made on the fly
HUMAN_STANDIN_VOICE = "flite-rms"  # held out from TTS training: the closest to "unseen speech"

KINDS = ("watermarked", "no-watermark", "codec-roundtrip", "synthesizer")
CONTROL_KINDS = KINDS[1:]


@dataclass
class Clip:
    id: str
    kind: str
    voice: str | None
    seed: int | None
    payload: int | None  # embedded payload (watermarked clips only)
    text: str
    source: list[str]  # corpus utterance ids, or "synth:<voice>" for speech made on the fly
    seconds: float
    recipe: str  # hash of everything the audio depends on
    wav: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.float32))

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("wav")
        d["payload"] = None if self.payload is None else f"{self.payload:08x}"
        return d


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _rendering(codec) -> dict:
    """How the codec renders codes where it is not the plain decode (`codec info`'s
    cell_margin): part of the recipe of every clip it decodes. Only a margin above 0
    enters, so caches made before codecs had one stay valid."""
    margin = codec.info().get("cell_margin") if hasattr(codec, "info") else None
    return {"cell_margin": margin} if margin else {}


def eval_key():
    """The evaluation's own fixed watermark key (the evaluation is about robustness, not secrecy)."""
    from watermark.keys import WatermarkKey

    return WatermarkKey.from_bytes(hashlib.sha256(b"voxseal/eval/robustness/key/v1").digest())


class ClipCache:
    """DIR/clips/<id>-<recipe>.wav plus DIR/clips/index.json (id -> recipe, text, source)."""

    def __init__(self, out_dir: Path) -> None:
        self.dir = Path(out_dir) / "clips"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.index_path = self.dir / "index.json"
        try:
            self.index = json.loads(self.index_path.read_text())
        except (OSError, ValueError):
            self.index = {}
        self.hits = self.misses = 0

    def _path(self, clip_id: str, recipe: str) -> Path:
        return self.dir / f"{clip_id}-{recipe}.wav"

    def get(self, clip_id: str, recipe: str) -> tuple[np.ndarray, dict] | None:
        import soundfile as sf

        entry = self.index.get(clip_id)
        path = self._path(clip_id, recipe)
        if not entry or entry.get("recipe") != recipe or not path.is_file():
            return None
        try:
            wav, sr = sf.read(path, dtype="float32")
        except Exception:
            return None
        if sr != SR:
            return None
        self.hits += 1
        return wav, entry

    def put(self, clip_id: str, recipe: str, wav: np.ndarray, meta: dict) -> None:
        import soundfile as sf

        from synth.fileio import atomic_write_text

        old = self.index.get(clip_id)
        if old and old.get("recipe") != recipe:
            self._path(clip_id, old["recipe"]).unlink(missing_ok=True)
        path = self._path(clip_id, recipe)
        tmp = path.with_suffix(".partial.wav")
        sf.write(tmp, np.asarray(wav, np.float32), SR, subtype="FLOAT")
        tmp.replace(path)
        self.index[clip_id] = {"recipe": recipe, **meta}
        atomic_write_text(self.index_path, json.dumps(self.index, indent=1, sort_keys=True) + "\n")
        self.misses += 1


class TextSource:
    """Held-out sentences, handed out in a fixed order."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._pool: list[str] = []
        self._next = 0

    def take(self) -> str:
        from synth.textgen import sentences

        if self._next >= len(self._pool):
            self._pool = sentences(self.seed, max(64, 2 * len(self._pool)), held_out=True)
        s = self._pool[self._next]
        self._next += 1
        return s

    def take_for(self, seconds: float, min_sentences: int = 2) -> list[str]:
        out: list[str] = []
        while len(out) < min_sentences or sum(len(s.split()) for s in out) < WORDS_PER_SECOND * seconds:
            out.append(self.take())
        return out


def build_tts_clips(tts, n: int, need_seconds: float, cache: ClipCache, *, seed: int = 0,
                    advance: Callable[[int], None] = lambda n=1: None,
                    delta: float | None = None, top_p: float | None = None) -> list[Clip]:
    """`n` watermarked clips and their `n` no-watermark twins (same text, voice and seed).

    `delta` replaces the product's green-list bias (evaluation of the strength trade-off)
    and `top_p` the TTS sampler's nucleus; each is part of a clip's recipe, so cached clips
    made with other settings are not reused.
    """
    from synth.scheme import scheme_for
    from watermark.processor import WatermarkLogitsProcessor

    key = eval_key()
    scheme = scheme_for(tts.codec).with_strength(delta=delta)
    # Only a given nucleus enters the recipe and the call, so caches made without one stay valid.
    sampling = {} if top_p is None else {"sampler": replace(tts.sampler, top_p=top_p)}
    voices = sorted(tts.voices)
    if not voices:
        from synth.tts import TTSError

        raise TTSError("the TTS checkpoint has no named voices to evaluate with")
    texts = TextSource(TEXT_SEED + seed)
    target = max(CLIP_SECONDS, need_seconds)
    marked: list[Clip] = []
    plain: list[Clip] = []
    for i in range(n):
        voice = voices[i % len(voices)]
        clip_seed = seed * 100_003 + i
        payload = random.Random(f"voxseal-eval-payload-{seed}-{i}").getrandbits(32)
        first = texts.take_for(target * 1.15)
        recipe_base = {"tts": tts.checkpoint_sha256, "codec": getattr(tts.codec, "checkpoint_sha256", None),
                       "voice": voice, "seed": clip_seed, "payload": payload, "key": key.key_id,
                       "scheme": scheme.to_dict(), "text": first, "target": target, "v": 1,
                       **({} if top_p is None else {"top_p": top_p}), **_rendering(tts.codec)}
        wm_id, nw_id = f"wm-{i:03d}", f"nowm-{i:03d}"
        r_wm = _hash({**recipe_base, "watermark": True})
        r_nw = _hash({**recipe_base, "watermark": False})
        got_wm, got_nw = cache.get(wm_id, r_wm), cache.get(nw_id, r_nw)
        if got_wm is None or got_nw is None:
            def processor(payload=payload):
                return WatermarkLogitsProcessor(key, scheme.config, payload, scheme.cluster_map,
                                                scheme.codebook)

            sents = list(first)
            # More text, if needed, from a source of this clip's own so other clips' texts stay put.
            more = TextSource(TEXT_SEED + seed + 7919 * (i + 1))
            for _ in range(MAX_EXTENSIONS + 1):
                text = " ".join(sents)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    a = tts.generate(text, voice=voice, seed=clip_seed, processor_factory=processor,
                                     **sampling).wav
                    b = tts.generate(text, voice=voice, seed=clip_seed, processor_factory=None,
                                     **sampling).wav
                if min(len(a), len(b)) >= target * SR:
                    break
                sents.append(more.take())
            meta = {"text": text, "voice": voice, "seed": clip_seed, "source": ["tts"]}
            cache.put(wm_id, r_wm, a, {**meta, "payload": payload})
            cache.put(nw_id, r_nw, b, meta)
            got_wm, got_nw = (a, cache.index[wm_id]), (b, cache.index[nw_id])
        for cid, kind, got, rec, pl in ((wm_id, "watermarked", got_wm, r_wm, payload),
                                        (nw_id, "no-watermark", got_nw, r_nw, None)):
            wav, meta = got
            clip = Clip(cid, kind, voice, clip_seed, pl, meta["text"], ["tts"], round(len(wav) / SR, 3), rec,
                        np.asarray(wav, np.float32))
            (marked if kind == "watermarked" else plain).append(clip)
        advance(2)
    return marked + plain


class SpeechSource:
    """Held-out synthesizer speech per voice: corpus eval utterances first, then made on the fly."""

    def __init__(self, corpus_dir: str | Path | None, seed: int = 0) -> None:
        from synth.corpus import CorpusError, read_corpus

        self.by_voice: dict[str, list] = {}
        self.corpus_dir = Path(corpus_dir) if corpus_dir else None
        if self.corpus_dir is not None:
            try:
                for u in read_corpus(self.corpus_dir, "eval"):
                    self.by_voice.setdefault(u.speaker, []).append(u)
            except CorpusError:
                self.by_voice = {}
        self.used: dict[str, int] = {}
        self.texts = TextSource(SPEECH_TEXT_SEED + seed)

    def voices(self) -> list[str]:
        from synth.corpus import VOICES

        return [v.name for v in VOICES]

    def plan(self, voice: str, seconds: float) -> list[tuple[str, str, str | None]]:
        """(source id, text, corpus path or None) pieces adding up to about `seconds`."""
        pieces: list[tuple[str, str, str | None]] = []
        total = 0.0
        utts = self.by_voice.get(voice, [])
        while total < seconds:
            k = self.used.get(voice, 0)
            if k < len(utts):
                u = utts[k]
                self.used[voice] = k + 1
                pieces.append((u.id, u.text, str(self.corpus_dir / u.path)))
                total += u.seconds
            else:
                text = self.texts.take()
                pieces.append((f"synth:{voice}", text, None))
                total += len(text.split()) / WORDS_PER_SECOND * 1.2
        return pieces

    @staticmethod
    def render(voice: str, pieces: list[tuple[str, str, str | None]], seconds: float) -> np.ndarray:
        from synth.audio import load_audio
        from synth.corpus import VOICES_BY_NAME, synthesize

        wavs = []
        for _sid, text, path in pieces:
            if path is not None:
                wavs.append(load_audio(path, SR)[0])
            else:
                wavs.append(synthesize(VOICES_BY_NAME[voice], text)[0])
        wav = np.concatenate(wavs).astype(np.float32)
        extra: list[np.ndarray] = []
        while len(wav) + sum(map(len, extra)) < seconds * SR:  # estimate fell short: speak on
            from synth.textgen import sentences

            text = sentences(len(extra) + 1, 1, held_out=True)[0]
            extra.append(synthesize(VOICES_BY_NAME[voice], text)[0])
        return np.concatenate([wav, *extra]).astype(np.float32) if extra else wav


def build_speech_clips(n: int, need_seconds: float, cache: ClipCache, codec, corpus_dir, *, seed: int = 0,
                       advance: Callable[[int], None] = lambda n=1: None) -> list[Clip]:
    """`n` codec-roundtrip clips (human speech when installed, else half of them the held-out
    voice) and `n` synthesizer clips."""
    import torch

    from verify.human_speech import HumanSpeechError, build_clips

    src = SpeechSource(corpus_dir, seed)
    target = max(CLIP_SECONDS, need_seconds)
    try:
        human = {f"rt-{i:03d}": c for i, c in enumerate(build_clips(n, target, seed=seed))}
    except HumanSpeechError:
        human = {}
    others = [v for v in src.voices() if v != HUMAN_STANDIN_VOICE]
    out: list[Clip] = []
    codec_id = getattr(codec, "checkpoint_sha256", None)
    jobs: list[tuple[str, str, str]] = []
    for i in range(n):
        cid = f"rt-{i:03d}"
        jobs.append((cid, "codec-roundtrip", human[cid].speaker if cid in human else
                     HUMAN_STANDIN_VOICE if i % 2 == 0 else others[(i // 2) % len(others)]))
    for i in range(n):
        jobs.append((f"syn-{i:03d}", "synthesizer", others[(i + n // 2) % len(others)]))
    for cid, kind, voice in jobs:
        if cid in human:
            pieces = [(f"human:{voice}/{s}", "") for s in human[cid].sources]
        else:
            pieces = src.plan(voice, target)
        recipe = _hash({"kind": kind, "voice": voice, "pieces": [(p[0], p[1]) for p in pieces],
                        "codec": codec_id if kind == "codec-roundtrip" else None, "target": target, "v": 1,
                        **(_rendering(codec) if kind == "codec-roundtrip" else {})})
        got = cache.get(cid, recipe)
        if got is None:
            wav = human[cid].wav if cid in human else src.render(voice, pieces, target)
            if kind == "codec-roundtrip":
                with torch.inference_mode():
                    wav = codec.decode(codec.encode(torch.from_numpy(wav))).numpy().astype(np.float32)
            text = " ".join(p[1] for p in pieces).strip()
            cache.put(cid, recipe, wav, {"text": text, "voice": voice, "source": [p[0] for p in pieces]})
            got = (wav, cache.index[cid])
        wav, meta = got
        out.append(Clip(cid, kind, voice, None, None, meta["text"], list(meta["source"]),
                        round(len(wav) / SR, 3), recipe, np.asarray(wav, np.float32)))
        advance(1)
    return out
