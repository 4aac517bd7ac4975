"""How much of the watermark a clean decode -> re-encode keeps, on the TTS's own clips.

    .venv/bin/python benchmarks/mark_survival.py [--tts CKPT] [--codec-checkpoint CKPT] [--sentences 6]

Held-out sentences (voices flite-slt, festival-kal, espeak-us-m3 in turn) are generated
with the product watermark; printed per clip: entropy per step, the share of frames on
codebook 1's silence code (0 for a codec without a gate), and the hard detector's units,
green-hit rate and log10 p on the sampled codes and on the codes the codec reads back
from the clip's audio (through the encoder verification reads with: the verifier encoder
where the codec has one), with their codebook-1 agreement. What the hit rate loses between
the two is what the re-encoding costs the mark before any attack.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synth.codec import load_codec  # noqa: E402
from synth.scheme import scheme_for  # noqa: E402
from synth.textgen import sentences  # noqa: E402
from synth.tts import load_tts  # noqa: E402
from watermark.detect import detect  # noqa: E402
from watermark.keys import WatermarkKey  # noqa: E402
from watermark.processor import WatermarkLogitsProcessor  # noqa: E402

VOICES = ("flite-slt", "festival-kal", "espeak-us-m3")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tts", default=None)
    ap.add_argument("--codec-checkpoint", default=None)
    ap.add_argument("--sentences", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    codec = load_codec("compact-16k", args.codec_checkpoint)
    reader = load_codec("compact-16k", args.codec_checkpoint, verifier=True)
    tts = load_tts(args.tts, codec=codec)
    scheme = scheme_for(tts.codec)
    key = WatermarkKey.from_bytes(bytes(range(32)))
    cb = codec.model.codebooks[scheme.codebook]
    silence = cb.SILENCE if getattr(cb, "gate", None) is not None else None  # else code 0 is a sound

    def factory() -> WatermarkLogitsProcessor:
        return WatermarkLogitsProcessor(key, scheme.config, 7, scheme.cluster_map, scheme.codebook)

    def row(codes) -> str:
        d = detect(codes, [key], scheme.config, scheme.cluster_map)
        return (f"{d.n_units:5d} {d.score / max(d.n_units, 1):5.3f} "
                f"{math.log10(max(d.p_value, 1e-300)):7.1f}")

    print(f"{'voice':14s} {'s':>4s} {'H/step':>6s} {'silent':>6s} | sampled: units  hit log10p | "
          f"re-encoded: agree units  hit log10p")
    for i, text in enumerate(sentences(1234, args.sentences, held_out=True)):
        voice = VOICES[i % len(VOICES)]
        res = tts.generate(text, voice=voice, seed=i, processor_factory=factory)
        sampled = res.codes[scheme.codebook].numpy()
        read = reader.encode(res.wav)[scheme.codebook].numpy()
        n = min(len(sampled), len(read))
        silent = 0.0 if silence is None else (sampled == silence).mean()
        print(f"{voice:14s} {res.seconds:4.1f} {res.entropy_per_step:6.2f} {silent:6.2f} | "
              f"{row(sampled)} | {(sampled[:n] == read[:n]).mean():5.3f} {row(read)}", flush=True)


if __name__ == "__main__":
    main()
