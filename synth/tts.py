"""The reference TTS: text (+ a named voice or an enrolment clip) -> codec tokens -> audio.

    tts = load_tts()                                    # synth/assets/tts.pt
    res = tts.generate("Hello there.", voice="flite-slt", seed=1,
                       processor_factory=lambda: WatermarkLogitsProcessor(key, cfg, payload))
    res.wav, res.codes, res.sample_rate, res.entropy_per_step, res.seconds_taken

Pipeline per sentence: normalise and chunk the text (`synth.frontend`), G2P
with espeak-ng (in the accent a named espeak-ng voice was trained with, else
US English), durations from the duration predictor (times the voice's rate
factor), then the AR model samples codebook 1 frame by frame with a KV cache,
the NAR model fills codebooks 2..K greedily, and the codec decodes. Sentences
are generated in turn and their tokens and audio concatenated; each starts and
ends with a predicted pause, so the joins fall in silence.

Sampler chain of a codebook-1 step (the watermark's `sample_next`, the one
sampler of the project):

    logits = AR(history)                                # model distribution
    scores = processor(clip_history, logits)            # watermark bias (if any)
    token  = sample_next(scores, clip_history, temperature, top_k, top_p, RAS)

A `WatermarkLogitsProcessor` is not called as such: its bias rows are folded
into the AR head's bias (`watermark.head.HeadBias`, the same logits without
extra tensor ops per step); any other processor is called as above.

The processor sees the clip's whole codebook-1 history, across sentences, so
its context at a sentence's first frame is the previous sentence's last token,
as a detector reading the concatenated clip will see it. One processor is made
per clip (`processor_factory()` is called once per `generate`), so a clip's
payload is the same across its sentences. Draws come from one
`torch.Generator` seeded with `seed`: same text, voice, seed and processor give
the same tokens. `entropy_per_step` is the mean entropy (nats) of the model's
temperature-scaled codebook-1 distribution before the watermark bias and
filtering, the quantity the watermark's strength depends on.
"""
from __future__ import annotations

import hashlib
import io
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from synth.frontend import PAU, PHONE_ID, PHONES, g2p, normalize_text, split_sentences
from synth.tts_data import frame_layout
from synth.tts_model import TTSConfig, TTSModel

DEFAULT_CHECKPOINT = Path(__file__).parent / "assets" / "tts.pt"
PROMPT_MIN_S = 3.0
PROMPT_MAX_S = 10.0
PROMPT_FRAMES = 150  # the model was trained on 2-3 s prompts; a clip's first 3 s of speech is used
PROMPT_RMS = 0.1  # enrolment clips are brought to the corpus' typical loudness
MAX_CHUNK_FRAMES = 1500  # 30 s: a chunk longer than this is sped up to fit


class TTSError(Exception):
    """Base of the TTS's errors; the message is one line for the user."""

    exit_code = 2


class EmptyTextError(TTSError):
    """The text is empty or only whitespace."""


class NothingToSayError(TTSError):
    """The text has no word the model can pronounce."""


class UnknownVoiceError(TTSError):
    """No voice of that name in the checkpoint."""


class PromptError(TTSError):
    """The enrolment clip is too short, too long, silent or malformed."""


class TTSCheckpointError(TTSError):
    """The TTS checkpoint is missing or unreadable."""

    exit_code = 5


class CodecMismatchWarning(UserWarning):
    """The codec differs from the one the TTS was trained with (tokens will not match)."""


@dataclass
class GenerationResult:
    wav: np.ndarray  # float32 [N] at sample_rate
    codes: torch.Tensor  # long [K, T]
    sample_rate: int
    entropy_per_step: float
    seconds_taken: float
    sentences: list[str] = field(default_factory=list)
    voice: str | None = None
    seed: int = 0

    @property
    def seconds(self) -> float:
        return len(self.wav) / self.sample_rate

    @property
    def real_time_factor(self) -> float:
        return self.seconds_taken / max(self.seconds, 1e-9)


@dataclass
class SamplerSettings:
    temperature: float = 1.0
    top_k: int | None = 25
    top_p: float | None = 0.8
    ras_window: int = 10
    ras_threshold: float = 0.1


class TTS:
    """A loaded TTS model with its codec and named voices. Use `load_tts` to build one."""

    def __init__(self, model: TTSModel, voices: dict[str, dict], codec, meta: dict | None = None,
                 checkpoint_sha256: str | None = None) -> None:
        self.model = model.eval()
        self.checkpoint_sha256 = checkpoint_sha256  # sha256 of the checkpoint file (for manifests)
        self.cfg: TTSConfig = model.cfg
        self._voices = voices
        self.codec = codec
        self.meta = meta or {}
        self.sampler = SamplerSettings()
        # Torch threads used while generating (restored afterwards); None = leave torch's setting.
        # One AR step is a few tiny matmuls, so extra threads only add synchronisation, and on
        # a busy 2-core machine they stall: measured here with another job on the second core,
        # RTF 0.19 on one thread against 0.6-1.0 on two.
        self.threads: int | None = 1
        self.codec_mismatch: str | None = None
        default = "flite-slt"
        self.default_voice = default if default in voices else (sorted(voices)[0] if voices else None)

    @property
    def voices(self) -> list[str]:
        return sorted(self._voices)

    @property
    def sample_rate(self) -> int:
        return self.codec.sample_rate

    # -------------------------------------------------------------- text
    def sentences(self, text: str) -> list[str]:
        """The normalised chunks `generate` will speak, in order."""
        if not isinstance(text, str) or not text.strip():
            raise EmptyTextError("the text is empty; give some words to speak")
        chunks = split_sentences(normalize_text(text))
        if not chunks:
            raise NothingToSayError("nothing speakable in the text (no letters after normalisation)")
        return chunks

    # -------------------------------------------------------------- voices
    def _prompt_tokens(self, voice: str | None, prompt_wav) -> tuple[torch.Tensor, float, str | None, str]:
        if voice is not None and prompt_wav is not None:
            raise TTSError("give a voice name or a prompt clip, not both")
        if prompt_wav is None:
            name = voice if voice is not None else self.default_voice
            if name not in self._voices:
                raise UnknownVoiceError(f"unknown voice {name!r}; choose one of: {', '.join(self.voices)}")
            v = self._voices[name]
            return v["prompt"].long(), float(v["rate"]), name, v.get("language", "en-us")
        return self.encode_prompt(prompt_wav), 1.0, None, "en-us"

    def encode_prompt(self, wav) -> torch.Tensor:
        """Codec tokens [K, P] of an enrolment clip (float samples at the codec's rate, 3-10 s)."""
        try:
            x = np.asarray(wav, dtype=np.float32)
        except (TypeError, ValueError):
            raise PromptError("the prompt must be an array of audio samples") from None
        if x.ndim != 1:
            raise PromptError(f"the prompt must be mono samples [N], got shape {list(x.shape)}")
        sr = self.codec.sample_rate
        secs = len(x) / sr
        if secs < PROMPT_MIN_S:
            raise PromptError(f"the prompt is {secs:.1f} s; give a {PROMPT_MIN_S:g}-{PROMPT_MAX_S:g} s "
                              "enrolment clip")
        if secs > PROMPT_MAX_S:
            raise PromptError(f"the prompt is {secs:.1f} s; give a {PROMPT_MIN_S:g}-{PROMPT_MAX_S:g} s "
                              "enrolment clip (trim it)")
        if not np.all(np.isfinite(x)):
            raise PromptError("the prompt has non-finite samples")
        hop = self.codec.hop_length
        n = len(x) // hop
        energy = np.sqrt((x[: n * hop].reshape(n, hop) ** 2).mean(1) + 1e-12)
        active = energy > max(energy.max() * 10 ** (-40 / 20), 1e-4)
        if active.sum() < self.codec.frame_rate:  # under 1 s of sound
            raise PromptError("the prompt is (nearly) silent; give a clip of someone speaking")
        first, last = int(np.argmax(active)), int(n - np.argmax(active[::-1]))
        x = x[first * hop: last * hop]
        rms = float(np.sqrt((x ** 2).mean()))
        x = x * min(PROMPT_RMS / max(rms, 1e-6), 0.99 / max(float(np.abs(x).max()), 1e-6))
        codes = self.codec.encode(torch.from_numpy(x.astype(np.float32)))
        return codes[:, :PROMPT_FRAMES].long()

    # -------------------------------------------------------------- generation
    @torch.inference_mode()
    def durations(self, phones: list[str], rate: float = 1.0) -> torch.Tensor:
        """Frames per phone [L] from the duration predictor (>= 1 for every spoken phone)."""
        ids = torch.tensor([PHONE_ID[p] for p in phones])
        d = torch.expm1(self.model.dur(ids[None])[0]).clamp(min=0) * rate
        d = torch.round(d).long()
        spoken = ids != PAU
        d = torch.where(spoken, d.clamp(min=1), d)
        if int(d.sum()) > MAX_CHUNK_FRAMES:
            d = torch.floor(d.float() * MAX_CHUNK_FRAMES / float(d.sum())).long()
            d = torch.where(spoken, d.clamp(min=1), d)
        return d

    @torch.inference_mode()
    def _speak(self, phones: list[str], rate: float, prompt: torch.Tensor, gen: torch.Generator,
               processor, hist: torch.Tensor, n_hist: int, ent: list[float], s: SamplerSettings,
               fused=None) -> tuple[torch.Tensor, int]:
        from watermark.sampling import sample_next

        d = self.durations(phones, rate)
        ids = torch.tensor([PHONE_ID[p] for p in phones])
        keep = d > 0
        ids, d = ids[keep], d[keep]
        idx, feat = frame_layout(d)
        t_len = int(d.sum())
        ar, nar = self.model.ar, self.model.nar
        p = prompt[None]
        cond = ar.cond(ids[None], idx[None], feat[None])
        caches = ar.start(p, total_len=p.shape[-1] + t_len)
        prev = torch.tensor([ar.bos])
        hist_last = int(hist[0, n_hist - 1]) if n_hist else None  # the mark's context: the clip's last token
        for t in range(t_len):
            h = hist[:, :n_hist]
            if fused is not None:  # the watermark bias rides in the head's bias: no extra op
                bias = fused.row(hist_last)
                scores = ar.step(prev, cond[:, t], p.shape[-1] + t, caches, bias)
                logits = scores - bias + ar.head.bias  # the entropy diagnostic is the model's own
            else:
                logits = ar.step(prev, cond[:, t], p.shape[-1] + t, caches)
                scores = processor(h, logits) if processor is not None else logits
            logp = torch.log_softmax(logits / s.temperature, dim=-1)
            ent.append(float(-(logp.exp() * logp).sum()))
            tok = sample_next(scores, h, temperature=s.temperature, top_k=s.top_k, top_p=s.top_p,
                              ras_window=s.ras_window, ras_threshold=s.ras_threshold, generator=gen)
            hist[0, n_hist] = tok[0]
            n_hist += 1
            prev = tok
            hist_last = tok.item()
        k_all = self.cfg.n_codebooks
        codes = torch.zeros(1, k_all, t_len, dtype=torch.long)
        codes[0, 0] = hist[0, n_hist - t_len:n_hist]
        cond_n = nar.cond(ids[None], idx[None], feat[None])
        for k in range(1, k_all):
            logits = nar(p, codes, cond_n, torch.tensor([k]))
            codes[0, k] = logits[0].argmax(-1)
        return codes[0], n_hist

    def generate(self, text: str, *, voice: str | None = None, prompt_wav: np.ndarray | None = None,
                 seed: int = 0, processor_factory: Callable[[], object] | None = None,
                 progress=None, sampler: SamplerSettings | None = None) -> GenerationResult:
        """Speak `text` (any length; chunked by sentence, each chunk phonemised as it comes).

        voice: a name from `voices` (default: the checkpoint's default voice);
        prompt_wav: or an enrolment clip, mono float samples at `sample_rate`, 3-10 s.
        processor_factory: makes the watermark logits processor for this clip (None: no mark).
        progress: None, True (a progress bar on stderr) or a callable(done, total) called
        after each chunk (total = len(self.sentences(text))).
        sampler: temperature / top-k / top-p / RAS settings (default: `self.sampler`).
        """
        if self.threads is None:
            return self._generate(text, voice, prompt_wav, seed, processor_factory, progress, sampler)
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            return self._generate(text, voice, prompt_wav, seed, processor_factory, progress, sampler)
        finally:
            torch.set_num_threads(before)

    def _generate(self, text, voice, prompt_wav, seed, processor_factory, progress, sampler
                  ) -> GenerationResult:
        t0 = time.time()
        chunks = self.sentences(text)
        prompt, rate, name, language = self._prompt_tokens(voice, prompt_wav)
        processor = processor_factory() if processor_factory is not None else None
        if processor is not None and getattr(processor, "codebook", 0) != 0:
            raise TTSError(f"the watermark processor marks codebook {processor.codebook}; the TTS samples "
                           "only codebook 1 (index 0) autoregressively")
        from watermark.head import HeadBias
        from watermark.processor import WatermarkLogitsProcessor

        fused = None  # our processor's bias folds into the AR head; any other is called as given
        if isinstance(processor, WatermarkLogitsProcessor) and self.model.ar.head.bias is not None:
            fused = HeadBias(processor, self.model.ar.head.bias.detach())
        settings = sampler or self.sampler
        gen = torch.Generator().manual_seed(int(seed))
        bar_cm = None
        if progress is True:
            from synth.console import progress_bar

            bar_cm = progress_bar("speaking", len(chunks))
            advance = bar_cm.__enter__()

            def progress(done, total):
                advance(1)

        hist = torch.zeros(1, 4096, dtype=torch.long)  # the clip's codebook-1 tokens, grown as needed
        n_hist = 0
        all_codes, wavs, ent, spoken = [], [], [], []
        try:
            for i, chunk in enumerate(chunks):
                phones = g2p(chunk, language)
                if any(p != "pau" for p in phones):
                    need = n_hist + MAX_CHUNK_FRAMES + 1
                    if need > hist.shape[1]:
                        hist = torch.cat([hist, torch.zeros(1, max(need, 2 * hist.shape[1]) - hist.shape[1],
                                                            dtype=torch.long)], dim=1)
                    codes, n_hist = self._speak(phones, rate, prompt, gen, processor, hist, n_hist, ent,
                                                settings, fused)
                    all_codes.append(codes)
                    wavs.append(self.codec.decode(codes).numpy().astype(np.float32, copy=False))
                    spoken.append(chunk)
                if callable(progress):
                    progress(i + 1, len(chunks))
        finally:
            if bar_cm is not None:
                bar_cm.__exit__(None, None, None)
        if not spoken:
            raise NothingToSayError("nothing speakable in the text (espeak-ng found no phonemes)")
        codes = torch.cat(all_codes, dim=1)
        wav = np.concatenate(wavs)
        return GenerationResult(wav=wav, codes=codes, sample_rate=self.sample_rate,
                                entropy_per_step=float(np.mean(ent)) if ent else 0.0,
                                seconds_taken=time.time() - t0, sentences=spoken, voice=name, seed=int(seed))


def load_tts(checkpoint: str | os.PathLike | None = None, codec=None) -> TTS:
    """Load a TTS checkpoint (default: the shipped synth/assets/tts.pt) and its codec.

    Warns (CodecMismatchWarning) when the codec's checkpoint differs from the one the
    TTS was trained with; `TTS.codec_mismatch` then holds the message.
    """
    path = Path(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT
    if not path.is_file():
        raise TTSCheckpointError(f"no TTS checkpoint at {path}; train one with `voxseal train tts "
                                 f"--corpus DIR --out {path}`")
    try:
        raw = path.read_bytes()
        blob = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=False)
    except Exception as exc:
        raise TTSCheckpointError(f"cannot read TTS checkpoint {path}: {type(exc).__name__}") from None
    from synth.tts_train import CHECKPOINT_FORMAT

    if not isinstance(blob, dict) or blob.get("format") != CHECKPOINT_FORMAT:
        raise TTSCheckpointError(f"{path} is not a VoxSeal TTS checkpoint")
    if list(blob.get("phones", [])) != list(PHONES):
        raise TTSCheckpointError(f"{path} was trained with another phone set; retrain it")
    cfg = TTSConfig.from_dict(blob["config"])
    model = TTSModel(cfg)
    state = blob["state_dict"]
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    model.eval()
    if codec is None:
        from synth.codec import load_codec

        codec = load_codec(blob["codec"].get("name"))
    if (codec.n_codebooks, codec.codebook_size) != (cfg.n_codebooks, cfg.codebook_size) or \
            not math.isclose(codec.frame_rate, cfg.frame_rate):
        raise TTSCheckpointError(f"{path} needs a codec with {cfg.n_codebooks} x {cfg.codebook_size} codes "
                                 f"at {cfg.frame_rate} Hz; this one has {codec.n_codebooks} x "
                                 f"{codec.codebook_size} at {codec.frame_rate} Hz")
    meta = {"version": blob["format"].rsplit("-", 1)[-1], **(blob.get("training") or {})}
    tts = TTS(model, blob["voices"], codec, meta=meta, checkpoint_sha256=hashlib.sha256(raw).hexdigest())
    # Token space, not file: a decoder-only tune (`voxseal train decoder`) keeps the codes'
    # meaning, so the TTS stays valid; older checkpoints record only the file hash.
    want = blob["codec"].get("token_space") or blob["codec"].get("sha256")
    have = codec.token_space if blob["codec"].get("token_space") else codec.checkpoint_sha256
    if want != have:
        tts.codec_mismatch = (f"the TTS was trained on the tokens of codec {str(want)[:12]} but the "
                              f"codec loaded has {str(have)[:12]}; retrain it (`voxseal train tts`)")
        warnings.warn(tts.codec_mismatch, CodecMismatchWarning, stacklevel=2)
    return tts
