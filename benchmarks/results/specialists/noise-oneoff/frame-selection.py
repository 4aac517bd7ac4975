"""One-off (output: frame-selection.txt): which frames the noise specialist should read.

    .venv/bin/python benchmarks/results/specialists/noise-oneoff/frame-selection.py

The top fraction of a clip's frames by energy (shipped: one half), by energy over the
noise floor per frequency ("white": mean ratio, "whitelog": mean log ratio), or by energy
above 500 Hz; the others UNREAD. Best uncorrected p over the 4 offsets; below 1.5e-4 is
a detection at 1e-3 after the noise family's correction (x6.7).
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
from watermark.scoring import UNREAD, Scorer, pvalues, resolve_cluster_maps

torch.set_num_threads(2)
codec = load_codec(verifier=True)
scheme = scheme_for(codec)
key = eval_key()
spec = load_specialist_codecs(("noise",))["noise"]
hop = spec.hop_length
maps = resolve_cluster_maps(scheme.config, scheme.cluster_map, CODEC_VOCAB)
scorer = Scorer(key, scheme.config, maps)

def frame_scores(x, n):
    y = np.pad(x.astype(np.float64)[: n * hop], (0, max(0, n * hop - len(x))))
    fr = y.reshape(n, hop)
    e = (fr ** 2).mean(1)
    spec_ = np.abs(np.fft.rfft(fr * np.hanning(hop), axis=1)) ** 2  # [n, F]
    floor = np.percentile(spec_, 10, axis=0) + 1e-12
    w = (spec_ / floor).mean(1)
    wlog = np.log(spec_ / floor + 1e-12).mean(1)
    hi = spec_[:, hop // 16:].sum(1)  # above 500 Hz
    return {"energy": e, "white": w, "whitelog": wlog, "hi500": hi}

def p_of(tok, keep):
    t = np.where(keep, tok, UNREAD)
    c = scorer.count([(t,)])
    return float(pvalues(c, scheme.config)[0][0])

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
            for rule, s in frame_scores(x, tok.size).items():
                for frac in (0.4, 0.5, 0.6):
                    keep = s >= np.quantile(s, 1 - frac)
                    k = (rule, frac)
                    best[k] = min(best.get(k, 1.0), p_of(tok, keep))
        for k, p in best.items():
            res.setdefault(k, []).append(p)
    for k, ps in sorted(res.items()):
        ps = np.array(ps)
        print(name, k, f"n<1.5e-4 {(ps < 1.5e-4).sum()}", f"median {np.median(ps):.1e}",
              " ".join(f"{p:.0e}" for p in ps), flush=True)
