"""One-off (output: pairs.txt): pairs across a pause, or only pairs of adjacent frames.

    .venv/bin/python benchmarks/results/specialists/noise-oneoff/pairs.py

(a) "concat", the first version of LOUD_FRAMES_ONLY: the kept frames' tokens joined, so
each pause gives a unit of two tokens that were never adjacent (noise in the count);
(b) "pairs": only units whose two frames are both kept and adjacent (as UNREAD does).
Top fraction of frames by energy; best uncorrected p over the 4 offsets; below 1.5e-4
is a detection at 1e-3 after the noise family's correction (x6.7).
"""
import glob

import numpy as np
import soundfile as sf
import torch

from synth.codec import load_codec, load_specialist_codecs
from synth.scheme import scheme_for
from verify.eval_attacks import select_attacks
from verify.eval_clips import eval_key
from watermark.detect import CODEC_VOCAB
from watermark.scoring import Scorer, pvalues, resolve_cluster_maps

torch.set_num_threads(2)
codec = load_codec(verifier=True)
scheme = scheme_for(codec)
key = eval_key()
spec = load_specialist_codecs(("noise",))["noise"]
hop = spec.hop_length
maps = resolve_cluster_maps(scheme.config, scheme.cluster_map, CODEC_VOCAB)
scorer = Scorer(key, scheme.config, maps)

def energy(y, n):
    y = np.pad(y.astype(np.float64)[: n * hop], (0, max(0, n * hop - len(y))))
    return (y.reshape(n, hop) ** 2).mean(1)

def p_of(units):
    c = scorer._tally(np.zeros(units.size, np.int64), units, 1)
    return float(pvalues(c, scheme.config)[0][0]), int(c.n_units[0])

attacks = {a.name: a for a in select_attacks("tierA,tierB")}
for name in ["tierA/white-0.05", "tierA/pink-0.1", "tierB/snr-5db"]:
    res = {}
    for f in sorted(glob.glob("runs/robustness-tts240/clips/wm-*.wav"))[:10]:
        y, sr = sf.read(f, dtype="float32")
        z = attacks[name].edit()(y[: 5 * sr], sr).astype(np.float32)
        best = {}
        for off in (0, 80, 160, 240):
            x = np.concatenate([np.zeros(off, np.float32), z])
            tok = spec.offset_encoder(torch.from_numpy(x), 0, 1)([0])[0][0].numpy()
            e = energy(x, tok.size)
            for frac in (0.3, 0.4, 0.5, 0.6, 1.0):
                keep = e >= np.quantile(e, 1 - frac) if frac < 1 else np.ones(tok.size, bool)
                idx = np.flatnonzero(keep)
                ua = scorer.units((tok[idx],))
                u = scorer.units((tok,))
                ub = u[keep[:-1] & keep[1:]]
                for tag, uu in (("concat", ua), ("pairs", ub)):
                    p, n = p_of(uu)
                    k = (tag, frac)
                    best[k] = min(best.get(k, 1.0), p)
        for k, p in best.items():
            res.setdefault(k, []).append(p)
    for k, ps in sorted(res.items()):
        ps = np.array(ps)
        print(name, k, f"n<1.5e-4 {(ps < 1.5e-4).sum()}", f"median {np.median(ps):.1e}",
              " ".join(f"{p:.0e}" for p in ps), flush=True)
