"""Verification speed and memory: `Verifier.verify` on 10 s files.

    .venv/bin/python benchmarks/verify.py [--threads T] [--repeats R]

Latency: two 10 s WAV files, a watermarked TTS clip (the search stops at the first
alignment stage that reaches the threshold) and an unmarked synthesizer clip
(every one of the plan's hypotheses is encoded and scored), one process with
`--threads`. Throughput: `--files` unmarked 10 s files through `--workers`
processes of one thread each (what `voxseal verify DIR --workers N` does), after
a warm-up. Prints seconds per file, real-time factor (audio seconds per wall
second; target >= 50 on the 2 cores) and the process' peak RSS (target < 1.5 GB).
No registry or manifest work is included beyond what verify does for a file
without a home.
"""
import argparse
import os
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synth.audio import save_audio  # noqa: E402
from synth.corpus import VOICES_BY_NAME, synthesize  # noqa: E402
from synth.scheme import scheme_for  # noqa: E402
from synth.textgen import sentences  # noqa: E402
from synth.tts import load_tts  # noqa: E402
from verify.eval_clips import eval_key  # noqa: E402
from verify.verifier import Verifier  # noqa: E402
from watermark.processor import WatermarkLogitsProcessor  # noqa: E402

SECONDS = 10.0
SR = 16_000


def ten_seconds(make) -> np.ndarray:
    out, i = [], 0
    while sum(len(x) for x in out) < SECONDS * SR:
        out.append(make(i))
        i += 1
    return np.concatenate(out)[: int(SECONDS * SR)]


_worker = None


def _init(threads: int) -> None:
    global _worker
    torch.set_num_threads(threads)
    warnings.simplefilter("ignore")
    _worker = Verifier([eval_key()])


def _verify(path: str) -> str:
    return _worker.verify(path).verdict


def throughput(paths: list[Path], workers: int) -> None:
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, initializer=_init, initargs=(1,)) as pool:
        list(pool.map(_verify, [str(p) for p in paths[:workers]]))  # warm-up: load, first call
        t0 = time.perf_counter()
        verdicts = list(pool.map(_verify, [str(p) for p in paths]))
        wall = time.perf_counter() - t0
    audio = SECONDS * len(paths)
    print(f"throughput: {len(paths)} unmarked {SECONDS:g} s files, {workers} worker process(es) of 1 "
          f"thread: {wall:.2f} s  ->  {audio / wall:.1f}x real time (target >= 50); verdicts "
          f"{sorted(set(verdicts))}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--files", type=int, default=8)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    tts = load_tts()
    scheme = scheme_for(tts.codec)
    key = eval_key()

    def speak(i: int) -> np.ndarray:
        return tts.generate(" ".join(sentences(900 + i, 2, held_out=True)), seed=i,
                            processor_factory=lambda: WatermarkLogitsProcessor(
                                key, scheme.config, 0x1234ABCD, scheme.cluster_map, 0)).wav

    def other(i: int) -> np.ndarray:
        return synthesize(VOICES_BY_NAME["flite-rms"], " ".join(sentences(950 + i, 2, held_out=True)))[0]

    verifier = Verifier([key])
    with tempfile.TemporaryDirectory() as tmp:
        files = {"watermarked": Path(tmp) / "wm.wav", "unmarked": Path(tmp) / "other.wav"}
        save_audio(files["watermarked"], ten_seconds(speak), SR)
        save_audio(files["unmarked"], ten_seconds(other), SR)
        verifier.verify(files["unmarked"])  # warm-up: first-call allocations and table building
        print(f"Verifier.verify on {SECONDS:g} s WAV files, {args.threads} thread(s), best of "
              f"{args.repeats}; up to {verifier.plan.count()} alignment hypotheses per key")
        unmarked = []
        for j in range(args.files):
            unmarked.append(Path(tmp) / f"unmarked-{j}.wav")
            save_audio(unmarked[-1], ten_seconds(lambda i, j=j: other(20 * (j + 1) + i)), SR)
        for name, path in files.items():
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                res = verifier.verify(path)
                times.append(time.perf_counter() - t0)
            best = min(times)
            print(f"  {name:12} {best:.3f} s  ->  {SECONDS / best:.1f}x real time (target >= 50)  "
                  f"verdict {res.verdict}, p {res.p_value:.2g}")
        throughput(unmarked, args.workers)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the whole benchmark process (TTS included): {rss:.0f} MB (target < 1536)")


if __name__ == "__main__":
    main()
