"""Codec benchmark (foundation issue): quality, re-encoding stability, speed, memory.

    .venv/bin/python benchmarks/codec.py --corpus data/corpus [--clips 40] [--codec-checkpoint PATH]
    .venv/bin/python benchmarks/codec.py --speed-only [--threads 2]

On held-out sentences of the training voices and of the held-out voice:
STOI and PESQ-WB after a round trip; per-codebook token agreement after
decode -> edit -> re-encode for every stability edit; encode/decode speed as
multiples of real time on this machine's threads, on held-out speech (noise with
--speed-only); peak RSS for 60 s of it (measured in a fresh subprocess). Prints
tables and writes JSON with --json-out.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synth.audio import load_audio  # noqa: E402
from synth.codec import load_codec  # noqa: E402
from synth.corpus import HELD_OUT_VOICES, read_corpus  # noqa: E402
from synth.edits import stability_edits  # noqa: E402
from synth.stability import measure_stability  # noqa: E402

TARGETS = {"stoi": 0.90, "pesq_wb": 2.0, "clean": 0.85, "mp3-32k": 0.6, "noise-30db": 0.6,
           "resample-8k": 0.6, "encode_x": 100, "decode_x": 50, "peak_mb_60s": 1536}


def quality(codec, clips):
    from pesq import pesq
    from pystoi import stoi

    s, p = [], []
    for x in clips:
        y = codec.decode(codec.encode(torch.from_numpy(x))).numpy()[: len(x)]
        s.append(stoi(x, y, codec.sample_rate, extended=False))
        try:
            p.append(pesq(codec.sample_rate, x, y, "wb"))
        except Exception:  # pesq refuses clips it finds no speech in
            pass
    return float(np.mean(s)), float(np.mean(p)) if p else float("nan")


def speed(codec, seconds=10.0, repeats=3, speech: np.ndarray | None = None):
    """Encode and decode x real time on `seconds` of `speech` (tiled), else of noise: rendering
    searches residual codes frame by frame, and speech is what it is timed on."""
    n = int(seconds * codec.sample_rate)
    if speech is not None and len(speech):
        x = torch.from_numpy(np.resize(np.asarray(speech, np.float32), n))
    else:
        x = torch.randn(n) * 0.1
    codec.decode(codec.encode(x[: codec.sample_rate]))  # warm-up
    enc, dec = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        codes = codec.encode(x)
        enc.append(time.perf_counter() - t)
        t = time.perf_counter()
        codec.decode(codes)
        dec.append(time.perf_counter() - t)
    return seconds / min(enc), seconds / min(dec)


PEAK_SCRIPT = """
import resource, sys, numpy as np, torch
from dataclasses import replace
sys.path.insert(0, {root!r})
from synth.codec import load_codec
torch.set_num_threads({threads})
c = load_codec(None, {ckpt!r})
if {margin!r} is not None:
    c.model.config = replace(c.model.config, cell_margin={margin!r})
n = 60 * c.sample_rate
x = torch.from_numpy(np.resize(np.load({speech!r}), n)) if {speech!r} else torch.randn(n) * 0.1
c.decode(c.encode(x))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def peak_memory_mb(ckpt, threads, margin=None, speech: np.ndarray | None = None):
    with tempfile.TemporaryDirectory() as tmp:
        path = ""
        if speech is not None and len(speech):
            path = str(Path(tmp) / "speech.npy")
            np.save(path, np.asarray(speech, np.float32))
        script = PEAK_SCRIPT.format(root=str(ROOT), ckpt=ckpt, threads=threads, margin=margin, speech=path)
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def speed_and_memory(codec, args, speech: np.ndarray | None = None) -> dict:
    enc_x, dec_x = speed(codec, speech=speech)
    ckpt = args.codec_checkpoint or str(ROOT / "synth" / "assets" / "compact16k.pt")
    return {"threads": args.threads, "on": "speech" if speech is not None else "noise",
            "encode_x_realtime": round(enc_x, 1), "decode_x_realtime": round(dec_x, 1),
            "peak_rss_mb_60s": round(peak_memory_mb(ckpt, args.threads, args.cell_margin, speech), 1)}


def print_speed(codec, args, s: dict | None = None) -> None:
    s = s or speed_and_memory(codec, args)
    on = s.get("on", "noise")
    print(f"speed ({s['threads']} threads, 10 s of {on}): encode {s['encode_x_realtime']}x real time "
          f"(target >= 100), decode {s['decode_x_realtime']}x (target >= 50)")
    print(f"peak RSS encoding+decoding 60 s of {on}: {s['peak_rss_mb_60s']} MB (target < 1536)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=str(ROOT / "data" / "corpus"))
    ap.add_argument("--clips", type=int, default=40, help="eval clips per group")
    ap.add_argument("--codec-checkpoint", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json-out", default=None)
    ap.add_argument("--speed-only", action="store_true", help="only speed and memory (no corpus needed)")
    ap.add_argument("--cell-margin", type=float, default=None,
                    help="render with this margin instead of the codec's own (0: the codes as given; "
                         "synth/cell_search.py)")
    args = ap.parse_args()
    if args.cell_margin is not None and args.cell_margin < 0:
        ap.error("--cell-margin must be 0 or above")
    torch.set_num_threads(args.threads)
    codec = load_codec("compact-16k", args.codec_checkpoint)
    if args.cell_margin is not None:
        codec.model.config = replace(codec.model.config, cell_margin=args.cell_margin)
    if args.speed_only:
        print_speed(codec, args)
        return
    verifier = load_codec("compact-16k", args.codec_checkpoint, verifier=True)
    verifier = verifier if verifier.info().get("verifier_encoder") else None
    utts = read_corpus(args.corpus, "eval")
    groups = {
        "seen voices": [u for u in utts if u.speaker not in HELD_OUT_VOICES][: args.clips],
        "held-out voice": [u for u in utts if u.speaker in HELD_OUT_VOICES][: args.clips],
    }
    edits = stability_edits(codec.hop_length)
    results: dict = {"codec": codec.info(), "groups": {}}
    for name, group in groups.items():
        clips = [load_audio(Path(args.corpus) / u.path, codec.sample_rate)[0] for u in group]
        t = time.time()
        stoi_v, pesq_v = quality(codec, clips)
        agreement, _ = measure_stability(codec, clips, edits)
        verifier_agreement = None
        if verifier is not None:
            verifier_agreement, _ = measure_stability(codec, clips, edits, reencoder=verifier)
        minutes = round(sum(map(len, clips)) / 16000 / 60, 2)
        results["groups"][name] = {"clips": len(clips), "minutes": minutes,
                                   "stoi": round(stoi_v, 3), "pesq_wb": round(pesq_v, 3),
                                   "agreement": agreement, "verifier_agreement": verifier_agreement,
                                   "seconds": round(time.time() - t, 1)}
    speech = [load_audio(Path(args.corpus) / u.path, codec.sample_rate)[0] for u in groups["held-out voice"]]
    results["speed"] = speed_and_memory(codec, args, np.concatenate(speech) if speech else None)

    print(f"codec {codec.name}  checkpoint sha256 {codec.checkpoint_sha256[:16]}")
    print(f"{'group':16} {'clips':>5} {'STOI':>6} {'PESQ-WB':>8}   (targets: STOI >= {TARGETS['stoi']}, "
          f"PESQ-WB >= {TARGETS['pesq_wb']})")
    for name, g in results["groups"].items():
        print(f"{name:16} {g['clips']:>5} {g['stoi']:>6.3f} {g['pesq_wb']:>8.3f}")
    print("\ntoken agreement after decode -> edit -> re-encode (codebooks 1..4; targets: cb1 clean >= 0.85, "
          "mp3-32k / noise-30db / resample-8k >= 0.6)")
    for name, g in results["groups"].items():
        for label, table in (("codec encoder", g["agreement"]),
                             ("verifier encoder", g["verifier_agreement"])):
            if table is None:
                continue
            print(f"  {name}, re-encoded with the {label}")
            for edit, vals in table.items():
                mark = ""
                if edit in TARGETS:
                    mark = "  ok" if vals[0] >= TARGETS[edit] else "  BELOW TARGET"
                print(f"    {edit:14} " + " ".join(f"{v:.3f}" for v in vals[:4]) + mark)
    print()
    print_speed(codec, args, results["speed"])
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
