"""Decoders of the same tokens side by side: intelligibility and quality of the round trip.

    .venv/bin/python benchmarks/decoder_compare.py CKPT [CKPT ...] [--sentences 12]
        [--voices flite-slt,festival-kal]

Every checkpoint must share the shipped codec's token space (a `voxseal train decoder`
output): held-out sentences of each voice are encoded once with the shipped encoder
and decoded by each checkpoint's decoder. Printed per voice and decoder: pocketsphinx
WER, STOI and PESQ-WB against the synthesizer's own audio, and resemblyzer similarity to
the mean embedding of that audio (the synthesizer row scores its own utterances against
it: the ceiling the TTS benchmark's similarity can reach through a decoder).
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

from tts import ASR, Speaker, wer  # noqa: E402

from synth.codec import CodecError, load_codec  # noqa: E402
from synth.corpus import VOICES_BY_NAME, synthesize  # noqa: E402
from synth.textgen import sentences  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="*", help="codec checkpoints (default: only the shipped one)")
    ap.add_argument("--sentences", type=int, default=12)
    ap.add_argument("--voices", default="flite-slt,festival-kal")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    from pesq import pesq
    from pystoi import stoi

    shipped = load_codec("compact-16k")
    models = {"shipped": shipped.model}
    for p in args.checkpoints:
        try:
            codec = load_codec("compact-16k", p)
        except CodecError as exc:
            sys.exit(f"error: {exc}")
        if codec.token_space != shipped.token_space:
            sys.exit(f"error: {p} does not decode the shipped codec's tokens")
        models[Path(p).name] = codec.model
    asr, spk = ASR(), Speaker()
    texts = sentences(7, args.sentences, held_out=True)
    print(f"round trip through each decoder, {len(texts)} held-out sentences per voice")
    print(f"{'voice':14s} {'decoder':34s} {'WER':>6s} {'STOI':>6s} {'PESQ-WB':>8s} {'sim':>6s}")
    for voice in args.voices.split(","):
        scores: dict[str, list] = {"synthesizer": [0, 0, [], []], **{k: [0, 0, [], []] for k in models}}
        embeds: dict[str, list] = {k: [] for k in scores}
        for text in texts:
            x = synthesize(VOICES_BY_NAME[voice], text)[0].astype(np.float32)
            with torch.inference_mode():
                codes = shipped.encode(torch.from_numpy(x))
                outs = {"synthesizer": x}
                for name, m in models.items():
                    outs[name] = m.decode_codes(codes[None])[0, 0].numpy()[: len(x)]
            for name, y in outs.items():
                embeds[name].append(spk(y))
                e, n = wer(text, asr(y))
                s = scores[name]
                s[0] += e
                s[1] += n
                if name != "synthesizer":
                    s[2].append(stoi(x, y, 16000, extended=False))
                    s[3].append(pesq(16000, x, y, "wb"))
        ref = np.mean(embeds["synthesizer"], axis=0)
        ref /= np.linalg.norm(ref)
        for name, (e, n, st, pq) in scores.items():
            q = f"{np.mean(st):6.3f} {np.mean(pq):8.3f}" if st else f"{'':6s} {'':8s}"
            sim = float(np.mean([v @ ref / np.linalg.norm(v) for v in embeds[name]]))
            print(f"{voice:14s} {name:34s} {e / n:6.3f} {q} {sim:6.3f}", flush=True)


if __name__ == "__main__":
    main()
