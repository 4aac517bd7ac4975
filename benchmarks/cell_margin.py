"""What rendering codes to keep codebook 1's cell costs and buys, per margin (synth/cell_search.py).

    .venv/bin/python benchmarks/cell_margin.py [--codec-checkpoint CKPT] [--margins 0,0.25,0.5,1]
        [--clips 20] [--tts-clips 6] [--tts CKPT]

For each margin (times the median squared distance between neighbouring keys; 0 = the
codes as given), on held-out clips of the training voices and of the held-out voice:
the share of frames whose rendered quantised frame lies in its codebook-1 cell, its error
(||z - q||^2 / ||z||^2 against the encoder's frame z), decode -> re-encode agreement of
codebook 1 with the codec's own encoder and with its verifier encoder (where one is
shipped beside the checkpoint), the latter's (else the former's) split by frames rendered
in / out of their cell, STOI and PESQ-WB, and decode speed on that speech (the search
runs when rendering). Then,
where a TTS samples this codec's tokens (the shipped one for the shipped codec, or
--tts), watermarked ~5 s TTS clips rendered at each margin: pair agreement (this frame
and the one before both right) of the verifier's reading with the sampled codes, clean
and after MP3 32k, which is what an h = 1 green list is detected on. The margin is set
in memory for the sweep; a codec's own is `CompactConfig.cell_margin`.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synth.audio import load_audio  # noqa: E402
from synth.cell_search import cell_margin  # noqa: E402
from synth.codec import load_codec  # noqa: E402
from synth.corpus import HELD_OUT_VOICES, read_corpus  # noqa: E402
from synth.edits import stability_edits  # noqa: E402


def _bench(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).with_name(f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def corpus_row(codec, verifier, clips: list[np.ndarray]) -> dict:
    model = codec.model
    cb = model.codebooks[0]
    in_cell, err, own, ver, seconds, frames = [], [], [], [], 0.0, 0
    kept_in, kept_out = [], []  # the product's reader's keeps, frames rendered in / out of their cell
    for x in clips:
        wav = torch.from_numpy(x)
        codes = codec.encode(wav)
        t = time.perf_counter()
        y = codec.decode(codes)
        seconds += time.perf_counter() - t
        with torch.inference_mode():
            z = model.encoder(wav[None, None])[0].T[: codes.shape[1]]
            q = model.quantizer.decode(model.keep_cells(codes[:, None]))[0].T  # what is rendered
            inside = cell_margin(cb, q, codes[0]) > 0
            in_cell.append(float(inside.float().sum()))
            err.append(float((z - q).pow(2).sum() / z.pow(2).sum()))
        frames += codes.shape[1]
        for reader, out in ((codec, own), (verifier, ver)):
            if reader is not None:
                back = reader.encode(y)
                n = min(back.shape[1], codes.shape[1])
                same = back[0, :n] == codes[0, :n]
                out.append(same.float().mean().item())
                if reader is (verifier or codec):
                    kept_in.append(same[inside[:n]])
                    kept_out.append(same[~inside[:n]])
    stoi, pesq = _bench("codec").quality(codec, clips)
    kept_in, kept_out = torch.cat(kept_in), torch.cat(kept_out)

    def share(t: torch.Tensor) -> float:
        return t.float().mean().item() if len(t) else float("nan")

    return {"in_cell": sum(in_cell) / frames, "read_in": share(kept_in), "read_out": share(kept_out),
            "error": float(np.mean(err)), "own": float(np.mean(own)),
            "verifier": float(np.mean(ver)) if ver else float("nan"), "stoi": stoi, "pesq": pesq,
            "decode_x": sum(map(len, clips)) / codec.sample_rate / seconds}


def tts_clips(codec, tts_path: str | None, n: int) -> list[torch.Tensor]:
    from synth.scheme import PRODUCT_CONFIG
    from synth.tts import load_tts
    from watermark.clusters import ClusterMap
    from watermark.keys import WatermarkKey
    from watermark.processor import WatermarkLogitsProcessor

    tts = load_tts(tts_path, codec=codec)
    key = WatermarkKey.from_bytes(bytes(range(32)))
    cmap = ClusterMap.identity(codec.codebook_size)
    return [tts.generate(text, seed=100 + i, processor_factory=lambda: WatermarkLogitsProcessor(
        key, PRODUCT_CONFIG, 7, cmap, 0)).codes for i, text in enumerate(_bench("scheme").texts_of(n, 5.0))]


def pair_agreement(codec, reader, sampled: list[torch.Tensor], edit=None) -> float:
    out = []
    for codes in sampled:
        y = codec.decode(codes).numpy()
        if edit is not None:
            y = np.asarray(edit(y, codec.sample_rate), np.float32)
        back = reader.encode(torch.from_numpy(y))[0]
        n = min(len(back), codes.shape[1])
        ok = back[:n] == codes[0, :n]
        out.append((ok[1:] & ok[:-1]).float().mean().item())
    return float(np.mean(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=str(ROOT / "data" / "corpus"))
    ap.add_argument("--codec-checkpoint", default=None)
    ap.add_argument("--margins", default="0,0.25,0.5,1")
    ap.add_argument("--clips", type=int, default=20, help="held-out corpus clips per group")
    ap.add_argument("--tts-clips", type=int, default=6, help="watermarked TTS clips (0: none)")
    ap.add_argument("--tts", default=None, help="the TTS of this codec's tokens (default: shipped, "
                                                "for the shipped codec only)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    try:
        margins = [float(m) for m in args.margins.split(",")]
    except ValueError:
        ap.error(f"--margins takes numbers separated by commas, got {args.margins!r}")
    if any(m < 0 for m in margins):
        ap.error("--margins must be 0 or above")
    codec = load_codec("compact-16k", args.codec_checkpoint)
    verifier = load_codec("compact-16k", args.codec_checkpoint, verifier=True)  # it only reads
    verifier = verifier if verifier.info().get("verifier_encoder") else None
    utts = read_corpus(args.corpus, "eval")
    groups = {"seen voices": [u for u in utts if u.speaker not in HELD_OUT_VOICES][: args.clips],
              "held-out voice": [u for u in utts if u.speaker in HELD_OUT_VOICES][: args.clips]}
    clips = {g: [load_audio(Path(args.corpus) / u.path, codec.sample_rate)[0] for u in us]
             for g, us in groups.items()}
    sampled = []
    if args.tts_clips and verifier is not None and (args.tts or args.codec_checkpoint is None):
        sampled = tts_clips(codec, args.tts, args.tts_clips)
    mp3 = stability_edits(codec.hop_length)["mp3-32k"]
    base = codec.model.config
    print(f"codec {codec.checkpoint_sha256[:16]} ({'mel' if base.encoder == 'mel' else 'SEANet'} encoder); "
          f"margin in units of the median squared key spacing")
    print(f"{'group':15s} {'margin':>6s} {'in cell':>7s} {'error':>6s} {'own':>6s} {'verif.':>6s} "
          f"{'in':>6s} {'out':>6s} {'STOI':>6s} {'PESQ':>6s} {'dec x':>6s}")
    tts_rows = []
    for m in margins:
        codec.model.config = replace(base, cell_margin=m)
        for g, xs in clips.items():
            r = corpus_row(codec, verifier, xs)
            print(f"{g:15s} {m:6.2f} {r['in_cell']:7.3f} {r['error']:6.4f} {r['own']:6.3f} "
                  f"{r['verifier']:6.3f} {r['read_in']:6.3f} {r['read_out']:6.3f} {r['stoi']:6.3f} "
                  f"{r['pesq']:6.3f} {r['decode_x']:6.0f}", flush=True)
        if sampled:
            tts_rows.append((m, pair_agreement(codec, verifier, sampled),
                             pair_agreement(codec, verifier, sampled, mp3)))
    if tts_rows:
        print(f"\n{len(sampled)} watermarked TTS clips of ~5 s, pair agreement of the verifier's reading "
              f"with the sampled codes")
        print(f"{'margin':>6s} {'clean':>6s} {'mp3-32k':>7s}")
        for m, clean, after in tts_rows:
            print(f"{m:6.2f} {clean:6.3f} {after:7.3f}")


if __name__ == "__main__":
    main()
