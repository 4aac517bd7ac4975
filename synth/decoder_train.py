"""Decoder consistency tuning: teach the decoder to speak codes the encoder reads back.

The watermark lives in the codebook-1 tokens the TTS samples, and verification
re-encodes the audio, so what matters is encode(decode(q)) = q for *sampled*
q. Sampled code sequences are not ones the encoder ever produced: measured
with the 80-minute codec, re-encoding kept 0.74 of codebook-1 tokens on
corpus codes but only ~0.55 on TTS-sampled ones.

Here the encoder and the quantiser are frozen, so the token space -- and
every TTS trained on it -- stays exactly the same; only the decoder learns
(the issue's fallback design: "the decoder trained so that analysing its
output reproduces the codes"). Each batch mixes

- corpus crops: codes of real audio, decoded with a multi-scale mel loss to
  that audio (quality);
- crops of a pool of codes sampled by the TTS with the watermark on, made once
  by `sample_code_pool`, decoded with a mel loss to the *original* decoder's
  rendering of the same codes (an anchor, so quality cannot drift far);

and both go through a random mild edit and the frozen encoder, where a
cross-entropy over minus squared distances to the codebook-1 codewords asks
the re-encoded latents to land on the codes that were decoded.

With `architecture` set to another decoder than the checkpoint's (`istft`,
synth/istft_decoder.py) the decoder starts fresh: the old one is no quality anchor
then (the new one is meant to sound better), so code-pool crops only carry the
consistency term and corpus crops the mel loss and consistency. With `verifier`,
consistency is asked of the verifier-side encoder too, since that is the encoder
verification re-encodes with. With `verifier_lr` > 0 that encoder learns beside the
decoder (written to `<out stem>.verifier.pt`, bound to `out`), and only it is asked for
consistency: the codec's own encoder cannot adapt, and bending a fresh decoder towards
it is what cost the measured ISTFT decoders their quality
(benchmarks/results/istft-decoder/); a verifier that learns to read the decoder leaves
the decoder free to sound like speech.

Time-budgeted; checkpoints to `<out>.train.pt` and resumes from it.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from synth.codec_train import Batcher, random_edit
from synth.compact_codec import CompactCodecModel, blob_token_space, load_model, save_checkpoint
from synth.corpus import read_corpus
from synth.discriminator import Discriminator, discriminator_loss, feature_loss, generator_loss
from synth.fileio import atomic_open, sha256_file
from synth.mel import multiscale_mel_loss
from synth.train_loop import TrainLoop

EDGE_FRAMES = 2  # frames at each crop edge see padding, not their neighbours: not scored


@dataclass
class DecoderTuneConfig:
    minutes: float = 40.0
    batch_size: int = 8
    frames: int = 50  # crop length in codec frames (1 s at 50 Hz)
    pool_fraction: float = 0.75  # share of each batch drawn from TTS-sampled codes
    pool_seconds: float = 900.0
    lr: float = 2e-4
    consistency_weight: float = 0.5
    edit_probability: float = 0.5  # else the clean re-encode, the case that matters most
    anchor_weight: float = 1.0
    mp3_probability: float = 0.1
    seed: int = 0
    checkpoint_every_s: float = 120.0
    threads: int = 2
    log_every: int = 25
    max_steps: int | None = None
    architecture: str | None = None  # a fresh decoder of this kind; None keeps the checkpoint's
    verifier: str | None = None  # a verifier encoder file, also asked for consistency
    verifier_lr: float = 0.0  # > 0: the verifier encoder trains jointly (then the only one asked)
    adversarial_weight: float = 0.0  # > 0: a GAN term (synth/discriminator.py) beside the mel loss
    feature_weight: float | None = None  # feature matching; None: twice adversarial_weight
    disc_lr: float = 2e-4
    disc_warmup_steps: int = 200  # the discriminator learns alone first: a random one misleads

    def __post_init__(self) -> None:
        # named as the CLI's options: `train decoder` shows these before minutes of sampling
        if self.verifier_lr > 0 and not self.verifier:
            raise ValueError("--verifier-lr trains the --verifier encoder: give --verifier too, "
                             "the starting one")
        if self.verifier_lr > 0 and self.consistency_weight == 0:
            raise ValueError("--verifier-lr needs --consistency-weight > 0: the verifier learns "
                             "only from the re-encoding term")
        if self.adversarial_weight > 0 and round(self.batch_size * self.pool_fraction) >= self.batch_size:
            raise ValueError(f"--adversarial-weight needs corpus audio in each batch (the discriminator's "
                             f"real examples): --pool-fraction {self.pool_fraction} leaves none in a "
                             f"batch of {self.batch_size}; give a smaller one")
        if self.feature_weight is None:
            self.feature_weight = 2 * self.adversarial_weight


def sample_code_pool(tts, texts: list[str], seconds: float, seed: int = 0,
                     progress: Callable[[float], None] | None = None) -> list[torch.Tensor]:
    """Codes [K, T] the TTS samples with the product watermark on (a fresh key per clip).

    Cycles through the TTS' voices and `texts` until `seconds` of codes are made.
    """
    from synth.scheme import scheme_for
    from watermark.keys import WatermarkKey
    from watermark.processor import WatermarkLogitsProcessor

    scheme = scheme_for(tts.codec)
    rng = random.Random(seed)
    voices = tts.voices
    pool: list[torch.Tensor] = []
    made, i = 0.0, 0
    while made < seconds:
        key = WatermarkKey.generate()
        payload = rng.getrandbits(scheme.config.payload_bits) if scheme.config.has_payload else None

        def factory(key=key, payload=payload):
            return WatermarkLogitsProcessor(key, scheme.config, payload, scheme.cluster_map,
                                            scheme.codebook, vocab_size=tts.codec.codebook_size)

        res = tts.generate(texts[i % len(texts)], voice=voices[i % len(voices)], seed=seed * 100_003 + i,
                           processor_factory=factory)
        pool.append(res.codes.clone())
        made += res.codes.shape[-1] / tts.codec.frame_rate
        i += 1
        if progress:
            progress(min(1.0, made / seconds))
    return pool


class CodeCrops:
    """Random fixed-length crops of a pool of code sequences [K, T]."""

    def __init__(self, pool: list[torch.Tensor], frames: int, rng: random.Random) -> None:
        self.pool = [c for c in pool if c.shape[-1] >= frames]
        if not self.pool:
            raise ValueError(f"the code pool has no sequence of {frames} frames or more")
        self.weights = [c.shape[-1] for c in self.pool]
        self.frames = frames
        self.rng = rng

    def __call__(self, n: int) -> torch.Tensor:
        out = []
        for c in self.rng.choices(self.pool, self.weights, k=n):
            s = self.rng.randrange(c.shape[-1] - self.frames + 1)
            out.append(c[:, s:s + self.frames])
        return torch.stack(out)  # [n, K, frames]


def codebook1_consistency(model: CompactCodecModel, y: torch.Tensor, codes: torch.Tensor,
                          encoder: torch.nn.Module | None = None) -> tuple[torch.Tensor, float]:
    """(CE, agreement) of re-encoding y [B, N] (with `encoder`, default the model's)
    against codebook-1 codes [B, T].

    Logits are minus squared distances to the codewords; crop-edge frames are skipped.
    """
    z = (encoder or model.encoder)(y[:, None])  # [B, D, T']
    t = min(z.shape[-1], codes.shape[-1])
    sl = slice(EDGE_FRAMES, t - EDGE_FRAMES)
    z = z[..., sl].transpose(1, 2).reshape(-1, z.shape[1])
    target = codes[:, sl].reshape(-1)
    logits = model.codebooks[0].logits(z)  # its buffers are no parameters: nothing to detach
    agreement = float((logits.argmax(1) == target).float().mean())
    return F.cross_entropy(logits, target), agreement


def tune_decoder(corpus: str | Path, codec_checkpoint: str | Path, pool: list[torch.Tensor],
                 out: str | Path, cfg: DecoderTuneConfig,
                 log: Callable[[dict], None] = print,
                 progress: Callable[[float], None] | None = None) -> dict:
    """Tune the decoder of `codec_checkpoint`; writes `out` (fp16) and `<out>.train.pt`."""
    torch.set_flush_denormal(True)  # see codec_train: denormals make CPU steps crawl
    try:
        return _tune(corpus, codec_checkpoint, pool, out, cfg, log, progress)
    finally:
        torch.set_flush_denormal(False)


def _tune(corpus, codec_checkpoint, pool, out, cfg: DecoderTuneConfig, log, progress) -> dict:
    torch.set_num_threads(cfg.threads)
    out = Path(out)
    state_path = out.with_name(out.name + ".train.pt")
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    model, base_blob = load_model(codec_checkpoint)
    base_sha = sha256_file(codec_checkpoint)
    # a mel-analysis codec is written with an untrained decoder (codec_train.build_mel_codec)
    untrained = base_blob.get("train", {}).get("decoder_trained") is False
    fresh = untrained or (cfg.architecture is not None and cfg.architecture != model.config.decoder)
    reference = None if fresh else load_model(codec_checkpoint)[0]  # the old decoder: the quality anchor
    if fresh:
        model = model.with_decoder(cfg.architecture or model.config.decoder)
    joint = cfg.verifier_lr > 0
    encoders = [model.encoder]
    if cfg.verifier:
        from synth.compact_codec import load_verifier_encoder

        # not bound to the checkpoint: an encoder tuned for another decoder of the same
        # tokens is where a new decoder's verifier starts
        encoders.append(load_verifier_encoder(cfg.verifier, model, None))
    frozen = [model.quantizer, *encoders[:len(encoders) - joint], *([reference] if reference else [])]
    for p in (q for m in frozen for q in m.parameters()):
        p.requires_grad_(False)
    asked = encoders[1:] if joint else encoders  # whose read-back the loss asks for
    v_opt = torch.optim.Adam(encoders[-1].parameters(), lr=cfg.verifier_lr) if joint else None
    mc = model.config
    utts = read_corpus(corpus, "train")
    from synth.audio import load_audio

    wavs = [load_audio(Path(corpus) / u.path, mc.sample_rate)[0] for u in utts]
    audio = Batcher(wavs, cfg.frames * mc.hop_length, rng)
    if fresh:  # ConvNeXt blocks train best with AdamW at Vocos-like betas
        opt = torch.optim.AdamW(model.decoder.parameters(), lr=cfg.lr, betas=(0.8, 0.99))
    else:
        opt = torch.optim.Adam(model.decoder.parameters(), lr=cfg.lr, betas=(0.5, 0.9))
    disc = d_opt = None
    if cfg.adversarial_weight > 0:
        disc = Discriminator()
        d_opt = torch.optim.AdamW(disc.parameters(), lr=cfg.disc_lr, betas=(0.8, 0.99))
    step, elapsed, d_steps = 0, 0.0, 0
    if state_path.is_file():
        blob = torch.load(state_path, map_location="cpu", weights_only=False)
        if blob.get("base_sha256") != base_sha:
            raise ValueError(f"{state_path} tunes another codec checkpoint; delete it to start over")
        model.decoder.load_state_dict(blob["decoder"])
        opt.load_state_dict(blob["optimizer"])
        if joint and "verifier" in blob:  # else (a decoder-only state) the --verifier file starts it
            encoders[-1].load_state_dict(blob["verifier"])
            v_opt.load_state_dict(blob["verifier_optimizer"])
        if disc is not None and "discriminator" in blob:
            disc.load_state_dict(blob["discriminator"])
            d_opt.load_state_dict(blob["disc_optimizer"])
            d_steps = blob["disc_steps"]
        step, elapsed = blob["step"], blob["elapsed"]
        rng.setstate(blob["rng"])
        log({"event": "resumed", "step": step, "elapsed_s": round(elapsed, 1)})
    model.eval()  # frozen codebooks must not run their EMA / dead-code updates
    for e in encoders:
        e.eval()
    model.decoder.train()
    if joint:
        encoders[-1].train()
    n_pool = round(cfg.batch_size * cfg.pool_fraction)
    n_audio = cfg.batch_size - n_pool
    crops = CodeCrops(pool, cfg.frames, rng) if n_pool else None
    n = cfg.frames * mc.hop_length

    def save_state(step: int, elapsed: float) -> None:
        with atomic_open(state_path, "wb") as fh:
            torch.save({"decoder": model.decoder.state_dict(), "optimizer": opt.state_dict(),
                        "step": step, "elapsed": elapsed, "rng": rng.getstate(),
                        "base_sha256": base_sha,
                        **({"verifier": encoders[-1].state_dict(),
                            "verifier_optimizer": v_opt.state_dict()} if joint else {}),
                        **({"discriminator": disc.state_dict(), "disc_optimizer": d_opt.state_dict(),
                            "disc_steps": d_steps} if disc is not None else {})}, fh)

    loop = TrainLoop(cfg.minutes, elapsed, step, log, progress, save_state, cfg.checkpoint_every_s,
                     cfg.log_every, smoothing=0.95)
    while loop.going(cfg.max_steps):
        loop.set_lr(opt, cfg.lr)
        if joint:
            loop.set_lr(v_opt, cfg.verifier_lr)
        parts: dict[str, float] = {}
        loss = torch.zeros(())
        ys, codes = [], []
        if n_audio:
            x = audio(n_audio)
            with torch.no_grad():
                c = model.encode_codes(x[:, None])
            y = model.decode_codes(c)[:, 0, :n]
            rec = multiscale_mel_loss(y, x, mc.sample_rate)
            loss = loss + rec
            parts["mel"] = rec.item()
            ys.append(y)
            codes.append(c[:, 0])
        if n_pool:
            c = crops(n_pool)
            y = model.decode_codes(c)[:, 0, :n]
            if reference is not None:
                with torch.no_grad():
                    anchor = reference.decode_codes(c)[:, 0, :n]
                anc = multiscale_mel_loss(y, anchor, mc.sample_rate)
                loss = loss + cfg.anchor_weight * anc
                parts["anchor"] = anc.item()
            ys.append(y)
            codes.append(c[:, 0])
        y = torch.cat(ys)
        if disc is not None:
            loss = loss + _adversarial(disc, d_opt, x, y, cfg, d_steps, parts)
            d_steps += 1
        if rng.random() < cfg.edit_probability:
            y = random_edit(y, mc.sample_rate, rng, cfg.mp3_probability)
        for encoder in asked if cfg.consistency_weight > 0 else []:
            cons, agree = codebook1_consistency(model, y, torch.cat(codes), encoder)
            loss = loss + cfg.consistency_weight / len(asked) * cons
            name = "" if encoder is model.encoder else "_verifier"
            parts["consistency" + name] = cons.item()
            parts["agreement" + name] = agree
        opt.zero_grad(set_to_none=True)
        if joint:
            v_opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.decoder.parameters(), 10.0)
        opt.step()
        if joint:
            torch.nn.utils.clip_grad_norm_(encoders[-1].parameters(), 10.0)
            v_opt.step()
        loop.step_done(parts, lr=opt.param_groups[0]["lr"])
    running = loop.finish()
    step = loop.step
    model.eval()
    save_checkpoint(out, model, half=True, token_space=blob_token_space(base_blob), extra={"decoder_tuned": {
        "base_sha256": base_sha, "steps": step, **asdict(cfg), "corpus": str(corpus)}})
    summary = {"event": "done", "steps": step, "out": str(out), **running}
    if joint:
        from synth.compact_codec import save_verifier_encoder

        encoders[-1].eval()
        v_out = out.with_name(out.stem + ".verifier.pt")
        save_verifier_encoder(v_out, encoders[-1], mc, sha256_file(out),
                              extra={"train": {"jointly_with_decoder": True, "steps": step,
                                               "lr": cfg.verifier_lr, "init": cfg.verifier}})
        summary["verifier"] = str(v_out)
    log(summary)
    return summary


def _adversarial(disc: Discriminator, d_opt, real: torch.Tensor, fake: torch.Tensor,
                 cfg: DecoderTuneConfig, d_steps: int, parts: dict[str, float]) -> torch.Tensor:
    """One discriminator step, then the decoder's GAN and feature-matching terms.

    real [R, N] corpus crops, fake [B, N] decoded audio whose first R rows decode `real`'s
    codes (feature matching pairs those). Returns the decoder's loss term (0 in warm-up).
    """
    r = real.shape[0]
    # one window of each crop: half the discriminator's work, the same judgement per sample
    w = real.shape[-1] // 2
    start = int(torch.randint(0, real.shape[-1] - w + 1, ()))
    real, fake = real[:, start:start + w], fake[:, start:start + w]
    disc.requires_grad_(True)
    d_loss = discriminator_loss(disc(real[:, None]), disc(fake.detach()[:, None]))
    d_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    d_opt.step()
    parts["disc"] = d_loss.item()
    if d_steps < cfg.disc_warmup_steps:
        return fake.new_zeros(())
    disc.requires_grad_(False)  # the decoder's pass needs gradients for the audio only
    with torch.no_grad():
        real_scores = disc(real[:, None])
    fake_scores = disc(fake[:, None])
    adv = generator_loss(fake_scores)
    fm = feature_loss(real_scores, [(s[:r], [f[:r] for f in fs]) for s, fs in fake_scores])
    parts["adversarial"] = adv.item()
    parts["features"] = fm.item()
    return cfg.adversarial_weight * adv + cfg.feature_weight * fm


def pool_texts(corpus: str | Path) -> list[str]:
    """Training-split sentences of the corpus, de-duplicated, in a fixed order."""
    seen: dict[str, None] = {}
    for u in read_corpus(corpus, "train"):
        seen.setdefault(u.text, None)
    return list(seen)


def read_pool(path: Path) -> list[torch.Tensor]:
    """Codes [K, T] of a pool file written by `load_or_make_pool`."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        return [c.long() for c in blob["codes"]]
    except Exception as exc:
        raise ValueError(f"{path} is not a code pool written by `voxseal train decoder` "
                         f"({type(exc).__name__})") from None


def load_or_make_pool(path: Path, tts, corpus: str | Path, seconds: float, seed: int,
                      progress: Callable[[float], None] | None = None) -> list[torch.Tensor]:
    """The cached code pool at `path`, or a new one sampled and cached there."""
    if path.is_file():
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob.get("tts_sha256") == tts.checkpoint_sha256 and blob.get("seconds") >= seconds:
            return read_pool(path)
    texts = pool_texts(corpus)
    random.Random(seed).shuffle(texts)
    pool = sample_code_pool(tts, texts, seconds, seed, progress)
    with atomic_open(path, "wb") as fh:
        torch.save({"tts_sha256": tts.checkpoint_sha256, "seconds": seconds,
                    "codes": [c.to(torch.int16) for c in pool]}, fh)
    return [c.long() for c in pool]

