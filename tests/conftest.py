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


def _g722(path, seconds: float, f0: float) -> None:
    import av
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(16_000 * seconds)) / 16_000
    x = (np.sin(2 * np.pi * f0 * t) * 0.3 * (1 + np.sin(2 * np.pi * 3 * t)) / 2 * 32767).astype(np.int16)
    with av.open(str(path), "w", format="g722") as c:
        s = c.add_stream("g722", rate=16_000)
        s.layout = "mono"
        frame = av.AudioFrame.from_ndarray(x[None], format="s16", layout="mono")
        frame.sample_rate = 16_000
        for p in [*s.encode(frame), *s.encode(None)]:
            c.mux(p)


@pytest.fixture(scope="session")
def prompts(tmp_path_factory):
    """Two fake speakers of 1 s prompts, plus what must be ignored."""
    root = tmp_path_factory.mktemp("asterisk")
    for spk, f0 in (("en_US_f_Ann", 220.0), ("it_IT_m_Bob", 110.0)):
        for i in range(6):
            _g722(root / spk / f"p{i}.g722", 1.0, f0 * (1 + i / 10))
        _g722(root / spk / "digits" / "1.g722", 1.0, f0)
        _g722(root / spk / "silence" / "1.g722", 1.0, f0)  # not speech
        _g722(root / spk / "beep.g722", 1.0, 1000.0)
        _g722(root / spk / "ascending-2tone.g722", 1.0, 1000.0)
        (root / spk / "empty.g722").write_bytes(b"")
    (root / "en").symlink_to(root / "en_US_f_Ann")  # Debian's alias for the same voice
    (root / "notes").mkdir()
    return root
