"""One-off: the noise specialist, shipped or a candidate file, through detect_audio.

    .venv/bin/python benchmarks/results/specialists/noise-oneoff/noisecmp.py [ENCODER.pt]

The robustness report's first 10 watermarked clips (runs/robustness-tts240/clips, not
committed), cut to 5 and 10 s, under the noise attacks; prints TPR at 1e-3 and each
clip's corrected p-value. Outputs kept beside it: noise-shipped.txt, noise-noise2.txt.
"""
import glob
import sys

import numpy as np
import soundfile as sf
import torch

from synth.codec import load_codec, load_specialist_codecs
from synth.scheme import scheme_for
from verify.eval_attacks import select_attacks
from verify.eval_clips import eval_key
from verify.search import SearchPlan
from verify.specialists import SPECIALISTS
from verify.verifier import detect_audio

torch.set_num_threads(2)
codec = load_codec(verifier=True)
scheme = scheme_for(codec)
key = eval_key()
specialists = load_specialist_codecs(SPECIALISTS)
if len(sys.argv) > 1:
    specialists["noise"] = specialists["band"].with_verifier_encoder(sys.argv[1])
plan = SearchPlan(specialists=tuple(specialists))
attacks = {a.name: a for a in select_attacks("tierA,tierB")}
for name in ["tierA/white-0.05", "tierA/pink-0.1", "tierB/snr-10db", "tierB/snr-5db"]:
    for seconds in (5, 10):
        ps = []
        for f in sorted(glob.glob("runs/robustness-tts240/clips/wm-*.wav"))[:10]:
            y, sr = sf.read(f, dtype="float32")
            z = attacks[name].edit()(y[: seconds * sr], sr).astype(np.float32)
            ps.append(detect_audio(z, codec, scheme, [key], plan, specialist_codecs=specialists).p_value)
        ps = np.array(ps)
        print(name, seconds, f"TPR@1e-3 {(ps < 1e-3).mean():.2f}", " ".join(f"{p:.0e}" for p in ps),
              flush=True)
