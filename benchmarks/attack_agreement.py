"""How much of the sampled token stream survives each Tier A attack, per re-encoder.

    .venv/bin/python benchmarks/attack_agreement.py [--clips 10] [--codec-checkpoint CKPT] [--tts CKPT]
        [ENCODER.pt ...]

Watermarked TTS clips (~5 s, held-out texts) are attacked and re-encoded; printed
per attack and encoder: codebook-1 agreement with the codes the TTS sampled, and
pair agreement (this frame and the one before both right), which is what an h = 1
green list needs. Encoders: the codec's own, the shipped verifier encoder, and any
verifier-encoder files given (e.g. one made by `voxseal train verifier --specialist band`).
The time-scale attack is left out (the verifier's scale search undoes it).
Detection on 5 s clips needs a pair agreement of roughly 0.2 for p < 1e-3.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synth.codec import load_codec  # noqa: E402
from synth.compact_codec import load_verifier_encoder  # noqa: E402
from synth.scheme import PRODUCT_CONFIG  # noqa: E402
from synth.tts import load_tts  # noqa: E402
from verify.eval_attacks import select_attacks  # noqa: E402
from watermark.clusters import ClusterMap  # noqa: E402
from watermark.keys import WatermarkKey  # noqa: E402
from watermark.processor import WatermarkLogitsProcessor  # noqa: E402


def _texts(n: int, seconds: float) -> list[str]:
    spec = importlib.util.spec_from_file_location("bench_scheme", Path(__file__).with_name("scheme.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.texts_of(n, seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("encoders", nargs="*", help="extra verifier encoder files")
    ap.add_argument("--clips", type=int, default=10)
    ap.add_argument("--tts", default=None, help="TTS checkpoint that samples the clips (default: shipped)")
    ap.add_argument("--codec-checkpoint", default=None,
                    help="decode with this checkpoint's decoder (same tokens) instead of the shipped one")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    codec = load_codec("compact-16k", args.codec_checkpoint, verifier=True)
    tts = load_tts(args.tts, codec=codec)
    encoders = {"codec's own": None}
    if codec.encoder is not None:
        encoders["verifier (shipped)" if args.codec_checkpoint is None else "its verifier"] = codec.encoder
    for p in args.encoders:
        # not bound to the checkpoint: an encoder tuned for an earlier decoder of the same
        # tokens is a fair comparison
        encoders[Path(p).name] = load_verifier_encoder(p, codec.model, None)
    key = WatermarkKey.from_bytes(bytes(range(32)))
    cmap = ClusterMap.identity(codec.codebook_size)
    clips = []
    for i, text in enumerate(_texts(args.clips, 5.0)):
        r = tts.generate(text, seed=100 + i, processor_factory=lambda: WatermarkLogitsProcessor(
            key, PRODUCT_CONFIG, 7, cmap, 0))
        clips.append((r.wav.astype(np.float32), r.codes[0].numpy()))

    def encode(x: np.ndarray, encoder) -> np.ndarray:
        x = np.pad(x, (0, (-len(x)) % codec.hop_length))
        with torch.inference_mode():
            return codec.model.encode_codes(torch.from_numpy(x)[None, None], encoder)[0, 0].numpy()

    attacks = [a for a in select_attacks("tierA") if "speed" not in a.name]
    print(f"{len(clips)} watermarked TTS clips of ~5 s; codebook-1 agreement / pair agreement with the "
          f"sampled codes")
    print(f"{'attack':26s}" + "".join(f"{k[:22]:>24s}" for k in encoders))
    means: dict[str, list[float]] = {k: [] for k in encoders}
    for a in attacks:
        edit = a.edit()
        cells = []
        for name, enc in encoders.items():
            single, pair = [], []
            for x, sampled in clips:
                got = encode(np.asarray(edit(x, codec.sample_rate), np.float32), enc)
                n = min(len(got), len(sampled))
                ok = got[:n] == sampled[:n]
                single.append(ok.mean())
                pair.append((ok[1:] & ok[:-1]).mean())
            cells.append(f"{np.mean(single):.3f} / {np.mean(pair):.3f}")
            means[name].append(float(np.mean(pair)))
        print(f"{a.name:26s}" + "".join(f"{c:>24s}" for c in cells), flush=True)
    print(f"{'mean pair agreement':26s}" + "".join(f"{np.mean(v):>24.3f}" for v in means.values()))


if __name__ == "__main__":
    main()
