"""`voxseal eval robustness`: TPR / FPR / payload accuracy of the watermark under audio attacks.

    clips    = watermarked TTS clips + controls (verify.eval_clips), cached in DIR/clips
    for each clip x length L x attack (verify.eval_attacks):
        audio  = attack(clip[:L seconds])
        result = detect_audio(audio, verifier codec, scheme, [eval key], SearchPlan())
    DIR/results.json, DIR/report.md, DIR/*.png   (verify.eval_report)

The detector's p-values are corrected for every alignment hypothesis and key, and are
calibrated, so "TPR at FPR alpha" is the fraction of watermarked clips with p < alpha;
the controls' empirical FPR at the same alpha is reported beside it. Detection stops
early once p < 1e-6 (the smallest alpha), which changes no count at any alpha.
Detections are cached in DIR/detections.jsonl (keyed by clip recipe, attack, length and
the verifier's fingerprint), so a rerun only computes what is new.
"""
from __future__ import annotations

import hashlib
import json
import random
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from verify.eval_attacks import ATTACKS_BY_NAME, Attack, EvalError
from verify.eval_clips import CONTROL_KINDS, SR, Clip
from verify.parallel import ordered_map
from verify.result import DEFAULT_THRESHOLD

ALPHAS = (1e-2, 1e-3, 1e-6)
HEADLINE_ALPHA = 1e-3
HEADLINE_SECONDS = 5.0
REGISTRY_SIZE = 1000  # published ids the payload is matched against (registry_payloads)
RESULTS_VERSION = 1


def alpha_key(a: float) -> str:
    return f"{a:.0e}"


# ------------------------------------------------------------------ detection
@dataclass
class Outcome:
    p_value: float
    raw_p_value: float
    payload: int | None
    n_units: int
    hypothesis: dict | None = None
    primary_p_value: float = 1.0  # the un-shifted clip alone, uncorrected
    colour_counts: np.ndarray | None = None  # [b, r] payload colours, for registry matching


class Detector:
    """The product's detection (verify.verifier.detect_audio) with the evaluation key."""

    def __init__(self, spec: dict) -> None:
        from synth.codec import load_codec, load_specialist_codecs
        from synth.scheme import scheme_for
        from verify.eval_clips import eval_key
        from verify.search import SearchPlan
        from verify.specialists import SPECIALISTS

        self.codec = load_codec(spec.get("codec"), verifier=True)
        self.specialist_codecs = load_specialist_codecs(SPECIALISTS, spec.get("codec"))
        self.scheme = scheme_for(self.codec)
        self.keys = [eval_key()]
        self.plan = SearchPlan(specialists=tuple(self.specialist_codecs))
        self.threshold = float(spec.get("threshold", min(ALPHAS)))
        from verify.verifier import SOFT, SOFT_TOP_TOKENS

        self.soft, self.soft_top = SOFT, SOFT_TOP_TOKENS

    @property
    def fingerprint(self) -> str:
        info = {"codec": self.codec.info(), "scheme": self.scheme.to_dict(), "plan": repr(self.plan),
                "soft": [repr(self.soft), self.soft_top], "threshold": self.threshold,
                "keys": [k.key_id for k in self.keys],
                "registry_size": REGISTRY_SIZE}
        if self.codec.name == "compact-16k":
            from synth.compact_codec import encoder_asset

            for name in ("verifier", *self.specialist_codecs):
                path = encoder_asset(name)
                if path.is_file():
                    info[f"{name}_encoder"] = hashlib.sha256(path.read_bytes()).hexdigest()
        return hashlib.sha256(json.dumps(info, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def describe(self) -> dict:
        return {"codec": self.codec.info(), "scheme": self.scheme.to_dict(),
                "search_hypotheses": self.plan.count() * len(self.keys), "plan": repr(self.plan),
                "soft_scoring": repr(self.soft),
                "early_stop_below": self.threshold, "key_id": self.keys[0].key_id}

    def __call__(self, wav: np.ndarray) -> Outcome:
        from verify.verifier import detect_audio

        if len(wav) < 2 * self.codec.hop_length:
            return Outcome(1.0, 1.0, None, 0, None)
        td = detect_audio(wav, self.codec, self.scheme, self.keys, self.plan, threshold=self.threshold,
                          specialist_codecs=self.specialist_codecs, soft_scoring=self.soft)
        d = td.detection
        return Outcome(td.p_value, d.raw_p_value, d.payload, d.n_units, td.hypothesis.to_dict(),
                       td.primary_raw_p_value, d.colour_counts)


def make_detector(spec: dict) -> Detector:
    """Build the detector (a worker calls this once; tests replace it)."""
    return Detector(spec)


def _registry_match(detector, outcome: Outcome, registry: list[int]) -> int | None:
    """The payload `watermark.detect.match_payload` names among `registry` (the verifier's
    route when blind decoding fails: the ids a deployment's registry has published)."""
    if outcome.colour_counts is None or not registry:
        return None
    from watermark.detect import match_payload

    return match_payload(outcome.colour_counts, registry, detector.scheme.config).payload


def registry_payloads(clips: list, seed: int) -> list[int]:
    """The evaluation's stand-in registry: every watermarked clip's payload plus random
    ids up to REGISTRY_SIZE (so a match must single out one id of 1000)."""
    ids = {c.payload for c in clips if c.payload is not None}
    rng = random.Random(f"voxseal-eval-registry-{seed}")
    while len(ids) < REGISTRY_SIZE:
        ids.add(rng.getrandbits(32))
    return sorted(ids)


def evaluate_task(detector, task: dict) -> list[dict]:
    """One clip at one length under each of the task's attacks -> result records."""
    wav = task["wav"]
    out = []
    done: dict[str, dict] = {}  # identical edits under two names (tierA/mp3-32k, tierB/mp3-32k) run once
    for name in task["attacks"]:
        attack = ATTACKS_BY_NAME[name]
        same = done.get(attack.edit_id)
        if same is not None:
            out.append({**same, "attack": name})
            continue
        rec: dict[str, Any] = {"clip": task["clip"], "kind": task["kind"], "voice": task["voice"],
                               "attack": name, "seconds": task["seconds"]}
        started = time.perf_counter()
        try:
            x = attack.edit()(wav, SR)
            o = detector(np.asarray(x, np.float32))
        except Exception as exc:  # one attack failing must not sink the run; it is reported
            rec.update({"error": f"{type(exc).__name__}: {exc}", "p_value": None, "raw_p_value": None,
                        "payload": None, "payload_correct": None, "n_units": 0, "hypothesis": None,
                        "audio_seconds": None})
        else:
            embedded = task["payload"]
            match_id = _registry_match(detector, o, task.get("registry", []))
            rec.update({
                "audio_seconds": round(len(x) / SR, 3),
                "p_value": float(o.p_value), "raw_p_value": float(o.raw_p_value),
                "payload": None if o.payload is None else f"{o.payload:08x}",
                "payload_correct": (o.payload == embedded) if embedded is not None else None,
                "payload_match": None if match_id is None else f"{match_id:08x}",
                "payload_match_correct": (match_id == embedded) if embedded is not None else None,
                "n_units": int(o.n_units), "hypothesis": o.hypothesis, "error": None})
        rec["detect_seconds"] = round(time.perf_counter() - started, 4)
        out.append(rec)
        done[attack.edit_id] = rec
    return out


_worker_detector = None


def _init_worker(spec: dict) -> None:
    import torch

    torch.set_num_threads(1)
    global _worker_detector
    _worker_detector = make_detector(spec)


def _run_in_worker(task: dict) -> list[dict]:
    return evaluate_task(_worker_detector, task)


class DetectionCache:
    """DIR/detections.jsonl: one line per computed record, keyed by what it depends on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, dict] = {}
        if path.is_file():
            for line in path.read_text().splitlines():
                try:
                    row = json.loads(line)
                    self.records[row["k"]] = row["r"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by an interrupted run

    @staticmethod
    def key(clip: Clip, attack: Attack, seconds: float, fingerprint: str) -> str:
        blob = json.dumps([clip.recipe, attack.edit_id, seconds, fingerprint], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def add(self, items: list[tuple[str, dict]]) -> None:
        with open(self.path, "a") as fh:
            for k, r in items:
                self.records[k] = r
                fh.write(json.dumps({"k": k, "r": r}) + "\n")


# ------------------------------------------------------------------ aggregation
def _frac(flags: list[bool]) -> float | None:
    return round(float(np.mean(flags)), 4) if flags else None


def matched(record: dict) -> bool:
    """Whether the verifier would report the record's registry match: it matches only
    files it calls watermarked (p below the default threshold). Records keep the match
    computed whatever the p-value, to show the matcher's own error rate."""
    return record.get("payload_match") is not None and record["p_value"] < DEFAULT_THRESHOLD


def aggregate(records: list[dict], attacks: list[Attack], lengths: list[float]) -> list[dict]:
    """Per attack x length: TPR and control FPR at each alpha, payload accuracy, counts."""
    by: dict[tuple[str, float], list[dict]] = {}
    for r in records:
        by.setdefault((r["attack"], r["seconds"]), []).append(r)
    out = []
    for a in attacks:
        for L in lengths:
            rows = by.get((a.name, L), [])
            ok = [r for r in rows if r.get("p_value") is not None]
            wm = [r for r in ok if r["kind"] == "watermarked"]
            ctl = [r for r in ok if r["kind"] != "watermarked"]
            row = {
                "attack": a.name, "tier": a.tier, "seconds": L,
                "n_watermarked": len(wm), "n_controls": len(ctl),
                "errors": sum(1 for r in rows if r.get("p_value") is None),
                "tpr": {alpha_key(al): _frac([r["p_value"] < al for r in wm]) for al in ALPHAS},
                "fpr": {alpha_key(al): _frac([r["p_value"] < al for r in ctl]) for al in ALPHAS},
                "fpr_by_control": {
                    k: {alpha_key(al): _frac([r["p_value"] < al for r in ctl if r["kind"] == k])
                        for al in ALPHAS} for k in CONTROL_KINDS},
                "payload_accuracy": _frac([bool(r["payload_correct"]) for r in wm]),
                "payload_match_accuracy": _frac([matched(r) and bool(r["payload_match_correct"])
                                                 for r in wm]),
                "control_payloads_decoded": sum(1 for r in ctl if r["payload"] is not None),
                "control_payload_matches": sum(1 for r in ctl if matched(r)),
                "median_log10_p_watermarked": (round(float(np.median(
                    [np.log10(max(r["p_value"], 1e-300)) for r in wm])), 3) if wm else None),
            }
            out.append(row)
    return out


def tier_a_means(aggregates: list[dict], alpha: float = HEADLINE_ALPHA) -> dict[str, dict]:
    """Mean Tier A TPR at `alpha` per length (over the Tier A attacks evaluated)."""
    out: dict[str, dict] = {}
    for row in aggregates:
        if row["tier"] != "A" or row["tpr"][alpha_key(alpha)] is None:
            continue
        d = out.setdefault(f"{row['seconds']:g}", {"values": []})
        d["values"].append(row["tpr"][alpha_key(alpha)])
    return {k: {"mean_tpr": round(float(np.mean(v["values"])), 4), "attacks": len(v["values"])}
            for k, v in out.items()}


# ------------------------------------------------------------------ the run
@dataclass
class RobustnessSettings:
    out: Path
    attacks: list[Attack]
    lengths: list[float]
    clips: int = 20
    controls: int | None = None  # per control kind; default: as many as --clips
    tts: str | None = None
    corpus: str | None = "data/corpus"
    workers: int = 1
    seed: int = 0
    perth: bool = False
    delta: float | None = None  # the watermarked clips' green-list bias; None: the product's
    top_p: float | None = None  # the TTS sampler's nucleus for the clips; None: the TTS's own
    command: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def n_controls(self) -> int:
        return self.clips if self.controls is None else self.controls


def load_eval_tts(checkpoint: str | None):
    from synth.tts import load_tts

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_tts(checkpoint)


def run_robustness(s: RobustnessSettings, *, progress: bool = True,
                   say: Callable[[str], None] = lambda m: None) -> dict:
    """Make (or reuse) the clips, run every detection, write the report; returns the summary."""
    from synth.console import progress_bar
    from verify.eval_clips import ClipCache, build_speech_clips, build_tts_clips
    from verify.eval_report import write_report

    if s.clips < 1:
        raise EvalError("--clips must be at least 1")
    out = Path(s.out)
    if out.exists() and not out.is_dir():
        raise EvalError(f"--out must be a directory: {out}")
    started = time.time()
    tts = load_eval_tts(s.tts)  # fails first (one line) when the checkpoint is missing
    out.mkdir(parents=True, exist_ok=True)
    need = max(s.lengths)
    cache = ClipCache(out)
    t0 = time.time()
    n_ctl = s.n_controls
    with progress_bar("making clips", 2 * s.clips + 2 * n_ctl, enabled=progress) as advance:
        clips = build_tts_clips(tts, s.clips, need, cache, seed=s.seed, advance=advance, delta=s.delta,
                                top_p=s.top_p)
        clips = [c for c in clips if c.kind == "watermarked"] + \
            [c for c in clips if c.kind == "no-watermark"][:n_ctl]
        clips += build_speech_clips(n_ctl, need, cache, tts.codec, s.corpus, seed=s.seed, advance=advance)
    clip_seconds = time.time() - t0
    say(f"{len(clips)} clips ({cache.hits} from the cache, {cache.misses} made, {clip_seconds:.1f} s)")

    registry = registry_payloads(clips, s.seed)
    spec = {"codec": tts.codec.name, "threshold": min(ALPHAS)}
    detector = make_detector(spec)
    fingerprint = detector.fingerprint
    dcache = DetectionCache(out / "detections.jsonl")
    records: list[dict] = []
    tasks: list[dict] = []
    skipped = 0
    task_keys: list[dict[str, str]] = []
    for c in clips:
        for L in s.lengths:
            n = int(round(L * SR))
            if len(c.wav) < n:
                skipped += len(s.attacks)
                continue
            todo, keys = [], {}
            for a in s.attacks:
                k = DetectionCache.key(c, a, L, fingerprint)
                if k in dcache.records:
                    records.append({**dcache.records[k], "attack": a.name})
                else:
                    todo.append(a.name)
                    keys[a.name] = k
            if todo:
                tasks.append({"clip": c.id, "kind": c.kind, "voice": c.voice, "payload": c.payload,
                              "seconds": L, "wav": c.wav[:n], "attacks": todo, "registry": registry})
                task_keys.append(keys)
    cached = len(records)
    total = sum(len(t["attacks"]) for t in tasks)
    timings: list[float] = []
    t0 = time.time()
    with progress_bar("detecting", total, enabled=progress) as advance:
        if s.workers <= 1 or len(tasks) <= 1:
            import torch

            before = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                stream: Iterator[list[dict]] = (evaluate_task(detector, t) for t in tasks)
                _collect(stream, tasks, task_keys, dcache, records, timings, advance)
            finally:
                torch.set_num_threads(before)
        else:
            with ProcessPoolExecutor(s.workers, initializer=_init_worker, initargs=(spec,)) as pool:
                try:
                    stream = ordered_map(pool, _run_in_worker, tasks, 2 * s.workers)
                    _collect(stream, tasks, task_keys, dcache, records, timings, advance)
                except BaseException:
                    pool.shutdown(cancel_futures=True)
                    raise
    detect_seconds = time.time() - t0
    say(f"{total} detections computed ({cached} from the cache) in {detect_seconds:.1f} s")

    perth = None
    if s.perth:
        from verify.eval_perth import run_perth

        perth = run_perth([c for c in clips if c.kind == "no-watermark"], s.attacks, s.lengths,
                          cache=cache, progress=progress)

    order = {c.id: i for i, c in enumerate(clips)}
    aorder = {a.name: i for i, a in enumerate(s.attacks)}
    records.sort(key=lambda r: (order.get(r["clip"], 1 << 30), r["seconds"], aorder.get(r["attack"], 0)))
    aggregates = aggregate(records, s.attacks, s.lengths)
    results = {
        "version": RESULTS_VERSION,
        "command": s.command,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": {"clips": s.clips, "controls_per_kind": n_ctl, "seconds": s.lengths,
                     "attacks": [a.name for a in s.attacks], "workers": s.workers, "seed": s.seed,
                     "corpus": s.corpus, "delta": s.delta, "top_p": s.top_p, **s.extra},
        "alphas": [alpha_key(a) for a in ALPHAS],
        "tts": {"checkpoint": str(s.tts) if s.tts else "synth/assets/tts.pt (shipped)",
                "sha256": tts.checkpoint_sha256, "codec": tts.codec.name,
                "codec_mismatch": tts.codec_mismatch, "voices": list(tts.voices)},
        "detector": detector.describe(),
        "clips": [c.to_dict() for c in clips],
        "attacks": [a.to_dict() for a in s.attacks],
        "results": records,
        "aggregates": aggregates,
        "tier_a_mean_tpr_at_1e-03": tier_a_means(aggregates),
        "audioseal_tier_a_accuracy": _audioseal(),
        "perth": perth,
        "timing": {"total_s": round(time.time() - started, 2), "clips_s": round(clip_seconds, 2),
                   "detect_wall_s": round(detect_seconds, 2), "detections_computed": total,
                   "detections_cached": cached, "skipped_short_clips": skipped,
                   "clips_made": cache.misses, "clips_cached": cache.hits,
                   "mean_detect_s": round(float(np.mean(timings)), 4) if timings else None},
    }
    paths = write_report(out, results)
    return {"report": str(out / "report.md"), "results": str(out / "results.json"),
            "plots": [str(p) for p in paths], "tier_a_mean_tpr_at_1e-03": results["tier_a_mean_tpr_at_1e-03"],
            "timing": results["timing"]}


def _collect(stream, tasks, task_keys, dcache: DetectionCache, records: list[dict], timings: list[float],
             advance) -> None:
    for task, keys, recs in zip(tasks, task_keys, stream, strict=False):
        dcache.add([(keys[r["attack"]], r) for r in recs if r.get("error") is None])
        records.extend(recs)
        timings.extend(r["detect_seconds"] for r in recs)
        advance(len(task["attacks"]))


def _audioseal() -> dict:
    from verify.eval_attacks import AUDIOSEAL_ACCURACY

    return {"note": "AudioSeal (San Roman et al. 2024), 10 s clips: accuracy at AudioSeal's own "
                    "detection threshold, not TPR at a fixed FPR", "values": dict(AUDIOSEAL_ACCURACY)}
