"""Training the compact codec: reconstruction first, then re-encoding consistency.

Phase 1 (first `recon_fraction` of the time budget): multi-scale log-mel loss
plus the VQ commitment penalty. Phase 2 adds the consistency objective that
makes tokens survive decode -> edit -> re-encode: the decoded audio goes
through a random mild edit (sample shift, gain, white noise, ~4 kHz low-pass,
MP3 32 kbps as a straight-through estimate), is encoded again, and a
cross-entropy asks its latents to land on the original codebook-1 (and, with
less weight, codebook-2) codewords; logits are minus squared distances to all
codewords.

Training is time-budgeted (`minutes`), checkpoints every `checkpoint_every_s`
to `<out>.train.pt` and resumes from it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from synth.audio import decode_bytes, encode_audio, load_audio
from synth.compact_codec import CompactCodecModel, CompactConfig, _sq_dist, load_model, save_checkpoint
from synth.corpus import read_corpus
from synth.fileio import atomic_open
from synth.mel import multiscale_mel_loss
from synth.train_loop import TrainLoop


@dataclass
class TrainConfig:
    minutes: float = 60.0
    batch_size: int = 8
    segment_seconds: float = 1.0
    lr: float = 5e-4
    recon_fraction: float = 0.4
    consistency_weight: float = 0.02
    mp3_probability: float = 0.2
    seed: int = 0
    checkpoint_every_s: float = 120.0
    threads: int = 2
    log_every: int = 50
    max_steps: int | None = None  # stop early (tests); None = use the whole time budget


class Batcher:
    """Random fixed-length crops from the corpus' training utterances."""

    def __init__(self, wavs: list[np.ndarray], segment: int, rng: random.Random) -> None:
        self.wavs = [w for w in wavs if len(w) >= segment // 2]
        if not self.wavs:
            raise ValueError("corpus has no usable training audio")
        self.weights = [len(w) for w in self.wavs]
        self.segment = segment
        self.rng = rng

    def __call__(self, n: int) -> torch.Tensor:
        out = np.zeros((n, self.segment), dtype=np.float32)
        for i, w in enumerate(self.rng.choices(self.wavs, self.weights, k=n)):
            if len(w) > self.segment:
                s = self.rng.randrange(len(w) - self.segment)
                out[i] = w[s : s + self.segment]
            else:
                out[i, : len(w)] = w
            out[i] *= 10 ** (self.rng.uniform(-6, 3) / 20)
        return torch.from_numpy(out)


def _lowpass_kernel(cutoff: float, sample_rate: int, taps: int = 63) -> torch.Tensor:
    t = torch.arange(taps) - (taps - 1) / 2
    h = torch.sinc(2 * cutoff / sample_rate * t) * torch.hann_window(taps, periodic=False)
    return (h / h.sum())[None, None]


def random_edit(y: torch.Tensor, sample_rate: int, rng: random.Random, mp3_p: float) -> torch.Tensor:
    """A random mild edit of y [B, N], differentiable (MP3 as straight-through)."""
    kind = rng.choice(["none", "shift", "gain", "noise", "lowpass", "mp3"])
    if kind == "mp3" and rng.random() > mp3_p / (1 / 6):
        kind = "noise"
    if kind == "shift":
        s = rng.randint(-40, 40)
        return torch.roll(y, s, dims=-1)
    if kind == "gain":
        return y * 10 ** (rng.uniform(-4, 4) / 20)
    if kind == "noise":
        snr = rng.uniform(20, 40)
        p = y.pow(2).mean(-1, keepdim=True).clamp_min(1e-8)
        return y + torch.randn_like(y) * torch.sqrt(p / 10 ** (snr / 10))
    if kind == "lowpass":
        k = _lowpass_kernel(rng.uniform(3500, 4000), sample_rate)
        return F.conv1d(y[:, None], k, padding=k.shape[-1] // 2)[:, 0]
    if kind == "mp3":
        with torch.no_grad():
            coded = []
            for row in y.detach().numpy():
                data = encode_audio(row, sample_rate, "mp3", bitrate=32000)
                dec = decode_bytes(data, "mp3", sample_rate)
                dec = np.pad(dec, (0, max(0, len(row) - len(dec))))[: len(row)]
                coded.append(dec)
            coded = torch.from_numpy(np.stack(coded))
        return y + (coded - y).detach()
    return y


def consistency_loss(model: CompactCodecModel, y: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """CE of re-encoded latents against the original codes of codebooks 1 and 2.

    y [B, N] decoded (edited) audio; codes [K, B, T] from the first encode.
    """
    z = model.encoder(y[:, None])  # [B, D, T']
    t = min(z.shape[-1], codes.shape[-1])
    z = z[..., :t].transpose(1, 2).reshape(-1, z.shape[1])  # [B*T, D]
    loss = z.new_zeros(())
    residual = z
    for k, weight in ((0, 1.0), (1, 0.3)):
        cb = model.codebooks[k].embed.detach()
        target = codes[k, :, :t].reshape(-1)
        loss = loss + weight * F.cross_entropy(-_sq_dist(residual, cb), target)
        residual = residual - cb[target]
    return loss


def train_codec(
    corpus: str | Path,
    out: str | Path,
    cfg: TrainConfig,
    model_cfg: CompactConfig | None = None,
    log: Callable[[dict], None] = print,
    progress: Callable[[float], None] | None = None,
) -> dict:
    """Train (or resume) the compact codec; writes `out` (fp16) and `<out>.train.pt`."""
    # Denormal floats (tiny LSTM / weight-norm activations) can make CPU steps many times
    # slower; flushing them to zero costs nothing in accuracy. The flag is process-wide CPU
    # state, so it is turned off again on the way out.
    torch.set_flush_denormal(True)
    try:
        return _train_codec(corpus, out, cfg, model_cfg, log, progress)
    finally:
        torch.set_flush_denormal(False)


def _train_codec(corpus, out, cfg: TrainConfig, model_cfg: CompactConfig | None, log, progress) -> dict:
    torch.set_num_threads(cfg.threads)
    model_cfg = model_cfg or CompactConfig()
    out = Path(out)
    state_path = out.with_name(out.name + ".train.pt")
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    utts = read_corpus(corpus, "train")
    wavs = [load_audio(Path(corpus) / u.path, model_cfg.sample_rate)[0] for u in utts]
    batcher = Batcher(wavs, int(cfg.segment_seconds * model_cfg.sample_rate), rng)
    model = CompactCodecModel(model_cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.5, 0.9))
    step, elapsed = 0, 0.0
    if state_path.is_file():
        blob = torch.load(state_path, map_location="cpu", weights_only=False)
        model.load_state_dict(blob["model"])
        opt.load_state_dict(blob["optimizer"])
        step, elapsed = blob["step"], blob["elapsed"]
        rng.setstate(blob["rng"])
        log({"event": "resumed", "step": step, "elapsed_s": round(elapsed, 1)})
    else:
        init_batch = batcher(32)[:, None]
        model.data_dependent_init_(init_batch)
        with torch.no_grad():
            lat = torch.cat([model.encoder(batcher(16)[:, None]) for _ in range(8)])
        model.init_codebooks_(lat.transpose(1, 2).reshape(-1, lat.shape[1]))
        log({"event": "initialised", "latent_vectors": int(lat.shape[0] * lat.shape[2])})
    model.train()
    sr = model_cfg.sample_rate

    def save_state(step: int, elapsed: float) -> None:  # full precision + optimizer: what resuming needs
        with atomic_open(state_path, "wb") as fh:
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                        "elapsed": elapsed, "rng": rng.getstate()}, fh)

    loop = TrainLoop(cfg.minutes, elapsed, step, log, progress, save_state, cfg.checkpoint_every_s,
                     cfg.log_every)
    while loop.going(cfg.max_steps):
        loop.set_lr(opt, cfg.lr)
        x = batcher(cfg.batch_size)
        y, codes, penalty, _ = model(x[:, None])
        y = y[:, 0, : x.shape[-1]]
        rec = multiscale_mel_loss(y, x, sr)
        loss = rec + penalty
        parts = {"mel": rec.item(), "commit": penalty.item()}
        if loop.fraction >= cfg.recon_fraction:
            cons = consistency_loss(model, random_edit(y, sr, rng, cfg.mp3_probability), codes)
            loss = loss + cfg.consistency_weight * cons
            parts["consistency"] = cons.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        loop.step_done(parts, lr=opt.param_groups[0]["lr"])
    running = loop.finish()
    step = loop.step
    model.eval()
    save_checkpoint(
        out, model, half=True, extra={"train": {"steps": step, "minutes": cfg.minutes, "corpus": str(corpus)}}
    )
    summary = {"event": "done", "steps": step, "out": str(out), **running}
    log(summary)
    return summary


def jsonl_logger(path: Path) -> Callable[[dict], None]:
    def log(rec: dict) -> None:
        with open(path, "a") as fh:
            fh.write(json.dumps(rec) + "\n")

    return log


def build_mel_codec(corpus: str | Path, out: str | Path, model_cfg: CompactConfig, seed: int = 0,
                    max_frames: int = 200_000, log: Callable[[dict], None] = print,
                    decoder_from: str | Path | None = None) -> dict:
    """The codec with a fixed mel analysis (synth/mel_encoder.py): nothing to train but its
    band normalisation and the residual VQ, k-means on the corpus' training frames.

    Writes `out` (fp16) with a fresh, untrained ISTFT decoder: `voxseal train decoder
    --architecture istft` trains it for these tokens. With `decoder_from` (another mel
    codec of the same analysis, fitted on the same corpus), its trained decoder is taken
    over instead: the decoder reads the quantised frames, which approximate the same
    normalised log-mels whatever the codebooks, so only tuning (`train decoder`) is left.
    """
    if model_cfg.encoder != "mel":
        raise ValueError("build_mel_codec needs a config with encoder='mel'")
    donor = None
    if decoder_from is not None:
        donor, _ = load_model(decoder_from)
        same = ("encoder", "decoder", "dimension", "ratios", "analysis_n_fft", "sample_rate")
        if any(getattr(donor.config, f) != getattr(model_cfg, f) for f in same):
            raise ValueError(f"{decoder_from} is not a mel codec with this analysis and decoder "
                             f"({', '.join(same)} must match)")
    torch.manual_seed(seed)
    model = CompactCodecModel(model_cfg)
    utts = read_corpus(corpus, "train")
    with torch.no_grad():
        frames = [model.encoder.log_mel(torch.from_numpy(
            load_audio(Path(corpus) / u.path, model_cfg.sample_rate)[0])[None, None])[0].T for u in utts]
    mels = torch.cat(frames)
    if mels.shape[0] > max_frames:  # k-means cost is linear in frames; 200k fill 1024 cells well
        mels = mels[torch.randperm(mels.shape[0])[:max_frames]]
    model.encoder.set_normalisation_(mels)
    model.init_codebooks_((mels - model.encoder.mean) / model.encoder.std)
    train = {"frames": int(mels.shape[0]), "seed": seed, "corpus": str(corpus), "decoder_trained": False}
    if donor is not None:
        if not torch.allclose(donor.encoder.mean, model.encoder.mean, atol=1e-3):
            raise ValueError(f"{decoder_from} was fitted on other audio (its band normalisation "
                             f"differs): build from the corpus it was fitted on")
        model.decoder.load_state_dict(donor.decoder.state_dict())
        train.update(decoder_trained=True, decoder_from=str(decoder_from))
    model.eval()
    save_checkpoint(out, model, half=True, extra={"train": train})
    summary = {"event": "done", "frames": int(mels.shape[0]), "out": str(out)}
    log(summary)
    return summary
