"""One-off: test-time augmentation for noisy clips (output: tta.txt).

    .venv/bin/python benchmarks/results/specialists/noise-oneoff/tta.py

The robustness report's first 10 watermarked clips (runs/robustness-tts240/clips, not
committed), cut to 5 s, under AudioSeal's white and pink noise, read by the noise
specialist (louder half of the frames, offset 0): as they are ("plain"); as K copies
with further white noise of `std`, each frame's token by majority vote ("maj"); or with
the K + 1 latents averaged and then quantised ("avg"). Uncorrected p-values.
"""
import glob

import numpy as np
import soundfile as sf
import torch

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
enc, quantiser, hop = spec.encoder, spec.model.quantizer.vq, spec.hop_length


def test(codes, y):
    codes = codes[..., loud_frames(y, hop, codes.shape[-1])]
    return detect_many([codes], [key], scheme.config, scheme.cluster_map).raw_p_value


@torch.inference_mode()
def reads(y, k, std):
    n = len(y) + (-len(y)) % hop
    x = torch.zeros(k + 1, 1, n)
    x[:, 0, : len(y)] = torch.from_numpy(y)
    x[1:, 0, : len(y)] += std * torch.randn(k, len(y), generator=torch.Generator().manual_seed(0))
    z = enc(x)  # [K + 1, D, T]
    plain = quantiser.encode(z[:1], n_q=1)[0, 0].numpy()
    votes = quantiser.encode(z[1:], n_q=1)[0].numpy()  # [K, T]
    majority = np.array([np.bincount(votes[:, t]).argmax() for t in range(votes.shape[1])])
    average = quantiser.encode(z.mean(0, keepdim=True), n_q=1)[0, 0].numpy()
    return plain, majority, average


attacks = {a.name: a for a in select_attacks("tierA,tierB")}
for k, std in [(8, 0.02), (8, 0.05), (16, 0.05)]:
    for name in ["tierA/white-0.05", "tierA/pink-0.1"]:
        res = {"plain": [], "maj": [], "avg": []}
        for f in sorted(glob.glob("runs/robustness-tts240/clips/wm-*.wav"))[:10]:
            y, sr = sf.read(f, dtype="float32")
            z = attacks[name].edit()(y[: 5 * sr], sr).astype(np.float32)
            for tag, c in zip(res, reads(z, k, std), strict=True):
                res[tag].append(test(c[None], z))
        for tag, ps in res.items():
            ps = np.array(ps)
            print(k, std, name, tag, f"n<1.5e-4 {(ps < 1.5e-4).sum()}", f"median {np.median(ps):.1e}",
                  " ".join(f"{p:.0e}" for p in ps), flush=True)
