"""Which view of a log-mel frame keeps codebook 1 through mild edits (mel codec design).

    .venv/bin/python benchmarks/mel_view_sweep.py [--corpus data/corpus] [--clips 12]

For each band cutoff and magnitude floor, codebook 1 is fitted (k-means, 1024 codes) on
the views of the corpus' training frames, log(mel + floor) over the bands whose upper
edge lies at or below the cutoff, normalised per band; printed is the agreement of the
codes of held-out clips (12 of the training voices, 12 of the held-out voice) with the
codes of the same clips after each edit. No decoder is involved: this is what the
analysis itself keeps, the ceiling for decode -> edit -> re-encode.
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
from synth.compact_codec import StableCodebook  # noqa: E402
from synth.corpus import HELD_OUT_VOICES, read_corpus  # noqa: E402
from synth.edits import stability_edits  # noqa: E402
from synth.mel import bands_below  # noqa: E402
from synth.mel_encoder import MelAnalysisEncoder  # noqa: E402

EDITS = ("mp3-32k", "resample-8k", "noise-30db", "aac-64k", "opus-24k")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=str(ROOT / "data" / "corpus"))
    ap.add_argument("--clips", type=int, default=12, help="held-out clips per group")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    analysis = MelAnalysisEncoder(80, 320, 1024, 16_000)

    def mel(x: np.ndarray) -> torch.Tensor:  # [T, 80] magnitudes
        with torch.no_grad():
            return analysis.log_mel(torch.from_numpy(np.asarray(x, np.float32))[None, None])[0].T.exp()

    corpus = Path(args.corpus)
    train = torch.cat([mel(load_audio(corpus / u.path, 16_000)[0]) for u in read_corpus(corpus, "train")])
    ev = read_corpus(corpus, "eval")
    group = ([u for u in ev if u.speaker not in HELD_OUT_VOICES][: args.clips]
             + [u for u in ev if u.speaker in HELD_OUT_VOICES][: args.clips])
    clips = [load_audio(corpus / u.path, 16_000)[0] for u in group]
    edits = stability_edits(320)
    clean = [mel(x) for x in clips]
    edited = {n: [mel(edits[n](x, 16_000)) for x in clips] for n in EDITS}
    print(f"codebook-1 agreement of encode(x) with encode(edit(x)), {len(clips)} held-out clips")
    print(f"{'cutoff Hz':>9s} {'floor':>6s} {'bands':>5s} " + " ".join(f"{n:>11s}" for n in EDITS))
    for cutoff in (8000, 4000, 3500):
        keep = bands_below(16_000, 80, cutoff)
        for floor in (1e-5, 1e-2, 1e-1, 1.0):
            def view(m: torch.Tensor, keep=keep, floor=floor) -> torch.Tensor:
                return torch.log(m + floor)[:, keep]

            v = view(train)
            mu, sd = v.mean(0), v.std(0).clamp_min(1e-3)
            cb = StableCodebook(int(keep.sum()), 1024)
            cb.kmeans_init_((v - mu) / sd)

            def code(m: torch.Tensor, view=view, mu=mu, sd=sd, cb=cb) -> torch.Tensor:
                return cb.logits((view(m) - mu) / sd).argmax(-1)

            base = [code(m) for m in clean]
            agree = [np.mean([float((code(m) == b).float().mean())
                              for m, b in zip(edited[n], base, strict=True)]) for n in EDITS]
            print(f"{cutoff:9d} {floor:6g} {int(keep.sum()):5d} " + " ".join(f"{a:11.3f}" for a in agree),
                  flush=True)


if __name__ == "__main__":
    main()
