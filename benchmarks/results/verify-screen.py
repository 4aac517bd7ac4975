"""One-off: how short can the scale screen be (verify/search.py, SearchPlan.screen_seconds)?

    .venv/bin/python benchmarks/results/verify-screen.py > benchmarks/results/verify-screen.txt

The robustness report's first 10 marked clips (runs/robustness-tts240/clips, not
committed), cut to 10 s, attacked, then screened as the verifier screens a clip at its
further scales (1.25, 0.8): the best uncorrected p-value over those scales and the
listed sub-frame offsets, on the clip's first N seconds. A screen passes below 1e-2.
Time-stretch (pitch kept) is not undone by any scale; it is there for contrast.
"""
import glob

import numpy as np
import soundfile as sf
import torch

from synth.codec import load_codec
from synth.scheme import scheme_for
from verify.eval_attacks import select_attacks
from verify.eval_clips import eval_key
from verify.search import Hypothesis
from watermark.detect import detect_many

torch.set_num_threads(2)
codec = load_codec(verifier=True)
scheme = scheme_for(codec)
key = eval_key()
attacks = {a.name: a for a in select_attacks("tierA,tierB")}
variants = {"5s-4off": (5, [0, 80, 160, 240]), "4s-4off": (4, [0, 80, 160, 240]),
            "3s-4off": (3, [0, 80, 160, 240]), "5s-2off": (5, [0, 160])}
for name in ["tierA/none", "tierA/speed-1.25", "tierB/stretch-0.9", "tierB/stretch-1.1"]:
    res = {v: [] for v in variants}
    for f in sorted(glob.glob("runs/robustness-tts240/clips/wm-*.wav"))[:10]:
        y, sr = sf.read(f, dtype="float32")
        z = attacks[name].edit()(y[: 10 * sr], sr).astype(np.float32)
        for v, (secs, offs) in variants.items():
            best = 1.0
            for scale in (1.25, 0.8):
                x = Hypothesis(scale, 0, 1).apply(z[: secs * sr], sr)
                codes = codec.offset_encoder(torch.from_numpy(x), max(offs), 1)(offs)
                det = detect_many([c.numpy() for c in codes], [key], scheme.config, scheme.cluster_map)
                best = min(best, det.raw_p_value)
            res[v].append(best)
    for v, ps in res.items():
        ps = np.array(ps)
        print(name, v, f"pass<1e-2 {(ps < 1e-2).sum()}/{len(ps)}", " ".join(f"{p:.0e}" for p in ps),
              flush=True)
