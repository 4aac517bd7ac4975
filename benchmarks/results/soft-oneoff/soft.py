"""one-off: hard (argmax token) vs soft (posterior-weighted, quantised, exact null) scoring
of the noise specialist's reading, on 30 clips under white 0.05 / pink 0.1, best over 4 offsets."""
import glob
import math
import sys

import numpy as np
import soundfile as sf
import torch
from scipy.stats import binom

from synth.codec import load_codec, load_specialist_codecs
from synth.scheme import scheme_for
from verify.eval_attacks import select_attacks
from verify.eval_clips import eval_key
from verify.specialists import loud_frames
from watermark.detect import CODEC_VOCAB
from watermark.scoring import UNREAD, Scorer, pvalues, resolve_cluster_maps

torch.set_num_threads(1)
codec = load_codec(verifier=True)
scheme = scheme_for(codec)
key = eval_key()
cms = resolve_cluster_maps(scheme.config, scheme.cluster_map, CODEC_VOCAB)
cm = cms[0]
scorer = Scorer(key, scheme.config, cms)
green = scorer._green.astype(bool)
C = cm.n_clusters
gamma = scheme.config.effective_gamma
spec = load_specialist_codecs(["noise"])["noise"]
enc = spec.encoder
embed = spec.model.codebooks[0].embed.detach()  # [V, D]
ids = torch.as_tensor(cm.ids)
hop = spec.hop_length
ATT = {a.name: a for a in select_attacks("tierA,tierB")}
Q = int(sys.argv[2]) if len(sys.argv) > 2 else 16
TOPK = int(sys.argv[4]) if len(sys.argv) > 4 else 4
TEMP = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0

def exact_tail(q, s):
    # P(sum q_u B_u >= s), B_u iid Bernoulli(gamma), q int weights
    dist = np.array([1.0])
    for level in np.unique(q):
        n = int((q == level).sum())
        pm = binom.pmf(np.arange(n + 1), n, gamma)
        d = np.zeros(n * level + 1)
        d[::level] = pm
        dist = np.convolve(dist, d)
    return float(dist[s:].sum())

def read(x):
    with torch.inference_mode():
        z = enc(torch.from_numpy(x)[None, None])[0]  # [D, T]
    T = math.ceil(len(x) / hop)
    z = z[:, :T].T
    d = torch.cdist(z, embed) ** 2
    p = torch.softmax(-d / TEMP, dim=1)  # [T, V]
    P = torch.zeros(T, C).index_add_(1, ids, p)  # cluster posteriors
    return d.argmin(1).numpy(), P.numpy()

def scores(x):
    tok, P = read(x)
    loud = np.zeros(len(tok), bool)
    loud[loud_frames(x, hop, len(tok))] = True
    t = tok.copy()
    t[~loud] = UNREAD
    hard = float(pvalues(scorer.count([(t,)]), scheme.config)[0][0])
    top = np.argsort(-P, axis=1)[:, :TOPK]
    W = {}
    for i in range(1, len(tok)):
        if not (loud[i] and loud[i - 1]):
            continue
        for a in top[i - 1]:
            for b in top[i]:
                w = P[i - 1, a] * P[i, b]
                u = a * C + b
                if w > W.get(u, 0):
                    W[u] = w
    u = np.array(list(W))
    w = np.array([W[k] for k in u])
    q = np.round(w * Q).astype(int)
    keep = q > 0
    u, q = u[keep], q[keep]
    s = int((q * green[u]).sum())
    return hard, exact_tail(q, s)

for att in sys.argv[1].split(","):
    for kind in (("wm",) if "NOCTL" in sys.argv else ("wm", "nowm")):
        hs, ss = [], []
        for f in sorted(glob.glob(f"runs/s12/rob30/clips/{kind}-*.wav"))[: 30 if kind == "wm" else 10]:
            y, sr = sf.read(f, dtype="float32")
            z = ATT[att].edit()(y[: 5 * sr], sr).astype(np.float32)
            best_h, best_s = 1, 1
            for off in (0, 80, 160, 240):
                h, s = scores(np.concatenate([np.zeros(off, np.float32), z]))
                best_h, best_s = min(best_h, h), min(best_s, s)
            hs.append(best_h)
            ss.append(best_s)
        hs, ss = np.array(hs), np.array(ss)
        med_h, med_s = np.median(np.log10(hs)), np.median(np.log10(ss))
        print(att, kind, f"Q{Q} T{TEMP} K{TOPK}", "hard n<1.5e-4", (hs < 1.5e-4).sum(),
              "soft", (ss < 1.5e-4).sum(), f"median log10 hard {med_h:.1f} soft {med_s:.1f}", flush=True)
        print("  hard", " ".join(f"{math.log10(v):.1f}" for v in hs))
        print("  soft", " ".join(f"{math.log10(v):.1f}" for v in ss), flush=True)
