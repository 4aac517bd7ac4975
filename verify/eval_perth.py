"""Side by side: Resemble AI's Perth watermarker (post-hoc, neural) under the same attacks.

Optional and not a project dependency. `resemble-perth` ships its checkpoint in the wheel
and runs offline, but imports `pkg_resources` (setuptools < 81), `librosa` and
`torchaudio`, and no torchaudio release loads beside torch 2.13 CPU; where it cannot be
imported the report says why. Perth marks our no-watermark clips after the fact; its
detector's confidence (mean of its rounded per-frame watermark bits, as Perth's own CLI
prints it) above 0.5 counts as detected, on the marked and the unmarked clip alike.
Perth has no calibrated p-value, so its rates are not at a fixed FPR.

One way to run it here, without touching the project's environment (measured to work):

    python -m venv /tmp/perth-venv
    echo "$PWD/.venv/lib/python3.11/site-packages" > /tmp/perth-venv/lib/python3.11/site-packages/main.pth
    /tmp/perth-venv/bin/pip install "setuptools<81" librosa pyyaml
    /tmp/perth-venv/bin/pip install --no-deps resemble-perth
    # torchaudio: scripts/perth_shim/torchaudio, a pure-torch stand-in for the
    # transforms Perth imports (Spectrogram / InverseSpectrogram / TimeStretch)
    PYTHONPATH=scripts/perth_shim /tmp/perth-venv/bin/python cli.py eval robustness --perth ...
"""
from __future__ import annotations

import time

import numpy as np

from verify.eval_attacks import Attack
from verify.eval_clips import SR, Clip

PERTH_THRESHOLD = 0.5


def load_perth():
    """Perth's watermarker, or raise ImportError/another exception with the reason."""
    import contextlib
    import sys
    import warnings

    # Perth prints as it loads; keep stdout clean for --json
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        warnings.simplefilter("ignore")
        import perth

        return perth.PerthImplicitWatermarker()


def perth_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("resemble-perth")
    except Exception:
        return None


def _rate(values: list) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def run_perth(clips: list[Clip], attacks: list[Attack], lengths: list[float], *, cache=None,
              progress: bool = True) -> dict:
    """Perth's detection rate on Perth-marked copies of `clips` and its false detections on `clips`."""
    from synth.console import progress_bar

    try:
        wm = load_perth()
    except Exception as exc:  # not installed, or a dependency missing: say so, do not fail the run
        return {"error": f"resemble-perth could not be loaded ({type(exc).__name__}: {exc}); install it "
                         "in a separate environment (see verify/eval_perth.py)", "aggregates": []}
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    started = time.time()
    rows: list[dict] = []
    try:
        total = len(clips) * (1 + len(lengths) * len(attacks))
        with progress_bar("perth", total, enabled=progress) as advance:
            for c in clips:
                marked = None
                recipe = f"{c.recipe}-perth-{perth_version()}"
                if cache is not None:
                    got = cache.get(f"perth-{c.id}", recipe)
                    marked = None if got is None else got[0]
                if marked is None:
                    marked = np.asarray(wm.apply_watermark(c.wav, sample_rate=SR), np.float32)
                    if cache is not None:
                        cache.put(f"perth-{c.id}", recipe, marked, {"text": c.text, "source": [c.id]})
                advance()
                for L in lengths:
                    n = int(round(L * SR))
                    if len(c.wav) < n:
                        continue
                    for a in attacks:
                        edit = a.edit()
                        row = {"clip": c.id, "attack": a.name, "seconds": L}
                        for which, x in (("marked", marked[:n]), ("unmarked", c.wav[:n])):
                            try:
                                y = edit(np.asarray(x, np.float32), SR)
                                conf = float(np.mean(wm.get_watermark(y, sample_rate=SR)))
                            except Exception as exc:
                                row[f"{which}_error"] = f"{type(exc).__name__}: {exc}"
                                conf = None
                            row[f"{which}_confidence"] = conf
                        rows.append(row)
                        advance()
    finally:
        torch.set_num_threads(before)
    aggs = []
    for a in attacks:
        for L in lengths:
            sel = [r for r in rows if r["attack"] == a.name and r["seconds"] == L]
            m = [r["marked_confidence"] for r in sel if r["marked_confidence"] is not None]
            u = [r["unmarked_confidence"] for r in sel if r["unmarked_confidence"] is not None]
            aggs.append({"attack": a.name, "seconds": L, "n": len(sel),
                         "detection_rate": _rate([v > PERTH_THRESHOLD for v in m]),
                         "false_detection_rate": _rate([v > PERTH_THRESHOLD for v in u]),
                         "mean_confidence_marked": _rate(m), "mean_confidence_unmarked": _rate(u)})
    import sys

    shim = "stand-in" in (getattr(sys.modules.get("torchaudio"), "__doc__", None) or "")
    return {"version": perth_version(), "threshold": PERTH_THRESHOLD, "torchaudio_stand_in": shim,
            "seconds_taken": round(time.time() - started, 2),
            "note": (f"Resemble Perth {perth_version()} (PerthImplicitWatermarker, its shipped checkpoint) "
                     "applied "
                     f"post hoc to the {len(clips)} no-watermark TTS clips; detected = Perth's confidence "
                     f"> {PERTH_THRESHOLD} (no calibrated FPR: compare its false detections on the "
                     "unmarked clips)." + (" torchaudio here was a minimal stand-in (Spectrogram and "
                                           "InverseSpectrogram on torch.stft/istft) because no torchaudio "
                                           "release loads beside torch 2.13." if shim else "")),
            "results": rows, "aggregates": aggs}
