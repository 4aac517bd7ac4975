"""`voxseal eval human-speech`: how often the detector calls real human speech ours.

    clips   = N clips of L seconds of recorded human speech (verify.human_speech)
    for each clip, as recorded and after the generation codec's round trip:
        result = detect_audio(clip, verifier codec, scheme, [eval key], SearchPlan())
    DIR/results.json, DIR/report.md, DIR/pvalues.png

The codec round trip is the harder control: it puts human speech on exactly the
token path a generated clip takes. Three p-values per detection: the verdict's
(corrected for every alignment hypothesis; flagged when below the threshold), the
un-shifted clip's uncorrected one under the same key, and the un-shifted clip's
under a fresh key of its own. The last is the calibration check: with one key for
every clip, clips of one speaker share (context, token) units and so their
p-values are dependent; fresh keys make them independent single tests, whose
distribution must satisfy P(p <= a) <= a (binomial p-values, weighted or not, are
discrete, so they sit slightly below the uniform line).
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synth.fileio import atomic_write_text
from verify.human_speech import DEFAULT_ROOT, HumanClip, build_clips
from verify.parallel import ordered_map
from verify.result import DEFAULT_THRESHOLD

VARIANTS = ("as-recorded", "codec-roundtrip")
THRESHOLD = DEFAULT_THRESHOLD  # the verifier's default decision threshold
ALPHAS = (1e-1, 1e-2, 1e-3, 1e-6)


@dataclass
class HumanSettings:
    out: Path
    clips: int = 500
    seconds: float = 5.0
    workers: int = 1
    seed: int = 0
    root: Path = DEFAULT_ROOT
    command: str = ""


def fresh_key(clip_id: str):
    """A key of the clip's own (for independent single-test p-values)."""
    from watermark.keys import WatermarkKey

    return WatermarkKey.from_bytes(hashlib.sha256(f"voxseal/eval/human/{clip_id}".encode()).digest())


class HumanDetector:
    """The evaluation's detector (verify.evaluate.Detector) and the generation codec."""

    def __init__(self) -> None:
        from synth.codec import load_codec
        from verify.evaluate import Detector
        from verify.search import SearchPlan

        self.detect = Detector({"codec": "compact-16k", "threshold": THRESHOLD})
        self.quick = SearchPlan.quick()
        self.codec = load_codec("compact-16k")  # its own encoder: the round trip generation sees

    def roundtrip(self, wav: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            y = self.codec.decode(self.codec.encode(torch.from_numpy(wav))).numpy()
        return np.asarray(y[: len(wav)], np.float32)


def detect_clip(detector: HumanDetector, task: dict) -> list[dict]:
    """One clip -> a record per variant."""
    from verify.verifier import detect_audio
    out = []
    for variant in VARIANTS:
        started = time.perf_counter()
        wav = task["wav"] if variant == "as-recorded" else detector.roundtrip(task["wav"])
        wav = np.asarray(wav, np.float32)
        o = detector.detect(wav)
        own = detect_audio(wav, detector.detect.codec, detector.detect.scheme, [fresh_key(task["id"])],
                           detector.quick, early_stop=False)
        out.append({"clip": task["id"], "speaker": task["speaker"], "variant": variant,
                    "p_value": float(o.p_value), "primary_p_value": float(o.primary_p_value),
                    "fresh_key_p_value": float(own.p_value),
                    "n_units": int(o.n_units), "hypothesis": o.hypothesis,
                    "payload": None if o.payload is None else f"{o.payload:08x}",
                    "detect_seconds": round(time.perf_counter() - started, 4)})
    return out


_worker = None


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)
    global _worker
    _worker = HumanDetector()


def _run(task: dict) -> list[dict]:
    return detect_clip(_worker, task)


def summarise(records: list[dict]) -> dict[str, dict]:
    """Per variant: flagged count at the threshold, counts at each alpha, uniformity of the
    single-test p-values (KS test and empirical P(p <= a)), per-speaker flags."""
    from scipy import stats

    out: dict[str, dict] = {}
    for variant in VARIANTS:
        rows = [r for r in records if r["variant"] == variant]
        if not rows:
            continue
        p = np.array([r["p_value"] for r in rows])
        speakers = sorted({r["speaker"] for r in rows})

        def single(key: str, rows: list[dict] = rows) -> dict:
            q = np.array([r[key] for r in rows])
            ks = stats.kstest(q, "uniform")
            return {"ks_statistic": round(float(ks.statistic), 4), "ks_p_value": float(ks.pvalue),
                    # +1: some P(p <= a) above a (anti-conservative), -1: below (conservative)
                    "ks_sign": int(ks.statistic_sign),
                    "fraction_below": {f"{a:g}": round(float((q <= a).mean()), 4)
                                       for a in (0.5, 0.2, 0.1, 0.05, 0.01)},
                    "min": float(q.min()), "median": float(np.median(q))}

        out[variant] = {
            "n": len(rows),
            "flagged": int((p < THRESHOLD).sum()),
            "flagged_clips": [r["clip"] for r in rows if r["p_value"] < THRESHOLD],
            "count_below": {f"{a:.0e}": int((p < a).sum()) for a in ALPHAS},
            "single_test": {"fresh_key": single("fresh_key_p_value"),
                            "evaluation_key": single("primary_p_value")},
            "min_p_value": float(p.min()),
            "payloads_decoded": sum(1 for r in rows if r["payload"] is not None),
            "median_units": float(np.median([r["n_units"] for r in rows])),
            "by_speaker": {s: {"n": sum(1 for r in rows if r["speaker"] == s),
                               "flagged": sum(1 for r in rows if r["speaker"] == s
                                              and r["p_value"] < THRESHOLD),
                               "below_1e-3": sum(1 for r in rows if r["speaker"] == s
                                                 and r["p_value"] < 1e-3)} for s in speakers},
        }
    return out


def run_human(s: HumanSettings, *, progress: bool = True,
              say: Callable[[str], None] = lambda m: None) -> dict:
    from synth.console import progress_bar

    started = time.time()
    out = Path(s.out)
    with progress_bar("assembling clips", s.clips, enabled=progress) as advance:
        clips: list[HumanClip] = build_clips(s.clips, s.seconds, seed=s.seed, root=s.root, advance=advance)
    say(f"{len(clips)} clips of {s.seconds:g} s from {len({c.speaker for c in clips})} recorded voices")
    out.mkdir(parents=True, exist_ok=True)
    tasks = [{"id": c.id, "speaker": c.speaker, "wav": c.wav} for c in clips]
    records: list[dict] = []
    detector = HumanDetector()
    t0 = time.time()
    with progress_bar("detecting", len(tasks) * len(VARIANTS), enabled=progress) as advance:
        if s.workers <= 1:
            import torch

            before = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                for t in tasks:
                    records += detect_clip(detector, t)
                    advance(len(VARIANTS))
            finally:
                torch.set_num_threads(before)
        else:
            with ProcessPoolExecutor(s.workers, initializer=_init_worker) as pool:
                for recs in ordered_map(pool, _run, tasks, 2 * s.workers):
                    records += recs
                    advance(len(VARIANTS))
    detect_seconds = time.time() - t0
    summary = summarise(records)
    results = {
        "command": s.command,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": {"clips": s.clips, "seconds": s.seconds, "seed": s.seed, "workers": s.workers,
                     "root": str(s.root)},
        "threshold": THRESHOLD,
        "detector": detector.detect.describe(),
        "summary": summary,
        "clips": [c.to_dict() for c in clips],
        "results": records,
        "timing": {"total_s": round(time.time() - started, 2), "detect_wall_s": round(detect_seconds, 2),
                   "detections": len(records)},
    }
    atomic_write_text(out / "results.json", json.dumps(results, indent=1, default=str) + "\n")
    plot = _plot(out / "pvalues.png", records)
    atomic_write_text(out / "report.md", render_markdown(results, plot.name))
    return {"report": str(out / "report.md"), "results": str(out / "results.json"),
            "plot": str(plot), "threshold": THRESHOLD,
            "flagged": {v: d["flagged"] for v, d in summary.items()},
            "clips": {v: d["n"] for v, d in summary.items()}, "timing": results["timing"]}


def render_markdown(res: dict, plot_name: str) -> str:
    st, summ = res["settings"], res["summary"]
    L: list[str] = []
    w = L.append
    w("# VoxSeal false positives on real human speech\n")
    w(f"Command: `{res['command']}`  \nCreated: {res['created']}  \n"
      f"Detector: up to {res['detector']['search_hypotheses']} alignment hypotheses (weighted Bonferroni "
      f"over those a clip's gates open), "
      f"codec {res['detector']['codec']['name']}, evaluation key {res['detector']['key_id']}; "
      f"decision threshold p < {res['threshold']:g}.\n")
    w(f"Clips: {st['clips']} clips of {st['seconds']:g} s of recorded human speech, the Asterisk PBX "
      "voice prompts Debian ships (professional voice talent; en_US_f_Allison, es_MX_f_Allison, "
      "fr_CA_f_June, it_IT_m_Carlo, ru_RU_f_IvrvoiceRU; CC-BY-SA 3.0), a speaker's prompts joined "
      "with 0.25 s pauses. Each clip is tested as recorded and after the generation codec's round "
      "trip (encode + decode: human speech on the token path of generated audio).\n")
    w("## Headline\n")
    for v, d in summ.items():
        w(f"- **{v}: {d['flagged']} of {d['n']} clips flagged** at p < {res['threshold']:g} "
          f"(smallest corrected p-value {d['min_p_value']:.2g}).")
    w("")
    w("## Counts below each alpha (corrected p-values)\n")
    alphas = list(next(iter(summ.values()))["count_below"])
    w("| variant | n | " + " | ".join(f"p < {a}" for a in alphas) + " | CRC-valid payloads |")
    w("|---|---|" + "---|" * len(alphas) + "---|")
    for v, d in summ.items():
        w(f"| {v} | {d['n']} | " + " | ".join(str(d["count_below"][a]) for a in alphas)
          + f" | {d['payloads_decoded']} |")
    w("")
    w("## Are the p-values calibrated?\n")
    w("The corrected p-value takes the best of the alignment hypotheses and multiplies it back, so it is "
      "conservative by design (piled towards 1). The un-shifted clip's uncorrected p-value is one "
      "test: the weighted binomial of the encoder's soft reading (watermark/soft.py). Under a "
      "**fresh key per clip** these tests are independent and must satisfy P(p <= a) <= a; its "
      "p-values are discrete, so they sit a little below the uniform line "
      "(KS sign -1 = conservative). Under the **one evaluation key** every clip shares, clips of one "
      "speaker share (context, token) units, so their p-values are dependent and scatter more around "
      "the line.\n")
    first = next(iter(summ.values()))["single_test"]["fresh_key"]["fraction_below"]
    w("| variant | key | KS statistic | KS p | KS sign | " + " | ".join(f"P(p <= {a})" for a in first) + " |")
    w("|---|---|---|---|---|" + "---|" * len(first))
    for v, d in summ.items():
        for kind, label in (("fresh_key", "fresh per clip"), ("evaluation_key", "evaluation key")):
            t = d["single_test"][kind]
            w(f"| {v} | {label} | {t['ks_statistic']:.3f} | {t['ks_p_value']:.2g} | {t['ks_sign']:+d} | "
              + " | ".join(f"{x:.3f}" for x in t["fraction_below"].values()) + " |")
    w(f"\n![p-values]({plot_name})\n")
    w("## By speaker (corrected p-values)\n")
    w("| speaker | variant | clips | flagged | p < 1e-3 |")
    w("|---|---|---|---|---|")
    for v, d in summ.items():
        for spk, x in d["by_speaker"].items():
            w(f"| {spk} | {v} | {x['n']} | {x['flagged']} | {x['below_1e-3']} |")
    w("")
    w("Four recorded people in five languages is a small slice of human voices; a claim about "
      "human speech at large needs a larger and more varied set (see README).\n")
    t = res["timing"]
    w(f"Time: {t['total_s']:.0f} s ({t['detections']} detections, {st['workers']} worker(s)).\n")
    return "\n".join(L)


def _plot(path: Path, records: list[dict]) -> Path:
    import matplotlib

    from verify.eval_report import save_png

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for v in VARIANTS:
        for ax, key in zip(axes, ("fresh_key_p_value", "p_value"), strict=True):
            p = np.sort([r[key] for r in records if r["variant"] == v])
            if len(p):
                expected = (np.arange(1, len(p) + 1) - 0.5) / len(p)
                ax.loglog(expected, np.maximum(p, 1e-12), ".", ms=3, label=v)
    for ax, title in zip(axes, ("un-shifted clip, fresh key per clip (one test)",
                                "verdict p-value (corrected)"), strict=True):
        ax.loglog([1e-4, 1], [1e-4, 1], "k--", lw=0.8, label="uniform")
        ax.set_xlabel("expected quantile (uniform)")
        ax.set_ylabel("observed p-value")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    return save_png(fig, path)
