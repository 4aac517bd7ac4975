"""Where a mel codec's codebook 1 loses its codes, by loudness, and what a silence gate keeps.

    .venv/bin/python benchmarks/silence_gate.py [--codec-checkpoint CKPT] [--clips 20]

For held-out clips of the training voices and of the held-out voice, with an ungated mel
codec (default: benchmarks/results/mel-codec/compact16k-mel.pt):
1. the agreement of codebook 1's codes of x with those of decode(encode(x)), and the median
   margin between the nearest and second-nearest key, per decile of frame loudness (the
   log of the summed magnitudes of codebook 1's bands, `KeyedCodebook.loudness`);
2. for each gate, the same agreement when every frame under it reads as one silence code,
   beside the agreement of encode(x) with encode(edit(x)) on the analysis alone (MP3 32k,
   noise 30 dB, resampling via 8 kHz), and the share of frames gated.
The decoder was trained to reproduce the ungated codes; a gated codec's own decoder is
measured by benchmarks/codec.py.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synth.audio import load_audio  # noqa: E402
from synth.codec import load_codec  # noqa: E402
from synth.corpus import HELD_OUT_VOICES, read_corpus  # noqa: E402
from synth.edits import stability_edits  # noqa: E402

GATES = (None, 0.0, 1.0, 2.0, 3.0, 3.5)
EDITS = {"mp3": "mp3-32k", "noise": "noise-30db", "8k": "resample-8k"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=str(ROOT / "data" / "corpus"))
    ap.add_argument("--codec-checkpoint", default=str(ROOT / "benchmarks" / "results" / "mel-codec"
                                                      / "compact16k-mel.pt"))
    ap.add_argument("--clips", type=int, default=20, help="held-out clips per group")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    codec = load_codec("compact-16k", args.codec_checkpoint)
    cb = codec.model.codebooks[0]
    if getattr(cb, "gate", "no view") is not None:
        sys.exit("needs a mel codec with a robust view and no gate (train codec --encoder mel)")
    edits = stability_edits(codec.hop_length)

    def read(x: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Codes [T], loudness [T], margin [T] of codebook 1."""
        with torch.no_grad():
            z = codec.model.encoder(torch.as_tensor(np.asarray(x, np.float32)).reshape(1, 1, -1))[0].T
            logits = cb.logits(z)
            top = logits.topk(2, -1).values  # codes by argmax, as the codec: keys can coincide
            return logits.argmax(-1), cb.loudness(z), top[:, 0] - top[:, 1]

    utts = read_corpus(args.corpus, "eval")
    groups = {"seen voices": [u for u in utts if u.speaker not in HELD_OUT_VOICES][: args.clips],
              "held-out voice": [u for u in utts if u.speaker in HELD_OUT_VOICES][: args.clips]}
    print(f"codec {Path(args.codec_checkpoint).name}, codebook 1")
    for name, group in groups.items():
        loud, agree, margin = [], [], []
        sweep = {g: {k: [] for k in ("round trip", *EDITS, "gated")} for g in GATES}
        for u in group:
            x = load_audio(Path(args.corpus) / u.path, codec.sample_rate)[0]
            cx, lx, mx = read(x)
            others = {"round trip": read(codec.decode(codec.encode(x)))}
            others.update({k: read(edits[e](x, codec.sample_rate)) for k, e in EDITS.items()})
            n = min(len(cx), len(others["round trip"][0]))
            loud.append(lx[:n].numpy())
            agree.append((cx[:n] == others["round trip"][0][:n]).numpy())
            margin.append(mx[:n].numpy())
            for g in GATES:
                def gated(c: torch.Tensor, level: torch.Tensor, g=g) -> torch.Tensor:
                    return c if g is None else torch.where(level < g, -1, c)

                base = gated(cx, lx)
                sweep[g]["gated"].append(float((base == -1).float().mean()))
                for k, (c, level, _) in others.items():
                    m = min(len(c), len(base))
                    sweep[g][k].append(float((gated(c, level)[:m] == base[:m]).float().mean()))
        loud, agree, margin = map(np.concatenate, (loud, agree, margin))
        print(f"\n{name} ({len(group)} clips, {len(agree)} frames): decode -> re-encode agreement "
              f"{agree.mean():.3f}")
        print(f"  {'loudness decile':>22s} {'agreement':>9s} {'median margin':>13s}")
        edges = np.quantile(loud, np.linspace(0, 1, 11))
        for i in range(10):
            m = (loud >= edges[i]) & (loud <= edges[i + 1])
            print(f"  {i} {edges[i]:8.2f} .. {edges[i + 1]:6.2f} {agree[m].mean():9.3f} "
                  f"{np.median(margin[m]):13.2f}")
        print(f"  {'gate':>6s} " + " ".join(f"{k:>10s}" for k in sweep[None]))
        for g, row in sweep.items():
            label = "none" if g is None else g
            print(f"  {label:>6} " + " ".join(f"{np.mean(v):10.3f}" for v in row.values()))


if __name__ == "__main__":
    main()
