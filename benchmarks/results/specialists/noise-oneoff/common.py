"""What the one-off scripts beside it share: the detector, the robustness report's first
10 marked clips under an attack (runs/robustness-tts240/clips, not committed), one
printed row per setting. Run the scripts from the repository root."""
import glob

import numpy as np
import soundfile as sf
import torch

from synth.codec import load_codec, load_specialist_codecs
from synth.scheme import scheme_for
from verify.eval_attacks import select_attacks
from verify.eval_clips import eval_key
from watermark.detect import CODEC_VOCAB
from watermark.scoring import Scorer, pvalues, resolve_cluster_maps

torch.set_num_threads(2)
codec = load_codec(verifier=True)
scheme = scheme_for(codec)
key = eval_key()
scorer = Scorer(key, scheme.config, resolve_cluster_maps(scheme.config, scheme.cluster_map, CODEC_VOCAB))
_ATTACKS = {a.name: a for a in select_attacks("tierA,tierB")}


def specialists(*names: str) -> dict:
    return load_specialist_codecs(names)


def marked_clips(attack: str, seconds: int = 5, n: int = 10):
    """(clip, sample rate) for the first `n` marked clips, cut to `seconds`, then attacked."""
    for f in sorted(glob.glob("runs/robustness-tts240/clips/wm-*.wav"))[:n]:
        y, sr = sf.read(f, dtype="float32")
        yield _ATTACKS[attack].edit()(y[: seconds * sr], sr).astype(np.float32), sr


def offset_reads(c, z: np.ndarray):
    """(clip with o samples of silence in front, its codebook-1 tokens [T]) for the four
    sub-frame offsets the verifier searches."""
    for off in (0, 80, 160, 240):
        x = np.concatenate([np.zeros(off, np.float32), z])
        yield x, c.offset_encoder(torch.from_numpy(x), 0, 1)([0])[0][0].numpy()


def raw_p(tokens: np.ndarray) -> float:
    """Uncorrected p-value of one codebook-1 token row [T] (UNREAD frames allowed)."""
    return float(pvalues(scorer.count([(tokens,)]), scheme.config)[0][0])


def row(attack: str, setting, ps: list[float], below: float = 1.5e-4) -> None:
    """One printed line; below 1.5e-4 is a detection at 1e-3 after the noise family's x6.7."""
    ps = np.array(ps)
    count = f"n<{below:.1e} {(ps < below).sum()}".replace("e-0", "e-")
    print(attack, setting, count, f"median {np.median(ps):.1e}", " ".join(f"{p:.0e}" for p in ps),
          flush=True)
