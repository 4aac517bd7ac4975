"""Watermark scheme sweep on the shipped TTS and codec: which settings survive a clean re-encode.

    .venv/bin/python benchmarks/scheme.py [H]      (H = context width, 0 or 1; default 1)

4 clips of two held-out sentences each (about 6.7 s); for delta in {2, 4}, token map
identity or 64 clusters (synth/assets/compact16k.clusters-64.npz), zero-bit or 32-bit
payload: the p-value on the generated tokens themselves ("direct") and after decoding
and re-encoding the audio (no alignment search), whether the payload was read back,
and the mean token entropy per step.
"""
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synth.scheme import Scheme  # noqa: E402
from synth.textgen import sentences  # noqa: E402
from synth.tts import load_tts  # noqa: E402
from verify.search import SearchPlan  # noqa: E402
from verify.verifier import detect_audio  # noqa: E402
from watermark.clusters import ClusterMap  # noqa: E402
from watermark.config import WatermarkConfig  # noqa: E402
from watermark.detect import detect  # noqa: E402
from watermark.keys import WatermarkKey  # noqa: E402
from watermark.processor import WatermarkLogitsProcessor  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    h = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    tts = load_tts()
    key = WatermarkKey.from_bytes(bytes(range(32)))
    texts = [" ".join(sentences(77 + i, 2, held_out=True)) for i in range(4)]
    maps = {"id": ClusterMap.identity(1024),
            "c64": ClusterMap.load(ROOT / "synth" / "assets" / "compact16k.clusters-64.npz")}
    for delta in (2.0, 4.0):
        for cname, cmap in maps.items():
            for bits in (0, 32):
                scheme = Scheme(WatermarkConfig(delta=delta, payload_bits=bits, context_width=h), cmap, 0)
                name = f"d{delta:g}-{cname}-{'pay' if bits else 'zero'}"
                reenc, direct, payload_ok, entropy = [], [], [], []
                for i, text in enumerate(texts):
                    payload = (0xABC0000 + i) if bits else None

                    def factory(s=scheme, p=payload):
                        return WatermarkLogitsProcessor(key, s.config, p, s.cluster_map, 0)

                    res = tts.generate(text, seed=i, processor_factory=factory)
                    direct.append(detect(res.codes[0].numpy(), [key], scheme.config, cmap).p_value)
                    td = detect_audio(res.wav, tts.codec, scheme, [key], plan=SearchPlan.quick())
                    reenc.append(td.p_value)
                    payload_ok.append(td.detection.payload == payload if bits else None)
                    entropy.append(res.entropy_per_step)
                print(f"h={h} {name:14} re-encoded p median {np.median(reenc):.2g} max {max(reenc):.2g} | "
                      f"direct max {max(direct):.2g} | payload read {payload_ok} | "
                      f"H/step {np.mean(entropy):.2f} | {len(res.wav) / 16000:.1f} s", flush=True)


if __name__ == "__main__":
    main()
