"""One-off (output: pairs.txt): pairs across a pause, or only pairs of adjacent frames.

    .venv/bin/python benchmarks/results/specialists/noise-oneoff/pairs.py

(a) "concat", the first version of LOUD_FRAMES_ONLY: the kept frames' tokens joined, so
each pause gives a unit of two tokens that were never adjacent (noise in the count);
(b) "pairs": only units whose two frames are both kept and adjacent (as UNREAD does).
Top fraction of frames by energy; best uncorrected p over the 4 offsets; below 1.5e-4
is a detection at 1e-3 after the noise family's correction (x6.7).
"""
import numpy as np
from common import marked_clips, offset_reads, raw_p, row, specialists

from watermark.scoring import UNREAD

spec = specialists("noise")["noise"]
hop = spec.hop_length


def energy(y, n):
    y = np.pad(y.astype(np.float64)[: n * hop], (0, max(0, n * hop - len(y))))
    return (y.reshape(n, hop) ** 2).mean(1)


for name in ["tierA/white-0.05", "tierA/pink-0.1", "tierB/snr-5db"]:
    res = {}
    for z, _ in marked_clips(name):
        best = {}
        for x, tok in offset_reads(spec, z):
            e = energy(x, tok.size)
            for frac in (0.3, 0.4, 0.5, 0.6, 1.0):
                keep = e >= np.quantile(e, 1 - frac) if frac < 1 else np.ones(tok.size, bool)
                for tag, t in (("concat", tok[keep]), ("pairs", np.where(keep, tok, UNREAD))):
                    best[(tag, frac)] = min(best.get((tag, frac), 1.0), raw_p(t))
        for k, p in best.items():
            res.setdefault(k, []).append(p)
    for k, ps in sorted(res.items()):
        row(name, k, ps)
