"""Training the reference TTS (`voxseal train tts`): one loop for all three networks.

Every step draws one batch of (prompt, target) pairs and sums three losses:
the AR cross-entropy on codebook 1 (teacher forced), the NAR cross-entropy on
one random codebook 2..K per sequence, and the duration predictor's MSE on
log(1 + frames) of every phone of a batch of whole utterances. One AdamW
optimiser, linear warm-up, then cosine decay over the *time* budget, so a
short and a long run both end annealed.

Time-budgeted and resumable: the full state (fp32 weights, optimiser, step,
elapsed seconds, RNG states, codec sha256) goes to `<out>.train.pt` every
`checkpoint_every_s`; running the same command again continues until the
budget is spent, and a finished run just re-exports. A state made with another
codec checkpoint is refused (its cached tokens would be meaningless). Losses
are written as JSON lines (`log`), with an AR loss on the corpus' eval split
(seen voices, unseen sentences) at each checkpoint.

The exported checkpoint (`out`) holds fp16 weights, the model config, the
named voices (a 3 s enrolment prompt of codec tokens from each speaker's
training audio and a speaking-rate factor), and the codec it was trained with.
"""
from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from synth.fileio import atomic_open
from synth.frontend import PHONES
from synth.tts_data import (
    Batcher,
    Item,
    collate,
    duration_batch,
    frame_layout,
    load_or_build_cache,
    speaker_ids,
    voice_prompt,
)
from synth.tts_model import TTSConfig, TTSModel

CHECKPOINT_FORMAT = "voxseal-tts-1"
STATE_FORMAT = "voxseal-tts-train-1"
PROMPT_FRAMES = 150  # enrolment prompt stored for each named voice (3 s at 50 Hz)


class TTSTrainError(Exception):
    exit_code = 4


@dataclass
class TTSTrainConfig:
    minutes: float = 40.0
    batch_size: int = 8
    max_frames: int = 350  # 7 s: every corpus utterance whole (the longest is 6.8 s)
    prompt_frames: tuple[int, int] = (100, 150)
    dur_batch: int = 16
    lr: float = 1e-3
    min_lr_fraction: float = 0.05
    warmup_steps: int = 150
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0
    threads: int = 2
    checkpoint_every_s: float = 120.0
    log_every: int = 10
    max_steps: int | None = None  # stop early (tests); None = spend the time budget
    bf16: bool = True  # bfloat16 autocast for the forward pass (fp32 weights); ~1.9x faster on AVX512-BF16
    model: dict = field(default_factory=dict)  # TTSConfig overrides (tests use tiny models)


def cpu_has_bf16() -> bool:
    """True when the CPU computes bfloat16 natively (AVX512-BF16 or AMX); emulated bf16 is slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _lr(cfg: TTSTrainConfig, step: int, frac: float) -> float:
    warm = min(1.0, (step + 1) / max(1, cfg.warmup_steps))
    cos = cfg.min_lr_fraction + (1 - cfg.min_lr_fraction) * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))
    return cfg.lr * warm * cos


def losses(model: TTSModel, batch: dict, dur: tuple[torch.Tensor, torch.Tensor], rng: random.Random
           ) -> dict[str, torch.Tensor]:
    """The three training losses of one batch (and AR accuracy, for the log)."""
    codes, mask = batch["codes"], batch["mask"]
    k = codes.shape[1]
    cond = model.ar.cond(batch["phones"], batch["frame_phone"], batch["feat"])
    logits = model.ar(batch["prompt"], codes[:, 0], cond).float()
    tgt = codes[:, 0].masked_fill(~mask, -100)
    ar = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=-100)
    with torch.no_grad():
        acc = ((logits.argmax(-1) == codes[:, 0]) & mask).sum() / mask.sum()
    stage = torch.tensor([rng.randrange(1, k) for _ in range(codes.shape[0])])
    cond_n = model.nar.cond(batch["phones"], batch["frame_phone"], batch["feat"])
    nl = model.nar(batch["prompt"], codes, cond_n, stage, mask).float()
    ntgt = codes[torch.arange(codes.shape[0]), stage].masked_fill(~mask, -100)
    nar = F.cross_entropy(nl.reshape(-1, nl.shape[-1]), ntgt.reshape(-1), ignore_index=-100)
    phones, durs = dur
    pred = model.dur(phones).float()
    valid = durs >= 0
    dl = F.mse_loss(pred[valid], torch.log1p(durs[valid].float()))
    return {"ar": ar, "nar": nar, "dur": dl, "ar_acc": acc}


@torch.no_grad()
def eval_ar_loss(model: TTSModel, evals: list[Item], items: list[Item], max_items: int = 24) -> float | None:
    """AR cross-entropy on eval utterances, each prompted by its speaker's fixed voice prompt."""
    if not evals:
        return None
    was = model.training
    model.eval()
    total, n = 0.0, 0
    prompts = {s: voice_prompt(items, s, PROMPT_FRAMES).long() for s in speaker_ids(items)}
    for it in evals[:max_items]:
        if it.speaker not in prompts:
            continue
        idx, feat = frame_layout(it.durs)
        b = collate([prompts[it.speaker]], [(it.codes.long(), it.phones, idx, feat)])
        cond = model.ar.cond(b["phones"], b["frame_phone"], b["feat"])
        logits = model.ar(b["prompt"], b["codes"][:, 0], cond)
        total += float(F.cross_entropy(logits[0], b["codes"][0, 0], reduction="sum"))
        n += b["codes"].shape[-1]
    model.train(was)
    return total / n if n else None


@torch.no_grad()
def rate_factors(model: TTSModel, items: list[Item]) -> dict[str, float]:
    """Per speaker: actual frames / predicted frames over its training utterances."""
    was = model.training
    model.eval()
    act: dict[str, float] = {}
    pred: dict[str, float] = {}
    for it in items:
        p = torch.expm1(model.dur(it.phones[None])[0]).clamp(min=0).sum()
        act[it.speaker] = act.get(it.speaker, 0.0) + float(it.durs.sum())
        pred[it.speaker] = pred.get(it.speaker, 0.0) + float(p)
    model.train(was)
    return {s: round(min(2.0, max(0.5, act[s] / max(pred[s], 1.0))), 4) for s in act}


def g2p_language(speaker: str) -> str:
    """espeak-ng language for a voice's G2P: its own accent for espeak-ng voices (their training
    phones came from it), US English for flite and festival (American lexicons)."""
    from synth.corpus import VOICES_BY_NAME

    v = VOICES_BY_NAME.get(speaker)
    if v is not None and v.engine == "espeak-ng" and "-v" in v.args:
        return v.args[v.args.index("-v") + 1].split("+")[0]
    return "en-us"


def export_checkpoint(model: TTSModel, items: list[Item], codec, out: str | Path, info: dict) -> dict:
    """Write the shipped fp16 checkpoint; returns its metadata."""
    rates = rate_factors(model, items)
    voices = {s: {"prompt": voice_prompt(items, s, PROMPT_FRAMES).to(torch.int16), "rate": rates[s],
                  "language": g2p_language(s)}
              for s in speaker_ids(items)}
    blob = {
        "format": CHECKPOINT_FORMAT,
        "config": model.cfg.to_dict(),
        "phones": list(PHONES),
        "state_dict": {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()},
        "voices": voices,
        "codec": {"name": codec.name, "sha256": codec.checkpoint_sha256, "token_space": codec.token_space,
                  "sample_rate": codec.sample_rate,
                  "frame_rate": codec.frame_rate, "n_codebooks": codec.n_codebooks,
                  "codebook_size": codec.codebook_size},
        "training": info,
    }
    with atomic_open(out, "wb") as fh:
        torch.save(blob, fh)
    return {"voices": sorted(voices), "rates": rates, "bytes": Path(out).stat().st_size}


def _save_state(path: Path, model, opt, step: int, elapsed: float, rng: random.Random, codec_sha, cfg,
                losses_hist: list) -> None:
    state = {"format": STATE_FORMAT, "model": model.state_dict(), "opt": opt.state_dict(), "step": step,
             "elapsed": elapsed, "rng": rng.getstate(), "torch_rng": torch.get_rng_state(),
             "codec_sha256": codec_sha, "config": model.cfg.to_dict(), "train": asdict(cfg),
             "history": losses_hist}
    with atomic_open(path, "wb") as fh:
        torch.save(state, fh)


def train_tts(corpus_dir: str, out: str, cfg: TTSTrainConfig, *, codec=None,
              log: Callable[[dict], None] | None = None,
              progress: Callable[[float], None] | None = None) -> dict:
    """Train (or resume) for `cfg.minutes` of wall time, then export `out`. Returns a summary."""
    from synth.codec import load_codec

    torch.set_num_threads(cfg.threads)
    log = log or (lambda rec: None)
    codec = codec or load_codec()
    out_p = Path(out)
    state_p = Path(out + ".train.pt")
    t_cache = time.time()
    items, evals = load_or_build_cache(corpus_dir, codec, out + ".cache.pt")
    cache_s = time.time() - t_cache
    mcfg = TTSConfig(**{**TTSConfig(n_codebooks=codec.n_codebooks, codebook_size=codec.codebook_size,
                                    frame_rate=codec.frame_rate).to_dict(), **cfg.model})
    torch.manual_seed(cfg.seed)
    model = TTSModel(mcfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.98), weight_decay=cfg.weight_decay)
    rng = random.Random(cfg.seed)
    step, elapsed, history = 0, 0.0, []
    if state_p.is_file():
        try:
            st = torch.load(state_p, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise TTSTrainError(f"cannot read training state {state_p}: {exc}; delete it to start "
                                "over") from None
        if st.get("format") != STATE_FORMAT:
            raise TTSTrainError(f"{state_p} is not a TTS training state; delete it to start over")
        if st.get("codec_sha256") != codec.checkpoint_sha256:
            raise TTSTrainError(
                f"{state_p} was trained with codec {str(st.get('codec_sha256'))[:12]}, this codec is "
                f"{str(codec.checkpoint_sha256)[:12]}; delete the state to retrain on the new codec")
        if st.get("config") != mcfg.to_dict():
            raise TTSTrainError(f"{state_p} holds a model of another configuration; delete it to start over")
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step, elapsed, history = st["step"], st["elapsed"], st.get("history", [])
        rng.setstate(st["rng"])
        torch.set_rng_state(st["torch_rng"])
        log({"event": "resume", "step": step, "elapsed_s": round(elapsed, 1)})
    else:
        log({"event": "start", "items": len(items), "eval_items": len(evals),
             "frames": int(sum(it.codes.shape[-1] for it in items)), "params": model.n_params(),
             "codec_sha256": codec.checkpoint_sha256, "cache_s": round(cache_s, 1),
             "bf16": cfg.bf16 and cpu_has_bf16()})
    batcher = Batcher(items, rng, max_frames=cfg.max_frames, prompt_frames=cfg.prompt_frames)
    budget = cfg.minutes * 60.0
    bf16 = cfg.bf16 and cpu_has_bf16()
    model.train()
    t0 = time.time() - elapsed
    last_ckpt = time.time()
    acc: dict[str, float] = {}
    n_acc = 0

    def done() -> bool:
        return (time.time() - t0) >= budget or (cfg.max_steps is not None and step >= cfg.max_steps)

    while not done():
        lr = _lr(cfg, step, (time.time() - t0) / budget)
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            ls = losses(model, batcher(cfg.batch_size), duration_batch(items, rng, cfg.dur_batch), rng)
        loss = ls["ar"] + ls["nar"] + ls["dur"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        for k, v in ls.items():
            acc[k] = acc.get(k, 0.0) + float(v.detach())
        n_acc += 1
        if step % cfg.log_every == 0 or done():
            rec = {"step": step, "elapsed_s": round(time.time() - t0, 1), "lr": round(lr, 6),
                   **{f"{k}_loss" if k != "ar_acc" else k: round(v / n_acc, 4) for k, v in acc.items()}}
            history.append(rec)
            log(rec)
            acc, n_acc = {}, 0
        if progress:
            progress(min(1.0, (time.time() - t0) / budget))
        if time.time() - last_ckpt >= cfg.checkpoint_every_s and not done():
            ev = eval_ar_loss(model, evals, items)
            log({"step": step, "elapsed_s": round(time.time() - t0, 1), "eval_ar_loss": ev,
                 "event": "checkpoint"})
            _save_state(state_p, model, opt, step, time.time() - t0, rng, codec.checkpoint_sha256, cfg,
                        history)
            last_ckpt = time.time()
    elapsed = time.time() - t0
    _save_state(state_p, model, opt, step, elapsed, rng, codec.checkpoint_sha256, cfg, history)
    ev = eval_ar_loss(model, evals, items)
    info = {"steps": step, "minutes": round(elapsed / 60, 2), "items": len(items),
            "final": history[-1] if history else None, "eval_ar_loss": ev, "seed": cfg.seed,
            "train_config": asdict(cfg)}
    meta = export_checkpoint(model, items, codec, out_p, info)
    summary = {"out": str(out_p), "steps": step, "minutes": round(elapsed / 60, 2),
               "params": model.n_params(),
               "checkpoint_mb": round(meta["bytes"] / 1e6, 2), "voices": meta["voices"],
               "eval_ar_loss": None if ev is None else round(ev, 4),
               "final": history[-1] if history else None}
    log({"event": "export", **summary})
    return summary
