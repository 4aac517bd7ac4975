import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Two cores are shared by every test process; keep torch from oversubscribing them.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def _torch_threads():
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tone_corpus(tmp_path_factory):
    """A 3-utterance corpus of harmonic tones (what codec training tests learn from)."""
    import json

    import numpy as np
    import soundfile as sf

    root = tmp_path_factory.mktemp("tone-corpus")
    (root / "wavs").mkdir()
    rng = np.random.default_rng(0)
    lines = []
    for i in range(3):
        t = np.arange(16_000 * 2) / 16_000
        f0 = 120 + 40 * i
        wav = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 8)) * 0.1
        wav = (wav * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)) + 0.003 * rng.standard_normal(len(t)))
        sf.write(root / "wavs" / f"{i}.wav", wav.astype(np.float32), 16_000)
        lines.append(json.dumps({"id": str(i), "path": f"wavs/{i}.wav", "text": "x", "speaker": "s",
                                 "split": "train", "seconds": 2.0, "phonemes": "", "phones": None}))
    (root / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    return root
