"""CLI commands of the synth package: corpus, codec, codec training, demo."""
from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import click
import numpy as np

from synth.console import emit_json, fraction_bar, progress_bar
from verify.specialists import SPECIALISTS


class UsageError(click.UsageError):
    pass


def _codec_options(f):
    f = click.option("--codec", "codec_name", default=None, metavar="NAME",
                     help="Codec backend: compact-16k (embedded default) or encodec-24k.")(f)
    f = click.option("--codec-checkpoint", type=click.Path(dir_okay=False), default=None,
                     help="Checkpoint file for the codec (default: the embedded one / torch hub cache).")(f)
    return f


def _load(codec_name, checkpoint, verifier: bool = False):
    from synth.codec import load_codec

    return load_codec(codec_name, checkpoint, verifier=verifier)


_verifier_opt = click.option(
    "--verifier", is_flag=True,
    help="Re-encode with the verifier-side encoder (what detection sees) instead of the codec's own.")


# ---------------------------------------------------------------- corpus
@click.group()
def corpus() -> None:
    """Build the multi-speaker training corpus from Debian's free synthesizers."""


@corpus.command("build")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--minutes", type=click.FloatRange(min=0.05), default=30.0, show_default=True,
              help="Total speech to synthesize (a tenth is held out for evaluation).")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same corpus.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def corpus_build(out: str, minutes: float, seed: int, as_json: bool) -> None:
    """Synthesize about MINUTES of English speech into OUT.

    \b
    Voices: espeak-ng variants, flite (awb, slt, kal16, rms), festival (kal,
    ked, slt-hts). Held out for evaluation: one sentence in ten (hash split)
    and every utterance of the voice flite-rms. Writes OUT/wavs/*.wav (16 kHz),
    OUT/metadata.jsonl (text, phonemes, phone end times, speaker, split) and
    OUT/corpus.json.
    """
    from synth.corpus import build_corpus

    with fraction_bar("synthesizing") as prog:
        summary = build_corpus(out, minutes, seed, progress=prog)
    if as_json:
        emit_json(summary)
    else:
        click.echo(f"{summary['utterances']} utterances, {summary['train_minutes']} min train, "
                   f"{summary['eval_minutes']} min eval, {len(summary['speakers'])} voices -> {out}")


# ---------------------------------------------------------------- training
@click.group()
def train() -> None:
    """Train the models VoxSeal ships (reproduces the embedded checkpoints)."""


@train.command("codec")
@click.option("--corpus", "corpus_dir", required=True, type=click.Path(file_okay=False),
              help="A corpus made by `voxseal corpus build`.")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Where to write the fp16 checkpoint; <out>.train.pt holds the resumable state.")
@click.option("--minutes", type=click.FloatRange(min=0.05), default=70.0, show_default=True,
              help="Wall-clock training budget (resuming continues the same budget).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--encoder", type=click.Choice(["seanet", "mel"]), default="seanet", show_default=True,
              help="seanet: a learned encoder, trained with the decoder; mel: a fixed log-mel analysis "
                   "(80 bands), only its normalisation and codebooks are fitted (k-means, about a "
                   "minute), and its decoder is left for `train decoder`.")
@click.option("--robust-cutoff-hz", type=click.FloatRange(min=0, max=8000), default=3500.0, show_default=True,
              help="With --encoder mel: codebook 1 reads the bands below this, floored (robust to "
                   "MP3, telephone-band resampling and mild noise); 0 = all bands, unfloored.")
@click.option("--silence-gate", type=float, default=None,
              help="With --encoder mel and a cutoff: frames quieter than this (log of the summed "
                   "magnitudes of codebook 1's bands) all take code 0; e.g. 3.0 (measured in "
                   "benchmarks/results/mel-codec/). Default: no gate.")
@click.option("--decoder-from", type=click.Path(exists=True, dir_okay=False), default=None,
              help="With --encoder mel: take over this mel codec's trained decoder (same analysis, "
                   "same corpus) instead of leaving a fresh one; `train decoder` then only tunes it.")
def train_codec_cmd(corpus_dir: str, out: str, minutes: float, seed: int, threads: int,
                    encoder: str, robust_cutoff_hz: float, silence_gate: float | None,
                    decoder_from: str | None) -> None:
    """Train the compact-16k codec on a corpus.

    Reproduce the embedded checkpoint with:

    \b
      voxseal corpus build data/corpus --minutes 30 --seed 0
      voxseal train codec --corpus data/corpus --out synth/assets/compact16k.pt --minutes 70

    Losses are logged as JSON lines to <out>.log. Interrupt at any time; run
    the same command again to resume from <out>.train.pt.

    With --encoder mel (measured, not shipped: benchmarks/results/mel-codec/) the
    command fits the analysis' codebooks and writes a codec whose decoder is then
    trained by `voxseal train decoder --codec-checkpoint OUT --out DEC
    --architecture istft --consistency-weight 0 --pool-fraction 0 ...` (the measured
    runs; --architecture also gives a fresh decoder's learning rate, 5e-4). The gated
    codec there was built from that one and its decoder tuned:

    \b
      voxseal train codec --encoder mel --corpus data/corpus --out runs/gate.pt \\
          --silence-gate 3.0 --decoder-from benchmarks/results/mel-codec/compact16k-mel.pt
      voxseal train decoder --corpus data/corpus --codec-checkpoint runs/gate.pt \\
          --out runs/gate-c.pt --minutes 25 --consistency-weight 0.1 --pool-fraction 0
    """
    from synth.codec import CodecError
    from synth.codec_train import TrainConfig, build_mel_codec, jsonl_logger, train_codec
    from synth.compact_codec import CompactConfig
    from synth.corpus import read_corpus

    if decoder_from is not None and encoder != "mel":
        raise click.BadParameter("needs --encoder mel", param_hint="--decoder-from")
    if silence_gate is not None and (encoder != "mel" or not robust_cutoff_hz):
        raise click.BadParameter("needs --encoder mel and a --robust-cutoff-hz above 0",
                                 param_hint="--silence-gate")
    read_corpus(corpus_dir, "train")  # fail early, with a one-line error, on a bad corpus
    if not Path(out).parent.is_dir():
        raise click.BadParameter(f"directory does not exist: {Path(out).parent}", param_hint="--out")
    log_path = Path(out + ".log")
    file_log = jsonl_logger(log_path)
    if encoder == "mel":
        import torch

        torch.set_num_threads(threads)
        mel = CompactConfig(encoder="mel", dimension=80, decoder="istft", robust_cutoff_hz=robust_cutoff_hz,
                            silence_gate=silence_gate)
        try:
            summary = build_mel_codec(corpus_dir, out, mel, seed=seed, log=file_log,
                                      decoder_from=decoder_from)
        except (ValueError, CodecError) as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(json.dumps(summary))
        return

    with fraction_bar("training codec") as prog:
        summary = train_codec(corpus_dir, out, TrainConfig(minutes=minutes, seed=seed,
                                                           threads=threads),
                              log=file_log, progress=prog)
    click.echo(json.dumps(summary))


@train.command("decoder")
@click.option("--corpus", "corpus_dir", required=True, type=click.Path(file_okay=False),
              help="The corpus the codec was trained on.")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Where to write the tuned fp16 codec; <out>.train.pt holds the resumable state, "
                   "<out>.pool.pt the cached TTS-sampled codes.")
@click.option("--codec-checkpoint", type=click.Path(dir_okay=False), required=True,
              help="The codec to tune (its encoder and codebooks stay as they are).")
@click.option("--tts-checkpoint", type=click.Path(dir_okay=False), default=None,
              help="The TTS whose sampled codes the decoder learns to render (default: the embedded one).")
@click.option("--minutes", type=click.FloatRange(min=0.05), default=40.0, show_default=True)
@click.option("--pool-seconds", type=click.FloatRange(min=10), default=900.0, show_default=True,
              help="Seconds of TTS-sampled codes to train on.")
@click.option("--architecture", type=click.Choice(["seanet", "istft"]), default=None,
              help="Train a fresh decoder of this kind (istft: ConvNeXt + inverse STFT) instead of "
                   "tuning the checkpoint's own.")
@click.option("--verifier", type=click.Path(dir_okay=False, exists=True), default=None,
              help="A verifier encoder that must also read the codes back (the one verification uses).")
@click.option("--verifier-lr", type=click.FloatRange(min=0, max=1e-1), default=0.0,
              help="Train the --verifier encoder jointly at this rate (0 = frozen); it alone is then "
                   "asked for consistency and is written to <out stem>.verifier.pt.")
@click.option("--lr", type=click.FloatRange(min=1e-7, max=1e-1), default=None,
              help="Learning rate (default 2e-4; 5e-4 for a fresh decoder).")
@click.option("--pool-fraction", type=click.FloatRange(min=0, max=1), default=None,
              help="Share of each batch from TTS-sampled codes (default 0.75; 0.25 for a fresh decoder).")
@click.option("--consistency-weight", type=click.FloatRange(min=0), default=None,
              help="Weight of the re-encoding term against the mel loss (default 0.5; 0.05 for a fresh "
                   "decoder: at 0.5 an ISTFT decoder learned consistency and no intelligibility).")
@click.option("--adversarial-weight", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Weight of a GAN term (slim period and STFT discriminators) against the mel loss; "
                   "0 = mel loss only.")
@click.option("--feature-weight", type=click.FloatRange(min=0), default=None,
              help="Weight of discriminator feature matching (default: twice --adversarial-weight).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True)
def train_decoder_cmd(corpus_dir, out, codec_checkpoint, tts_checkpoint, minutes, pool_seconds,
                      architecture, verifier, verifier_lr, lr, pool_fraction, consistency_weight,
                      adversarial_weight, feature_weight, seed, threads) -> None:
    """Tune the codec's decoder so re-encoding its audio gives back the codes.

    Encoder and codebooks are frozen: tokens, and the TTS trained on them, do not
    change. Tune the first codec's own SEANet decoder (after `train codec` and
    `train tts`) with:

    \b
      voxseal train decoder --corpus data/corpus --codec-checkpoint runs/compact16k.pt \\
          --out runs/compact16k.tuned.pt --minutes 50 --pool-seconds 900

    The embedded codec's decoder is a fresh ISTFT one (--architecture istft):
    trained on the mel loss alone (--consistency-weight 0 --pool-fraction 0), then
    resumed with --verifier-lr 1e-4, so the verifier encoder learns beside it, and a
    rising --consistency-weight (0.05, 0.25, 0.5), last on a 1800-second pool of
    sampled codes: the commands are step 5 of scripts/train_all.sh, the measurements
    in benchmarks/results/istft-decoder/.
    """
    from synth.codec import load_codec
    from synth.codec_train import jsonl_logger
    from synth.corpus import read_corpus
    from synth.decoder_train import DecoderTuneConfig, tune_decoder

    read_corpus(corpus_dir, "train")
    if not Path(out).parent.is_dir():
        raise click.BadParameter(f"directory does not exist: {Path(out).parent}", param_hint="--out")
    if Path(out).resolve() == Path(codec_checkpoint).resolve():
        raise click.BadParameter("--out must differ from --codec-checkpoint (the original is the "
                                 "quality anchor)", param_hint="--out")
    fresh = {"lr": 5e-4, "pool_fraction": 0.25, "consistency_weight": 0.05} if architecture else {}
    given = {k: v for k, v in (("lr", lr), ("pool_fraction", pool_fraction),
                               ("consistency_weight", consistency_weight)) if v is not None}
    try:
        cfg = DecoderTuneConfig(minutes=minutes, pool_seconds=pool_seconds, seed=seed, threads=threads,
                                architecture=architecture, verifier=verifier, verifier_lr=verifier_lr,
                                adversarial_weight=adversarial_weight, feature_weight=feature_weight,
                                **{**fresh, **given})
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    codec = load_codec("compact-16k", codec_checkpoint)
    if verifier:  # fail before minutes of sampling, not after
        from synth.codec import CodecError
        from synth.compact_codec import load_verifier_encoder

        try:
            load_verifier_encoder(verifier, codec.model, None)  # any decoder's, for these tokens
        except CodecError as exc:
            raise click.BadParameter(str(exc), param_hint="--verifier") from None
    # a decoder trained on corpus audio alone needs no sampled codes (nor a TTS for its codec)
    pool = _sampled_pool(out, tts_checkpoint, codec, corpus_dir, pool_seconds, seed, threads) \
        if cfg.pool_fraction > 0 else []
    try:
        with fraction_bar("tuning decoder") as prog:
            summary = tune_decoder(corpus_dir, codec_checkpoint, pool, out, cfg,
                                   log=jsonl_logger(Path(out + ".log")), progress=prog)
    except ValueError as exc:  # e.g. a resumable state of another codec, an empty pool
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(summary))


def _sampled_pool(out: str, tts_checkpoint, codec, corpus_dir, seconds: float, seed: int,
                  threads: int) -> list:
    """Codes the TTS samples with the watermark on, cached as <out>.pool.pt."""
    from synth.decoder_train import load_or_make_pool
    from synth.tts import load_tts

    tts = load_tts(tts_checkpoint, codec=codec)
    tts.threads = threads
    with fraction_bar("sampling codes") as prog:
        return load_or_make_pool(Path(out + ".pool.pt"), tts, corpus_dir, seconds, seed, prog)


@train.command("verifier")
@click.option("--corpus", "corpus_dir", required=True, type=click.Path(file_okay=False),
              help="A corpus made by `voxseal corpus build`.")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Verifier encoder file; ship it as <codec checkpoint stem>.verifier.pt.")
@click.option("--minutes", type=click.FloatRange(min=0.05), default=12.0, show_default=True)
@click.option("--codec-checkpoint", type=click.Path(dir_okay=False), default=None,
              help="The codec to tune for (default: the embedded compact-16k).")
@click.option("--code-pool", type=click.Path(dir_okay=False, exists=True), default=None,
              help="TTS-sampled codes to learn from: the <out>.pool.pt that `train decoder` wrote.")
@click.option("--tts-checkpoint", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Instead of --code-pool: sample the codes with this TTS (cached as <out>.pool.pt).")
@click.option("--pool-seconds", type=click.FloatRange(min=10), default=900.0, show_default=True,
              help="Seconds of codes to sample with --tts-checkpoint.")
@click.option("--lr", type=click.FloatRange(min=1e-7, max=1e-1), default=None,
              help="Learning rate (default 2e-4; 1e-4 with --specialist). A second, lower-rate pass "
                   "from --init sharpens the encoder.")
@click.option("--specialist", type=click.Choice(SPECIALISTS), default=None,
              help="Train a specialist encoder for one family of heavy edits (ship as "
                   "<stem>.<specialist>.pt; see verify/specialists.py).")
@click.option("--init", "init_path", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Start from this verifier encoder (default: the codec's own encoder).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True)
def train_verifier_cmd(corpus_dir, out, minutes, codec_checkpoint, code_pool, tts_checkpoint,
                       pool_seconds, lr, specialist, init_path, seed, threads) -> None:
    """Tune the verifier-side encoder for re-encoding consistency (decoder untouched).

    Reproduce the shipped one (three passes, then copy runs/compact16k.verifier.pt3.pt to
    synth/assets/compact16k.verifier.pt) with:

    \b
      voxseal train verifier --corpus data/corpus --out runs/compact16k.verifier.pt \\
          --minutes 15 --code-pool runs/compact16k.tuned.pt.pool.pt --threads 1
      voxseal train verifier --corpus data/corpus --out runs/compact16k.verifier.pt2.pt \\
          --init runs/compact16k.verifier.pt --lr 5e-5 --seed 1 --minutes 20 \\
          --code-pool runs/compact16k.tuned.pt.pool.pt --threads 1
      voxseal train verifier --corpus data/corpus --out runs/compact16k.verifier.pt3.pt \\
          --init runs/compact16k.verifier.pt2.pt --lr 1.25e-5 --seed 2 --minutes 12 \\
          --code-pool runs/compact16k.tuned.pt.pool.pt --threads 1

    The robust encoder (measured, not shipped; see verify/specialists.py):

    \b
      voxseal train verifier --corpus data/corpus --out runs/robust.verifier.pt \\
          --specialist robust --init synth/assets/compact16k.verifier.pt --minutes 25 \\
          --code-pool runs/compact16k.tuned.pt.pool.pt --threads 1
    """
    from synth.codec_train import jsonl_logger
    from synth.corpus import read_corpus
    from verify.encoder_train import VerifierTrainConfig, specialist_config, train_verifier_encoder

    read_corpus(corpus_dir, "train")
    if not Path(out).parent.is_dir():
        raise click.BadParameter(f"directory does not exist: {Path(out).parent}", param_hint="--out")
    if code_pool and tts_checkpoint:
        raise click.UsageError("give --code-pool or --tts-checkpoint, not both")
    pool = None
    if code_pool:
        from synth.decoder_train import read_pool

        try:
            pool = read_pool(Path(code_pool))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--code-pool") from None
    elif tts_checkpoint:
        from synth.codec import load_codec

        pool = _sampled_pool(out, tts_checkpoint, load_codec("compact-16k", codec_checkpoint), corpus_dir,
                             pool_seconds, seed, threads)
    with fraction_bar("training verifier encoder") as prog:
        cfg = VerifierTrainConfig(minutes=minutes, seed=seed, threads=threads, init=init_path)
        if specialist:
            cfg = specialist_config(cfg, specialist)
        if lr is not None:
            cfg = replace(cfg, lr=lr)
        summary = train_verifier_encoder(corpus_dir, out, cfg,
                                         codec_checkpoint, code_pool=pool,
                                         log=jsonl_logger(Path(out + ".log")), progress=prog)
    click.echo(json.dumps(summary))


# ---------------------------------------------------------------- codec
@click.group()
def codec() -> None:
    """Codec tools: info, encode, decode, stability, clusters."""


@codec.command("info")
@_codec_options
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def codec_info(codec_name, codec_checkpoint, as_json: bool) -> None:
    """Sample rate, frame rate, codebooks and checkpoint of a codec."""
    info = _load(codec_name, codec_checkpoint).info()
    if as_json:
        emit_json(info)
    else:
        for k, v in info.items():
            click.echo(f"{k}: {v}")


@codec.command("encode")
@click.argument("audio", type=click.Path())
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False),
              help="Output .npy: int16 array [K, T].")
@_codec_options
def codec_encode(audio: str, out: str, codec_name, codec_checkpoint) -> None:
    """Encode an audio file (any format) to codec tokens."""
    import torch

    from synth.audio import load_audio
    from synth.fileio import atomic_open

    c = _load(codec_name, codec_checkpoint)
    wav, _ = load_audio(audio, c.sample_rate)
    codes = c.encode(torch.from_numpy(wav)).numpy().astype(np.int16)
    _check_out_dir(out)
    with atomic_open(out, "wb") as fh:
        np.save(fh, codes)
    click.echo(f"{codes.shape[0]} codebooks x {codes.shape[1]} frames -> {out}")


def _check_out_dir(out: str) -> None:
    if not Path(out).parent.is_dir():
        raise click.BadParameter(f"output directory does not exist: {Path(out).parent}",
                                 param_hint="-o/--out")


@codec.command("decode")
@click.argument("codes", type=click.Path())
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False),
              help="Output audio; the format follows the suffix (wav, flac, mp3, ogg, ...).")
@_codec_options
def codec_decode(codes: str, out: str, codec_name, codec_checkpoint) -> None:
    """Decode a token array [K, T] (.npy from `codec encode`) to audio."""
    import torch

    from synth.audio import save_audio

    path = Path(codes)
    if not path.is_file():
        raise click.BadParameter(f"file not found: {codes}", param_hint="CODES")
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception:
        raise click.BadParameter(f"not a .npy token array: {codes}", param_hint="CODES") from None
    if arr.ndim != 2 or arr.dtype.kind not in "iu":
        raise click.BadParameter(f"expected an integer array [K, T], got {arr.dtype} "
                                 f"{list(arr.shape)}", param_hint="CODES")
    c = _load(codec_name, codec_checkpoint)
    _check_out_dir(out)
    wav = c.decode(torch.from_numpy(arr.astype(np.int64))).numpy()
    save_audio(out, wav, c.sample_rate)
    click.echo(f"{len(wav) / c.sample_rate:.2f} s -> {out}")


def _clips(files: tuple[str, ...], sample_rate: int) -> list[np.ndarray]:
    from synth.audio import load_audio

    paths: list[Path] = []
    for f in files:
        p = Path(f)
        paths.extend(sorted(q for q in p.rglob("*") if q.suffix.lower() in
                            {".wav", ".flac", ".mp3", ".ogg", ".m4a", ".opus"}) if p.is_dir() else [p])
    if not paths:
        raise click.UsageError("no audio files given")
    return [load_audio(p, sample_rate)[0] for p in paths]


@codec.command("stability")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--edits", default=None, metavar="A,B,...",
              help="Subset of edits (default: all). Names: clean, mp3-32k, aac-64k, opus-24k, "
                   "resample-8k, resample-44k1, noise-30db, noise-20db, shift-quarter, "
                   "shift-half, speed-0.95, speed-1.05.")
@_codec_options
@_verifier_opt
@click.option("--json", "as_json", is_flag=True, help="Print {edit: [agreement per codebook]}.")
def codec_stability(files, edits, codec_name, codec_checkpoint, verifier: bool, as_json: bool) -> None:
    """Per-codebook token agreement of encode(edit(decode(encode(x)))) with encode(x).

    FILES may be audio files or directories (searched recursively).
    """
    from synth.edits import stability_edits
    from synth.stability import measure_stability

    c = _load(codec_name, codec_checkpoint)
    table = stability_edits(c.hop_length)
    if edits:
        names = [e.strip() for e in edits.split(",") if e.strip()]
        unknown = [n for n in names if n not in table]
        if unknown:
            raise click.BadParameter(f"unknown edit(s): {', '.join(unknown)}", param_hint="--edits")
        table = {n: table[n] for n in names}
    clips = _clips(files, c.sample_rate)
    reencoder = _load(codec_name, codec_checkpoint, verifier=True) if verifier else None
    with progress_bar("measuring", len(clips)) as advance:
        agreement, _ = measure_stability(c, clips, table, reencoder=reencoder, progress=advance)
    if as_json:
        emit_json({"codec": c.name, "clips": len(clips), "agreement": agreement})
        return
    from rich.table import Table

    from synth.console import stderr

    t = Table(title=f"token agreement after re-encoding ({c.name}, {len(clips)} clips)")
    t.add_column("edit")
    for k in range(c.n_codebooks):
        t.add_column(f"cb{k + 1}", justify="right")
    for name, vals in agreement.items():
        t.add_row(name, *[f"{v:.3f}" for v in vals])
    stderr.print(t)


@codec.command("clusters")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False),
              help="Output cluster map (.npz), loaded by the watermark.")
@click.option("--clusters", "n_clusters", type=int, default=64, show_default=True,
              help="Number of clusters (must divide the codebook size).")
@click.option("--codebook", type=click.IntRange(min=1), default=1, show_default=True,
              help="Which codebook (1-based) to cluster; the watermark marks codebook 1.")
@_codec_options
@_verifier_opt
@click.option("--json", "as_json", is_flag=True)
def codec_clusters(files, out, n_clusters, codebook, codec_name, codec_checkpoint, verifier, as_json):
    """Balanced clusters of mutually confusable tokens, from measured re-encoding confusions.

    Re-encodes FILES under every stability edit, counts which code turns into
    which, and cuts the codebook into equal-size groups that re-encoding
    mostly keeps apart. The watermark colours clusters instead of single
    tokens, so a token flipped to a confusable neighbour keeps its colour.
    """
    from synth.edits import stability_edits
    from synth.stability import balanced_clusters, cluster_agreement, measure_stability
    from watermark.clusters import ClusterMap

    c = _load(codec_name, codec_checkpoint)
    if n_clusters < 2 or c.codebook_size % n_clusters:
        raise click.BadParameter(f"{n_clusters} must be >= 2 and divide {c.codebook_size}",
                                 param_hint="--clusters")
    if codebook > c.n_codebooks:
        raise click.BadParameter(f"this codec has {c.n_codebooks} codebooks", param_hint="--codebook")
    _check_out_dir(out)
    clips = _clips(files, c.sample_rate)
    started = time.time()
    reencoder = _load(codec_name, codec_checkpoint, verifier=True) if verifier else None
    with progress_bar("measuring confusions", len(clips)) as advance:
        _, confusion = measure_stability(c, clips, stability_edits(c.hop_length), reencoder=reencoder,
                                         confusion_codebooks=codebook, progress=advance)
    conf = confusion[codebook - 1]
    cluster_of = balanced_clusters(conf, c.codewords(codebook - 1), n_clusters)
    cmap = ClusterMap.from_array(cluster_of, n_clusters)
    cmap.save(out)
    result = {"out": out, "clips": len(clips), "codebook": codebook, "clusters": n_clusters,
              "fingerprint": cmap.fingerprint,
              "token_agreement": round(float(np.trace(conf) / max(conf.sum(), 1)), 4),
              "cluster_agreement_in_sample": round(cluster_agreement(conf, cluster_of), 4),
              "seconds": round(time.time() - started, 1)}
    if as_json:
        emit_json(result)
    else:
        click.echo(f"codebook {codebook}: token agreement {result['token_agreement']:.3f}, "
                   f"cluster agreement {result['cluster_agreement_in_sample']:.3f} (in-sample) "
                   f"-> {out}")


# ---------------------------------------------------------------- generate
@click.command("generate")
@click.argument("text", required=False)
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False),
              help="Output audio file (its directory must exist).")
@click.option("--text-file", type=click.File("r", encoding="utf-8"), default=None,
              help="Read the text from a file ('-' for stdin) instead of TEXT.")
@click.option("--voice", default=None, help="A corpus voice by name (see `voxseal tts voices`).")
@click.option("--prompt", type=click.Path(dir_okay=False), default=None,
              help="A 3-10 s enrolment clip of the voice to speak in (any audio format).")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same audio.")
@click.option("--format", "fmt", type=click.Choice(["wav", "flac", "mp3"]), default=None,
              help="Output format (default: from the suffix of OUT, else wav).")
@click.option("--no-watermark", is_flag=True,
              help="For evaluation only: no watermark; the manifest says so.")
@click.option("--include-text", is_flag=True, help="Put the text itself in the manifest (default: its hash).")
@click.option("--consent", default=None, metavar="REF",
              help="Consent reference for the voice prompt, recorded in the manifest.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the record: path, manifest id, payload, key id, duration, seconds taken.")
def generate(text, out, text_file, voice, prompt, seed, fmt, no_watermark, include_text, consent, as_json):
    """Speak TEXT with a keyed watermark in the sampled codec tokens and a signed manifest.

    
    The file gets an embedded C2PA manifest (action c2pa.created, source type
    trainedAlgorithmicMedia, a soft binding to the watermark payload), a registry
    row and a transparency-log entry. Needs `voxseal init` first.
    
    Examples:
      voxseal generate "Hello there." -o hello.wav
      voxseal generate --text-file story.txt --voice festival-kal -o story.flac
      voxseal generate "Hi." --prompt me.wav --consent "form-2026-114" -o hi.mp3
    """
    from provenance import open_home
    from synth.generate import generate_file

    if text_file is not None:
        if text is not None:
            raise click.UsageError("give TEXT or --text-file, not both")
        text = text_file.read()
    if text is None:
        raise click.UsageError("give the TEXT to speak (or --text-file)")
    if voice and prompt:
        raise click.UsageError("give --voice or --prompt, not both")
    home = open_home()
    rec = generate_file(text, out, home=home, voice=voice, prompt=prompt, seed=seed, fmt=fmt,
                        watermark=not no_watermark, include_text=include_text, consent=consent,
                        progress=not as_json)
    if as_json:
        emit_json(rec.to_dict())
    else:
        mark = f"payload {rec.payload}" if rec.watermarked else "NO watermark (evaluation)"
        click.echo(f"{rec.path}: {rec.duration_s:.2f} s, {mark}, manifest {rec.manifest_id} "
                   f"({rec.seconds_taken:.1f} s, RTF {rec.real_time_factor:.2f})")


# ---------------------------------------------------------------- demo
@click.command("demo")
@click.option("--out-dir", type=click.Path(file_okay=False), default="demo-output", show_default=True,
              help="Where the demo writes its clip.")
@click.option("--text", default="The old farmer carried a wooden box near the station. Then the captain "
              "cleaned two red apples in the museum before the storm.", show_default=True,
              help="What to say; the mark needs about 5 s of speech to reach p < 1e-6.")
@click.option("--json", "as_json", is_flag=True)
def demo(out_dir: str, text: str, as_json: bool) -> None:
    """The main job on the embedded defaults: init, generate one sentence, verify it.

    Uses the VoxSeal home (VOXSEAL_HOME, default ~/.voxseal), creating it if needed;
    writes OUT_DIR/demo.wav with its signed manifest, then runs the verifier on it.
    """
    from provenance import initialise, open_home
    from synth.generate import generate_file
    from verify.verifier import Verifier

    try:
        home = open_home()
    except Exception:
        initialise()
        home = open_home()
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    out = Path(out_dir) / "demo.wav"
    if out.exists():
        out.unlink()  # a manifest is attached once; the demo makes a new generation each run
    rec = generate_file(text, out, home=home, seed=0, progress=not as_json)
    verifier = Verifier([home.load_watermark_key()], home=home, trust_pem=home.trust_anchors_pem())
    result = verifier.verify(out)
    if as_json:
        emit_json({"generate": rec.to_dict(), "verify": result.to_dict()})
        return
    click.echo(f"generated {rec.path}: {rec.duration_s:.2f} s in {rec.seconds_taken:.1f} s, "
               f"payload {rec.payload}, manifest {rec.manifest_id}")
    click.echo(f"verified  {result.path}: {result.verdict.upper()}  p = {result.p_value:.3g}, "
               f"payload {result.payload}, manifest {result.manifest['state']} "
               f"({result.seconds:.2f} s)")


COMMANDS = [corpus, train, codec, generate, demo]


# ---------------------------------------------------------------- TTS (synth/tts*.py)
@train.command("tts")
@click.option("--corpus", "corpus_dir", required=True, type=click.Path(file_okay=False),
              help="A corpus made by `voxseal corpus build`.")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Where to write the fp16 checkpoint; <out>.train.pt holds the resumable state, "
                   "<out>.cache.pt the corpus' codec tokens, <out>.log the losses.")
@click.option("--minutes", type=click.FloatRange(min=0.05), default=40.0, show_default=True,
              help="Wall-clock training budget (resuming continues the same budget).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--max-steps", type=click.IntRange(min=1), default=None, help="Stop after this many steps.")
@click.option("--fp32", is_flag=True,
              help="Train in float32 (default: bfloat16 autocast where the CPU has it).")
@_codec_options
def train_tts_cmd(corpus_dir: str, out: str, minutes: float, seed: int, threads: int, batch_size: int,
                  max_steps: int | None, fp32: bool, codec_name, codec_checkpoint) -> None:
    """Train the reference TTS (duration predictor, AR and NAR codec LMs) on a corpus.

    Reproduce the shipped checkpoint with:

    \b
      voxseal corpus build data/corpus-240 --minutes 240 --seed 0
      voxseal train tts --corpus data/corpus-240 --out runs/tts240/tts.pt --minutes 35
      cp runs/tts240/tts.pt synth/assets/tts.pt

    (about 2090 steps on 2 cores; scripts/train_all.sh has the whole chain).

    (--out outside synth/assets keeps the 140 MB training state and the
    token cache out of the package.) Losses are logged as JSON lines to
    <out>.log. Interrupt at any time; run the same command again to resume
    from <out>.train.pt. A state trained on another codec checkpoint is
    refused.
    """
    from synth.codec_train import jsonl_logger
    from synth.corpus import read_corpus
    from synth.tts_train import TTSTrainConfig, train_tts

    read_corpus(corpus_dir, "train")  # fail early, with a one-line error, on a bad corpus
    if not Path(out).parent.is_dir():
        raise click.BadParameter(f"directory does not exist: {Path(out).parent}", param_hint="--out")
    file_log = jsonl_logger(Path(out + ".log"))
    codec = _load(codec_name, codec_checkpoint)
    with fraction_bar("training tts") as prog:
        summary = train_tts(corpus_dir, out, TTSTrainConfig(minutes=minutes, seed=seed, threads=threads,
                                                            batch_size=batch_size, max_steps=max_steps,
                                                            bf16=not fp32),
                            codec=codec, log=file_log, progress=prog)
    click.echo(json.dumps(summary))


@click.group("tts")
def tts_group() -> None:
    """The reference TTS model: its voices and checkpoint."""


@tts_group.command("voices")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="TTS checkpoint (default: the shipped synth/assets/tts.pt).")
@click.option("--json", "as_json", is_flag=True)
def tts_voices(checkpoint, as_json: bool) -> None:
    """List the named voices of a TTS checkpoint."""
    import warnings

    from synth.tts import load_tts

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tts = load_tts(checkpoint)
    if as_json:
        emit_json({"voices": tts.voices, "default": tts.default_voice, "codec_mismatch": tts.codec_mismatch})
        return
    for v in tts.voices:
        click.echo(v + (" (default)" if v == tts.default_voice else ""))
    if tts.codec_mismatch:
        click.echo(f"warning: {tts.codec_mismatch}", err=True)


COMMANDS.append(tts_group)
