"""How much of the TTS's word error rate the codec alone explains (issue 5's WER target).

    .venv/bin/python benchmarks/asr_bound.py [--sentences 12] [--voices flite-slt,festival-kal]

For held-out sentences, pocketsphinx WER of three renderings of the same text: the
voice's own synthesizer, that audio through the generation codec's round trip
(encode -> decode, nothing sampled), and the reference TTS (no watermark, seed 0).
The round trip is a floor for the TTS: it speaks through the same decoder.
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
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(2)
    asr, codec, tts = ASR(), load_codec("compact-16k"), load_tts()
    texts = sentences(7, args.sentences, held_out=True)
    print(f"pocketsphinx WER on {len(texts)} held-out sentences per voice")
    print(f"{'voice':16s} {'synthesizer':>12s} {'codec round trip':>17s} {'reference TTS':>14s}")
    for voice in args.voices.split(","):
        errors = {"synth": [0, 0], "roundtrip": [0, 0], "tts": [0, 0]}
        for text in texts:
            x = synthesize(VOICES_BY_NAME[voice], text)[0].astype(np.float32)
            with torch.inference_mode():
                y = codec.decode(codec.encode(torch.from_numpy(x))).numpy()[: len(x)]
            g = tts.generate(text, voice=voice, seed=0).wav
            for kind, wav in (("synth", x), ("roundtrip", y), ("tts", g)):
                e, n = wer(text, asr(wav))
                errors[kind][0] += e
                errors[kind][1] += n
        r = {k: e / n for k, (e, n) in errors.items()}
        print(f"{voice:16s} {r['synth']:12.3f} {r['roundtrip']:17.3f} {r['tts']:14.3f}", flush=True)


if __name__ == "__main__":
    main()
