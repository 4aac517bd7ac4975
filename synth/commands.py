"""CLI commands of the synth package: corpus, codec, codec training, demo."""
from __future__ import annotations

import json
import time
from pathlib import Path

import click
import numpy as np

from synth.console import emit_json, progress_bar


class UsageError(click.UsageError):
    pass


def _codec_options(f):
    f = click.option("--codec", "codec_name", default=None, metavar="NAME",
                     help="Codec backend: compact-16k (embedded default) or encodec-24k.")(f)
    f = click.option("--codec-checkpoint", type=click.Path(dir_okay=False), default=None,
                     help="Checkpoint file for the codec (default: the embedded one / torch hub cache).")(f)
    return f


def _load(codec_name, checkpoint):
    from synth.codec import load_codec

    return load_codec(codec_name, checkpoint)


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

    with progress_bar("synthesizing", 1000) as advance:
        done = [0]

        def prog(frac: float) -> None:
            n = int(frac * 1000)
            advance(n - done[0])
            done[0] = n

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
def train_codec_cmd(corpus_dir: str, out: str, minutes: float, seed: int, threads: int) -> None:
    """Train the compact-16k codec on a corpus.

    Reproduce the embedded checkpoint with:

    \b
      voxseal corpus build data/corpus --minutes 30 --seed 0
      voxseal train codec --corpus data/corpus --out synth/assets/compact16k.pt --minutes 70

    Losses are logged as JSON lines to <out>.log. Interrupt at any time; run
    the same command again to resume from <out>.train.pt.
    """
    from synth.codec_train import TrainConfig, jsonl_logger, train_codec
    from synth.corpus import read_corpus

    read_corpus(corpus_dir, "train")  # fail early, with a one-line error, on a bad corpus
    if not Path(out).parent.is_dir():
        raise click.BadParameter(f"directory does not exist: {Path(out).parent}", param_hint="--out")
    log_path = Path(out + ".log")
    file_log = jsonl_logger(log_path)

    with progress_bar("training codec", 1000) as advance:
        done = [0]

        def prog(frac: float) -> None:
            n = int(frac * 1000)
            advance(n - done[0])
            done[0] = n

        summary = train_codec(corpus_dir, out, TrainConfig(minutes=minutes, seed=seed,
                                                           threads=threads),
                              log=file_log, progress=prog)
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
@click.option("--json", "as_json", is_flag=True, help="Print {edit: [agreement per codebook]}.")
def codec_stability(files, edits, codec_name, codec_checkpoint, as_json: bool) -> None:
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
    with progress_bar("measuring", len(clips)) as advance:
        agreement, _ = measure_stability(c, clips, table, progress=advance)
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
@click.option("--clusters", "n_clusters", type=int, default=16, show_default=True,
              help="Number of clusters (must divide the codebook size).")
@click.option("--codebook", type=click.IntRange(min=1), default=1, show_default=True,
              help="Which codebook (1-based) to cluster; the watermark marks codebook 1.")
@_codec_options
@click.option("--json", "as_json", is_flag=True)
def codec_clusters(files, out, n_clusters, codebook, codec_name, codec_checkpoint, as_json):
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
    with progress_bar("measuring confusions", len(clips)) as advance:
        _, confusion = measure_stability(c, clips, stability_edits(c.hop_length),
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


# ---------------------------------------------------------------- demo
@click.command("demo")
@click.option("--json", "as_json", is_flag=True)
def demo(as_json: bool) -> None:
    """The main job on the embedded default: a codec round trip of the shipped sample."""
    import torch

    from synth.audio import load_audio
    from synth.codec import load_codec

    sample = Path(__file__).parent / "assets" / "sample.wav"
    c = load_codec()
    wav, _ = load_audio(sample, c.sample_rate)
    t0 = time.time()
    codes = c.encode(torch.from_numpy(wav))
    t1 = time.time()
    rec = c.decode(codes).numpy()[: len(wav)]
    t2 = time.time()
    again = c.encode(torch.from_numpy(rec))
    agree = float((again[0] == codes[0]).float().mean())
    result = {"sample": str(sample), "seconds": round(len(wav) / c.sample_rate, 2),
              "codes": list(codes.shape), "encode_x_realtime": round(len(wav) / c.sample_rate / (t1 - t0), 1),
              "decode_x_realtime": round(len(wav) / c.sample_rate / (t2 - t1), 1),
              "codebook1_reencode_agreement": round(agree, 3)}
    if as_json:
        emit_json(result)
    else:
        click.echo(f"codec {c.name}: {result['seconds']} s sample -> tokens {result['codes']} "
                   f"(encode {result['encode_x_realtime']}x, decode {result['decode_x_realtime']}x "
                   f"real time); codebook-1 re-encode agreement {agree:.3f}")


COMMANDS = [corpus, train, codec, demo]


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
      voxseal corpus build data/corpus --minutes 30 --seed 0
      voxseal train tts --corpus data/corpus --out synth/assets/tts.pt --minutes 40

    Losses are logged as JSON lines to <out>.log. Interrupt at any time; run
    the same command again to resume from <out>.train.pt. A state trained on
    another codec checkpoint is refused.
    """
    from synth.codec_train import jsonl_logger
    from synth.corpus import read_corpus
    from synth.tts_train import TTSTrainConfig, train_tts

    read_corpus(corpus_dir, "train")  # fail early, with a one-line error, on a bad corpus
    if not Path(out).parent.is_dir():
        raise click.BadParameter(f"directory does not exist: {Path(out).parent}", param_hint="--out")
    file_log = jsonl_logger(Path(out + ".log"))
    codec = _load(codec_name, codec_checkpoint)
    with progress_bar("training tts", 1000) as advance:
        done = [0]

        def prog(frac: float) -> None:
            n = int(frac * 1000)
            advance(n - done[0])
            done[0] = n

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
