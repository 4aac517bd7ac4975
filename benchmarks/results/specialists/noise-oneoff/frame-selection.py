"""One-off (output: frame-selection.txt): which frames the noise specialist should read.

    .venv/bin/python benchmarks/results/specialists/noise-oneoff/frame-selection.py

The top fraction of a clip's frames by energy (shipped: one half), by energy over the
noise floor per frequency ("white": mean ratio, "whitelog": mean log ratio), or by energy
above 500 Hz; the others UNREAD. Best uncorrected p over the 4 offsets; below 1.5e-4 is
a detection at 1e-3 after the noise family's correction (x6.7).
"""
import numpy as np
from common import marked_clips, offset_reads, raw_p, row, specialists

from watermark.scoring import UNREAD

spec = specialists("noise")["noise"]
hop = spec.hop_length


def frame_scores(x, n):
    y = np.pad(x.astype(np.float64)[: n * hop], (0, max(0, n * hop - len(x))))
    fr = y.reshape(n, hop)
    power = np.abs(np.fft.rfft(fr * np.hanning(hop), axis=1)) ** 2  # [n, F]
    floor = np.percentile(power, 10, axis=0) + 1e-12
    return {"energy": (fr ** 2).mean(1), "white": (power / floor).mean(1),
            "whitelog": np.log(power / floor + 1e-12).mean(1),
            "hi500": power[:, hop // 16:].sum(1)}  # above 500 Hz


for name in ["tierA/white-0.05", "tierA/pink-0.1", "tierB/snr-5db"]:
    res = {}
    for z, _ in marked_clips(name):
        best = {}
        for x, tok in offset_reads(spec, z):
            for rule, s in frame_scores(x, tok.size).items():
                for frac in (0.4, 0.5, 0.6):
                    keep = s >= np.quantile(s, 1 - frac)
                    best[(rule, frac)] = min(best.get((rule, frac), 1.0), raw_p(np.where(keep, tok, UNREAD)))
        for k, p in best.items():
            res.setdefault(k, []).append(p)
    for k, ps in sorted(res.items()):
        row(name, k, ps)
