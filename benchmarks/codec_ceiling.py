"""Where a codec's round trip loses quality: its latents, its codebooks, or its pitch.

    .venv/bin/python benchmarks/codec_ceiling.py [--codec-checkpoint CKPT] [--sentences 8]
        [--voices flite-slt,festival-kal]

Held-out sentences of each voice go through the encoder, then the decoder gets the
*unquantised* latents and the codes of the first 8 / 4 / 2 codebooks. Printed per voice
and input: STOI and PESQ-WB against the synthesizer's audio, the median |F0 error| in
cents over frames both voiced (pYIN, 60-400 Hz; "-" when some sentence has none) and the
share of those frames off by more than 50 cents, and the residual VQ's relative error
|z - q|^2 / |z - mean_t z|^2. Latents that decode no better than codes put the limit in
the encoder (and decoder), not the codebooks.
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

from synth.codec import load_codec  # noqa: E402
from synth.corpus import VOICES_BY_NAME, synthesize  # noqa: E402
from synth.textgen import sentences  # noqa: E402


def f0_track(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import librosa

    f0, voiced, _ = librosa.pyin(y, fmin=60, fmax=400, sr=16_000, frame_length=1024, hop_length=320)
    return f0, voiced


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--codec-checkpoint", default=None, help="compact-16k checkpoint (default: embedded)")
    ap.add_argument("--sentences", type=int, default=8)
    ap.add_argument("--voices", default="flite-slt,festival-kal")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    from pesq import pesq
    from pystoi import stoi

    model = load_codec("compact-16k", args.codec_checkpoint).model
    texts = sentences(7, args.sentences, held_out=True)
    print(f"decoder input per voice, {len(texts)} held-out sentences "
          f"(encoder: {model.config.encoder}, decoder: {model.config.decoder})")
    print(f"{'voice':14s} {'input':8s} {'STOI':>6s} {'PESQ-WB':>8s} {'F0 |err| c':>10s} {'>50 c':>6s} "
          f"{'VQ rel err':>10s}")
    for voice in args.voices.split(","):
        rows: dict[str, list[list[float]]] = {}
        for text in texts:
            x = synthesize(VOICES_BY_NAME[voice], text)[0].astype(np.float32)
            with torch.inference_mode():
                z = model.encoder(torch.from_numpy(x)[None, None])
                codes = model.quantizer.encode(z, model.config.sample_rate)
                q = model.quantizer.decode(codes)
                rel = float(((z - q) ** 2).sum() / ((z - z.mean(-1, keepdim=True)) ** 2).sum())
                outs = {"latents": model.decoder(z)}
                for k in (8, 4, 2):
                    outs[f"codes {k}"] = model.decoder(model.quantizer.decode(codes[:k]))
            fx, vx = f0_track(x)
            for name, y in outs.items():
                y = y[0, 0].numpy()[: len(x)]
                fy, vy = f0_track(y)
                both = vx & vy & np.isfinite(fx) & np.isfinite(fy)
                cents = np.abs(1200 * np.log2(fy[both] / fx[both])) if both.any() else np.array([np.nan])
                rows.setdefault(name, []).append([stoi(x, y, 16_000), pesq(16_000, x, y, "wb"),
                                                  float(np.median(cents)), float(np.mean(cents > 50)), rel])
        for name, r in rows.items():
            st, pq, med, off, rel = np.mean(r, axis=0)
            med_s = "-" if np.isnan(med) else f"{med:.1f}"
            print(f"{voice:14s} {name:8s} {st:6.3f} {pq:8.3f} {med_s:>10s} {off:6.2f} {rel:10.3f}",
                  flush=True)


if __name__ == "__main__":
    main()
