"""How much of the TTS's word error rate the codec alone explains (issue 5's WER target).

    .venv/bin/python benchmarks/asr_bound.py [--sentences 12] [--voices flite-slt,festival-kal] [--no-tts]

For held-out sentences, pocketsphinx WER of three renderings of the same text: the
voice's own synthesizer, that audio through the generation codec's round trip
(encode -> decode, nothing sampled), and the reference TTS (no watermark, seed 0).
The round trip is a floor for the TTS: it speaks through the same decoder. With
VOXSEAL_CODEC_CHECKPOINT set to a codec no TTS has been trained for yet, `--no-tts`
measures the round trip alone.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from tts import ASR, wer  # noqa: E402

from synth.codec import load_codec  # noqa: E402
from synth.corpus import VOICES_BY_NAME, synthesize  # noqa: E402
from synth.textgen import sentences  # noqa: E402
from synth.tts import load_tts  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=12)
    ap.add_argument("--voices", default="flite-slt,festival-kal")
    ap.add_argument("--no-tts", action="store_true", help="leave out the reference TTS column")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(2)
    asr, codec = ASR(), load_codec("compact-16k")
    tts = None if args.no_tts else load_tts()
    texts = sentences(7, args.sentences, held_out=True)
    print(f"pocketsphinx WER on {len(texts)} held-out sentences per voice")
    print(f"{'voice':16s} {'synthesizer':>12s} {'codec round trip':>17s} {'reference TTS':>14s}")
    for voice in args.voices.split(","):
        errors = {"synth": [0, 0], "roundtrip": [0, 0], "tts": [0, 0]}
        for text in texts:
            x = synthesize(VOICES_BY_NAME[voice], text)[0].astype(np.float32)
            with torch.inference_mode():
                y = codec.decode(codec.encode(torch.from_numpy(x))).numpy()[: len(x)]
            renderings = [("synth", x), ("roundtrip", y)]
            if tts is not None:
                renderings.append(("tts", tts.generate(text, voice=voice, seed=0).wav))
            for kind, wav in renderings:
                e, n = wer(text, asr(wav))
                errors[kind][0] += e
                errors[kind][1] += n
        r = {k: f"{e / n:.3f}" if n else "-" for k, (e, n) in errors.items()}
        print(f"{voice:16s} {r['synth']:>12s} {r['roundtrip']:>17s} {r['tts']:>14s}", flush=True)


if __name__ == "__main__":
    main()
