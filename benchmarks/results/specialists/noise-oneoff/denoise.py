"""One-off: spectral subtraction before reading noisy clips (output: denoise.txt).

    .venv/bin/python benchmarks/results/specialists/noise-oneoff/denoise.py

The robustness report's first 10 watermarked clips (runs/robustness-tts240/clips, not
committed), cut to 5 s, under AudioSeal's white and pink noise and white noise at 5 dB
SNR. Each clip is read as it is and after a spectral subtraction (noise power from the
quietest 10 % of STFT frames, over-subtraction `alpha`, gain floor `floor`), by the
verifier encoder and by the noise specialist (louder half of the frames). Prints the
uncorrected p-value of offset 0 per clip.
"""
import glob
from functools import partial

import numpy as np
import soundfile as sf
import torch
from scipy.signal import istft, stft

from synth.codec import load_codec, load_specialist_codecs
from synth.scheme import scheme_for
from verify.eval_attacks import select_attacks
from verify.eval_clips import eval_key
from verify.specialists import loud_frames
from watermark.detect import detect_many

torch.set_num_threads(2)
codec = load_codec(verifier=True)
scheme = scheme_for(codec)
key = eval_key()
spec = load_specialist_codecs(("noise",))["noise"]
nb = max(scheme.config.codebooks) + 1


def denoise(y, sr, alpha=1.0, floor=0.05, q=10, nfft=512):
    _, _, z = stft(y, sr, nperseg=nfft, noverlap=nfft * 3 // 4)
    power = np.abs(z) ** 2
    energy = power.sum(0)
    noise = power[:, energy <= np.percentile(energy, q)].mean(1, keepdims=True)
    gain = np.maximum(1 - alpha * noise / np.maximum(power, 1e-20), floor ** 2) ** 0.5
    _, x = istft(z * gain, sr, nperseg=nfft, noverlap=nfft * 3 // 4)
    return x[: len(y)].astype(np.float32)


def raw_p(c, y, loud):
    codes = c.offset_encoder(torch.from_numpy(y), 0, nb)([0])[0].numpy()
    if loud:
        codes = codes[..., loud_frames(y, c.hop_length, codes.shape[-1])]
    return detect_many([codes], [key], scheme.config, scheme.cluster_map).raw_p_value


variants = {"plain": lambda y, sr: y}
for a, fl in [(1.0, 0.05), (2.0, 0.05), (1.0, 0.2), (2.0, 0.1)]:
    variants[f"dn{a}-{fl}"] = partial(denoise, alpha=a, floor=fl)
attacks = {a.name: a for a in select_attacks("tierA,tierB")}
for name in ["tierA/white-0.05", "tierA/pink-0.1", "tierB/snr-5db"]:
    res = {}
    for f in sorted(glob.glob("runs/robustness-tts240/clips/wm-*.wav"))[:10]:
        y, sr = sf.read(f, dtype="float32")
        z = attacks[name].edit()(y[: 5 * sr], sr).astype(np.float32)
        for vn, v in variants.items():
            x = v(z, sr)
            for rn, c, loud in [("ver", codec, False), ("noise", spec, True)]:
                res.setdefault((vn, rn), []).append(raw_p(c, x, loud))
    for k, ps in res.items():
        ps = np.array(ps)
        print(name, 5, k, f"n<1e-4 {(ps < 1e-4).sum()}", f"median {np.median(ps):.1e}",
              " ".join(f"{p:.0e}" for p in ps), flush=True)
