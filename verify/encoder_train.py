"""Robustness lever 2: a verifier-side encoder tuned for re-encoding consistency.

Generation keeps the codec as trained; the verifier encodes suspect audio with
its own copy of the encoder, fine-tuned so that decoded audio, after the edits
a suspect clip may have gone through (the AudioSeal Tier A attacks, the Tier B
sweeps, sub-frame shifts up to an eighth of a frame (what the offset search
leaves), polarity inversion, and a speed change that the verifier's time-scale
search undoes), still lands on the
codebook-1 codes it was decoded from. What it learns from: the codec's own
codes of the corpus and, above all, codes the TTS sampled with the watermark on
(`code_pool`, the same pool `voxseal train decoder` uses) -- the sequences
verification actually meets, which the codec's encoder never produced. A clean
re-encode is kept in a large share of the batches (`clean_probability`): a first
version trained on edits only lowered the clean agreement. Loss: cross-entropy with logits equal to
minus squared distances to the codebook-1 codewords (Jovanović et al. 2025 do
the same for autoregressive image tokenizers). The decoder is untouched, so
generation quality cannot change.

`specialist=NAME` makes a specialist encoder (verify/specialists.py), one the
verifier also searches with on clips that show its edits: started from the
verifier encoder and trained on one family of heavy edits at randomised strengths
around (not at) the benchmark's setting. `robust` is every heavy edit at once with
a third of the batches clean; it reads band-limited and noisy copies better and
clean ones worse, and is not shipped. `band` (band-pass and high-pass), `lowpass`
and `noise` see no clean batch: their gates keep them away from clean clips.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from synth import edits as E
from synth.audio import load_audio
from synth.codec import load_codec
from synth.compact_codec import save_verifier_encoder
from synth.corpus import read_corpus
from synth.fileio import atomic_open
from synth.train_loop import TrainLoop
from verify.smoothing import undo_box_filter


@dataclass
class VerifierTrainConfig:
    minutes: float = 12.0
    batch_size: int = 8
    segment_frames: int = 50
    lr: float = 2e-4
    lossy_probability: float = 0.15
    clean_probability: float = 0.6
    mild_only: bool = True  # heavy edits (500 Hz low-pass, 0.05 white noise, ...) wreck the clean case
    specialist: str | None = None  # train this specialist encoder (SPECIALIST_EDITS) instead
    init: str | None = None  # start from this verifier encoder file (else the codec's own encoder)
    pool_fraction: float = 0.75  # share of crops from TTS-sampled codes when a pool is given
    seed: int = 0
    threads: int = 2
    checkpoint_every_s: float = 120.0
    log_every: int = 50
    max_steps: int | None = None


MILD = ("none", "boost", "duck", "snr-mild", "resample32k", "resample8k")
MILD_LOSSY = (("mp3", 32_000), ("mp3", 40_000), ("m4a", 64_000), ("opus", 24_000))


def _edit_pool(hop: int, mild_only: bool = False
               ) -> list[tuple[str, Callable[[np.ndarray, int, random.Random], np.ndarray]]]:
    """(name, edit(x, sr, rng)) for the cheap edits; lossy codecs are drawn separately."""
    def fixed(edit):
        return lambda x, sr, rng: edit(x, sr)
    edits = [
        ("none", fixed(E.identity())),
        ("bandpass", fixed(E.bandpass(500, 5000))),
        ("highpass", fixed(E.highpass(1500))),
        ("lowpass", fixed(E.lowpass(500))),
        ("boost", fixed(E.gain(1.1))),
        ("duck", fixed(E.gain(0.9))),
        ("echo", fixed(E.echo(0.5, 0.5))),
        ("pink", lambda x, sr, rng: E.pink_noise_std(0.1, rng.randrange(1 << 30))(x, sr)),
        ("white", lambda x, sr, rng: E.white_noise_std(0.05, rng.randrange(1 << 30))(x, sr)),
        ("snr", lambda x, sr, rng: E.white_noise_snr(rng.uniform(5, 40), rng.randrange(1 << 30))(x, sr)),
        ("smooth", fixed(E.smooth(40))),
        ("resample32k", fixed(E.resample_via(32_000))),
        ("resample8k", fixed(E.resample_via(8_000))),
        ("speed-undone", lambda x, sr, rng: E.speed(1 / 1.25)(E.speed(1.25)(x, sr), sr)[: len(x)]),
        ("snr-mild",
         lambda x, sr, rng: E.white_noise_snr(rng.uniform(20, 40), rng.randrange(1 << 30))(x, sr)),
    ]
    return [e for e in edits if e[0] in MILD] if mild_only else edits


def _pink_snr(snr_db: float, seed: int) -> E.Edit:
    def edit(x: np.ndarray, sr: int) -> np.ndarray:
        rms = float(np.sqrt(np.mean(x ** 2)) + 1e-8)
        return E.pink_noise_std(rms / 10 ** (snr_db / 20), seed)(x, sr)
    return edit


def _robust_pool() -> list[tuple[str, Callable[[np.ndarray, int, random.Random], np.ndarray]]]:
    """The robust encoder's edits: the kinds of Tier A's destructive attacks, each at a
    strength drawn from a range around (not at) the benchmark's setting."""
    return [
        ("none", lambda x, sr, r: x),
        ("lowpass", lambda x, sr, r: E.lowpass(r.uniform(400, 3500))(x, sr)),
        ("highpass", lambda x, sr, r: E.highpass(r.uniform(150, 2000))(x, sr)),
        ("bandpass", lambda x, sr, r: E.bandpass(r.uniform(200, 700), r.uniform(3000, 6500))(x, sr)),
        ("echo", lambda x, sr, r: E.echo(r.uniform(0.05, 0.8), r.uniform(0.2, 0.6))(x, sr)),
        ("smooth", lambda x, sr, r: E.smooth(r.randint(4, 50))(x, sr)),
        ("white", lambda x, sr, r: E.white_noise_snr(r.uniform(0, 30), r.randrange(1 << 30))(x, sr)),
        ("pink", lambda x, sr, r: _pink_snr(r.uniform(0, 30), r.randrange(1 << 30))(x, sr)),
        ("gain", lambda x, sr, r: E.gain(r.uniform(0.5, 1.5))(x, sr)),
        ("resample8k", lambda x, sr, r: E.resample_via(8000)(x, sr)),
    ]


def _band_pool() -> list[tuple[str, Callable[[np.ndarray, int, random.Random], np.ndarray]]]:
    """Filters that take the low band away (the `band` gate: verify/specialists.py)."""
    return [
        ("bandpass", lambda x, sr, r: E.bandpass(r.uniform(300, 800), r.uniform(3500, 6500))(x, sr)),
        ("highpass", lambda x, sr, r: E.highpass(r.uniform(900, 2200))(x, sr)),
    ]


def _highpass_pool() -> list[tuple[str, Callable[[np.ndarray, int, random.Random], np.ndarray]]]:
    """High-pass filters above 1 kHz (the `highpass` gate: 300-1000 Hz taken away too)."""
    return [("highpass", lambda x, sr, r: E.highpass(r.uniform(1000, 2200))(x, sr))]


def _lowpass_pool() -> list[tuple[str, Callable[[np.ndarray, int, random.Random], np.ndarray]]]:
    return [("lowpass", lambda x, sr, r: E.lowpass(r.uniform(350, 900))(x, sr))]


def _noise_pool() -> list[tuple[str, Callable[[np.ndarray, int, random.Random], np.ndarray]]]:
    """Noise at -5 to 15 dB SNR (AudioSeal's white 0.05 and pink 0.1 are ~3 and ~-3 dB
    on our TTS' clips, whose RMS is ~0.075)."""
    return [
        ("white", lambda x, sr, r: E.white_noise_snr(r.uniform(-5, 15), r.randrange(1 << 30))(x, sr)),
        ("pink", lambda x, sr, r: _pink_snr(r.uniform(-5, 15), r.randrange(1 << 30))(x, sr)),
    ]


def _smooth_pool() -> list[tuple[str, Callable[[np.ndarray, int, random.Random], np.ndarray]]]:
    """A moving average of 20-64 samples, found and undone as the verifier does
    (`verify.smoothing`: the search finds AudioSeal's width 40 on 1, 2 and 5 s clips),
    so the encoder learns the inverse filter's leftovers."""
    def edit(x: np.ndarray, sr: int, r: random.Random) -> np.ndarray:
        width = r.randint(20, 64)
        return undo_box_filter(E.smooth(width)(x, sr), width)
    return [("smooth", edit)]


SPECIALIST_EDITS = {"robust": _robust_pool, "band": _band_pool, "highpass": _highpass_pool,
                    "lowpass": _lowpass_pool, "noise": _noise_pool, "smooth": _smooth_pool}
_SPECIALIST_SETTINGS = {  # clean_probability, lossy_probability, lr
    "robust": (0.35, 0.1, 1e-4), "band": (0.0, 0.1, 1e-4), "highpass": (0.0, 0.1, 1e-4),
    "lowpass": (0.0, 0.1, 1e-4), "noise": (0.0, 0.1, 1e-4), "smooth": (0.0, 0.1, 1e-4)}


def specialist_config(cfg: VerifierTrainConfig, name: str) -> VerifierTrainConfig:
    """`cfg` set up to train the specialist encoder `name` (its edits, clean and lossy
    shares and learning rate)."""
    if name not in SPECIALIST_EDITS:
        raise ValueError(f"unknown specialist {name!r}; choose from {', '.join(SPECIALIST_EDITS)}")
    clean, lossy, lr = _SPECIALIST_SETTINGS[name]
    return replace(cfg, specialist=name, mild_only=False, clean_probability=clean,
                   lossy_probability=lossy, lr=lr)


def _lossy(x: np.ndarray, sr: int, rng: random.Random, mild_only: bool = False) -> np.ndarray:
    fmt, rate = rng.choice(MILD_LOSSY if mild_only else
                           [("mp3", 32_000), ("mp3", 16_000), ("mp3", 40_000), ("m4a", 64_000),
                            ("opus", 24_000), ("opus", 12_000), ("opus", 6_000)])
    return E.lossy(fmt, rate)(x, sr)


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    return np.pad(y, (0, max(0, n - len(y))))[:n].astype(np.float32)


def train_verifier_encoder(corpus: str | Path, out: str | Path, cfg: VerifierTrainConfig,
                           codec_checkpoint: str | Path | None = None,
                           code_pool: list[torch.Tensor] | None = None,
                           log: Callable[[dict], None] = print,
                           progress: Callable[[float], None] | None = None) -> dict:
    """Fine-tune a copy of the codec's encoder; writes `out` (fp16) and `<out>.train.pt`."""
    torch.set_num_threads(cfg.threads)
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    codec = load_codec("compact-16k", codec_checkpoint)
    model, sr, hop = codec.model, codec.sample_rate, codec.hop_length
    codebook = model.codebooks[0]
    decoded, targets = [], []
    with torch.inference_mode():
        for u in read_corpus(corpus, "train"):
            x, _ = load_audio(Path(corpus) / u.path, sr)
            codes = codec.encode(torch.from_numpy(x))
            if codes.shape[1] <= cfg.segment_frames:
                continue
            decoded.append(codec.decode(codes).numpy())
            targets.append(codes[0].numpy())
    if not decoded:
        raise ValueError("corpus has no training utterances long enough")
    n_corpus = len(decoded)
    with torch.inference_mode():
        for codes in code_pool or []:
            if codes.shape[1] > cfg.segment_frames:
                decoded.append(codec.decode(codes).numpy())
                targets.append(codes[0].numpy())
    log({"event": "prepared", "utterances": n_corpus, "pool_sequences": len(decoded) - n_corpus})
    encoder = model.make_encoder(copy_weights=True)
    if cfg.init:
        from synth.compact_codec import load_verifier_encoder

        # not bound to this checkpoint: a new decoder for the same tokens starts from the
        # encoder tuned on the old one's audio
        encoder.load_state_dict(load_verifier_encoder(cfg.init, model, None).state_dict())
    encoder.train()
    opt = torch.optim.Adam(encoder.parameters(), lr=cfg.lr)
    out = Path(out)
    state_path = out.with_name(out.name + ".train.pt")
    step, elapsed = 0, 0.0
    if state_path.is_file():
        blob = torch.load(state_path, map_location="cpu", weights_only=False)
        encoder.load_state_dict(blob["encoder"])
        opt.load_state_dict(blob["optimizer"])
        step, elapsed = blob["step"], blob["elapsed"]
        rng.setstate(blob["rng"])
        log({"event": "resumed", "step": step})
    mild = cfg.mild_only and cfg.specialist is None
    pool = SPECIALIST_EDITS[cfg.specialist]() if cfg.specialist else _edit_pool(hop, mild)
    seg = cfg.segment_frames * hop

    def save_state(step: int, elapsed: float) -> None:
        with atomic_open(state_path, "wb") as fh:
            torch.save({"encoder": encoder.state_dict(), "optimizer": opt.state_dict(), "step": step,
                        "elapsed": elapsed, "rng": rng.getstate()}, fh)

    corpus_ids, pool_ids = list(range(n_corpus)), list(range(n_corpus, len(decoded)))
    n_pool = round(cfg.batch_size * cfg.pool_fraction) if pool_ids else 0

    def pick(ids: list[int], k: int) -> list[int]:
        return rng.choices(ids, [len(targets[i]) for i in ids], k=k) if k else []

    loop = TrainLoop(cfg.minutes, elapsed, step, log, progress, save_state, cfg.checkpoint_every_s,
                     cfg.log_every)
    while loop.going(cfg.max_steps):
        batch, tgt = [], []
        for i in pick(corpus_ids, cfg.batch_size - n_pool) + pick(pool_ids, n_pool):
            f = rng.randrange(len(targets[i]) - cfg.segment_frames)
            y = decoded[i][f * hop: f * hop + seg]
            u = rng.random()
            if u < cfg.clean_probability:
                pass
            elif u < cfg.clean_probability + cfg.lossy_probability:
                y = _lossy(y, sr, rng, mild)
            else:
                y = rng.choice(pool)[1](y, sr, rng)
            if rng.random() < 0.5:
                y = E.shift(rng.randint(-hop // 8, hop // 8))(y, sr)  # what the offset search leaves
            if rng.random() < 0.3 and not mild:
                y = -y
            batch.append(_fit(y, seg))
            tgt.append(targets[i][f: f + cfg.segment_frames])
        z = encoder(torch.from_numpy(np.stack(batch))[:, None])  # [B, D, T]
        z = z[..., : cfg.segment_frames].transpose(1, 2).reshape(-1, z.shape[1])
        target = torch.from_numpy(np.stack(tgt)).reshape(-1)
        logits = codebook.logits(z)
        loss = F.cross_entropy(logits, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(encoder.parameters(), 10.0)
        opt.step()
        acc = float((logits.argmax(1) == target).float().mean())
        loop.step_done({"ce": loss.item(), "agreement": acc})
    running = loop.finish()
    step = loop.step
    encoder.eval()
    save_verifier_encoder(out, encoder, model.config, codec.checkpoint_sha256,
                          extra={"train": {"steps": step, "minutes": cfg.minutes}})
    summary = {"event": "done", "steps": step, "out": str(out), **running}
    log(summary)
    return summary
