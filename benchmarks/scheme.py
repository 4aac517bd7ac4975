"""Watermark scheme on the shipped TTS and codec: what survives a clean re-encode.

    .venv/bin/python benchmarks/scheme.py [--clips N] [--seconds S] [--no-verifier-encoder]

N held-out sentences (default 8, each about S seconds, default 5); for each
configuration: the p-value on the sampled tokens themselves ("direct") and after
decode -> re-encode through the verifier's own path (alignment search, every
hypothesis counted), the codebook-1 token agreement of the plain re-encode,
the payload read blind (CRC) and matched against 1000 published ids
(`match_payload`), and the mean token entropy per step.

Configurations: the product's layered scheme (synth/scheme.py), the same with
delta 2, 3, 4 and with h = 0, classic MPAC (the payload colours are the green lists)
and a zero-bit mark; delta 2, h = 1, identity clusters unless named.
"""
import argparse
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synth.scheme import PRODUCT_CONFIG, Scheme  # noqa: E402
from synth.textgen import sentences  # noqa: E402
from synth.tts import load_tts  # noqa: E402
from verify.verifier import detect_audio  # noqa: E402
from watermark.clusters import ClusterMap  # noqa: E402
from watermark.config import WatermarkConfig  # noqa: E402
from watermark.detect import detect, match_payload  # noqa: E402
from watermark.keys import WatermarkKey  # noqa: E402
from watermark.processor import WatermarkLogitsProcessor  # noqa: E402


def texts_of(n: int, seconds: float) -> list[str]:
    out = []
    for i in range(n):
        words, j = [], 0
        while len(words) < seconds * 2.6:  # ~2.6 words/s for the shipped voices
            words += sentences(500 + 37 * i + j, 1, held_out=True)[0].split()
            j += 1
        out.append(" ".join(words))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--no-verifier-encoder", action="store_true",
                    help="re-encode with the codec's own encoder (what the verifier encoder adds)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    tts = load_tts()
    from synth.codec import load_codec

    verifier_codec = load_codec(verifier=not args.no_verifier_encoder)
    key = WatermarkKey.from_bytes(bytes(range(32)))
    texts = texts_of(args.clips, args.seconds)
    rng = np.random.default_rng(0)
    published = [int(x) for x in rng.integers(0, 2**32, 1000)]
    cmap = ClusterMap.identity(1024)
    configs = {"layered (product)": PRODUCT_CONFIG,
               "layered delta 2": replace(PRODUCT_CONFIG, delta=2.0),
               "layered delta 3": replace(PRODUCT_CONFIG, delta=3.0),
               "layered delta 4": replace(PRODUCT_CONFIG, delta=4.0),
               "layered h=0": replace(PRODUCT_CONFIG, context_width=0),
               "classic MPAC": WatermarkConfig(delta=2.0),
               "zero-bit": WatermarkConfig(delta=2.0, payload_bits=0)}
    print(f"codec {tts.codec.checkpoint_sha256[:12]}, verifier encoder "
          f"{'yes' if getattr(verifier_codec, 'encoder', None) is not None else 'no'}; "
          f"{args.clips} clips of ~{args.seconds:g} s", flush=True)
    for name, cfg in configs.items():
        scheme = Scheme(cfg, cmap, 0)
        direct, reenc, agree, blind, matched, ent, secs = [], [], [], [], [], [], []
        t0 = time.time()
        for i, text in enumerate(texts):
            payload = published[i] if cfg.has_payload else None

            def factory(s=scheme, p=payload):
                return WatermarkLogitsProcessor(key, s.config, p, s.cluster_map, 0)

            res = tts.generate(text, seed=i, processor_factory=factory)
            direct.append(detect(res.codes[0].numpy(), key, cfg, cmap).p_value)
            td = detect_audio(res.wav, verifier_codec, scheme, [key])
            reenc.append(td.p_value)
            again = verifier_codec.encode(torch.from_numpy(res.wav))[0]
            t = min(len(again), res.codes.shape[1])
            agree.append(float((again[:t] == res.codes[0, :t]).float().mean()))
            if cfg.has_payload:
                blind.append(td.detection.payload == payload)
                m = match_payload(td.detection.colour_counts, published, cfg)
                matched.append(m.payload == payload)
            ent.append(res.entropy_per_step)
            secs.append(res.seconds)
        pay = (f"blind {sum(blind)}/{len(blind)}, matched {sum(matched)}/{len(matched)}"
               if cfg.has_payload else "-")
        print(f"{name:18} direct p median {np.median(direct):.2g} max {max(direct):.2g} | re-encoded p "
              f"median {np.median(reenc):.2g} max {max(reenc):.2g}, TPR@1e-6 "
              f"{np.mean(np.array(reenc) < 1e-6):.2f} | cb1 agreement {np.mean(agree):.3f} | payload {pay} | "
              f"H/step {np.mean(ent):.2f} | {np.mean(secs):.1f} s/clip | {time.time() - t0:.0f} s",
              flush=True)


if __name__ == "__main__":
    main()
