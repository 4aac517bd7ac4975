"""Report of `voxseal eval robustness`: results.json, report.md and the PNG plots."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from synth.fileio import atomic_write_bytes, atomic_write_text
from verify.eval_attacks import ATTACKS_BY_NAME, AUDIOSEAL_ACCURACY, SWEEP_UNITS
from verify.evaluate import matched

KIND_LABELS = {
    "watermarked": "watermarked (reference TTS, random 32-bit payload per clip)",
    "no-watermark": "same text, voice and seed generated without the watermark",
    "codec-roundtrip": "real human speech (Asterisk's recorded voice prompts) through the generation "
                       "codec",
    "synthesizer": "other synthesizers' held-out recordings (espeak-ng, flite, festival) as they are",
}


def _f(v, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _secs(L: float) -> str:
    return f"{L:g} s"


def write_report(out: Path, results: dict) -> list[Path]:
    out = Path(out)
    atomic_write_text(out / "results.json", json.dumps(results, indent=1, default=str) + "\n")
    plots = write_plots(out, results)
    for stale in [*out.glob("roc-*.png"), *out.glob("sweep-*.png")]:
        if stale not in plots:  # from an earlier run with other attacks or lengths
            stale.unlink(missing_ok=True)
    atomic_write_text(out / "report.md", render_markdown(results, [p.name for p in plots]))
    return plots


# ------------------------------------------------------------------ markdown
def render_markdown(res: dict, plot_names: list[str]) -> str:
    st = res["settings"]
    alphas = res["alphas"]
    aggs = res["aggregates"]
    lengths = st["seconds"]
    kinds: dict[str, int] = {}
    for c in res["clips"]:
        kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
    L: list[str] = []
    w = L.append
    w("# VoxSeal robustness evaluation\n")
    w(f"Command: `{res['command']}`  \nCreated: {res['created']}  \n"
      f"TTS: {res['tts']['checkpoint']} (sha256 {str(res['tts']['sha256'])[:12]}), codec "
      f"{res['tts']['codec']}; detector: up to {res['detector']['search_hypotheses']} alignment hypotheses "
      f"(weighted Bonferroni over those a clip's gates open), evaluation key {res['detector']['key_id']}.\n")
    if st.get("delta") is not None:
        w(f"**Watermark strength:** the watermarked clips were made with green-list bias delta "
          f"{st['delta']:g} instead of the product's (same green lists and detector).\n")
    if st.get("top_p") is not None:
        w(f"**Sampler:** the TTS clips were sampled with top-p {st['top_p']:g} instead of the TTS's own.\n")
    if res["tts"].get("codec_mismatch"):
        w(f"**Warning:** {res['tts']['codec_mismatch']}\n")
    w("## What was measured\n")
    w("Clips (each cut to L seconds from its start, then attacked):\n")
    for k, n in kinds.items():
        w(f"- **{k}** × {n}: {KIND_LABELS.get(k, k)}")
    w("")
    if any(c["kind"] == "codec-roundtrip" and not (c["source"] and c["source"][0].startswith("human:"))
           for c in res["clips"]):
        w("**No real human speech was installed** for this evaluation: the `codec-roundtrip` control "
          "used synthesizer recordings the TTS was not trained on (the held-out voice flite-rms and "
          "held-out sentences) as a stand-in. `scripts/setup.sh` installs the human prompts.\n")
    else:
        w("The `codec-roundtrip` control is recorded human speech (verify/human_speech.py); "
          "`voxseal eval human-speech` measures false positives on 900 such clips.\n")
    w("Because the detector's p-values are calibrated, *TPR at FPR α* is the fraction of watermarked "
      "clips with corrected p < α; *FPR* is the empirical fraction of controls (all three kinds, same "
      "attack and length) with p < α. With n controls an FPR below 1/n cannot be observed: the FPR "
      "columns only check the calibration coarsely. *Payload* is the fraction of watermarked clips "
      "whose decoded 32-bit payload equals the embedded one (whatever the p-value); *matched* the "
      "fraction detected at the verifier's threshold (p < 1e-6) whose payload "
      "`watermark.detect.match_payload` names correctly among a stand-in registry of 1000 published "
      "ids (every watermarked clip's payload and random others), the verifier's route when blind "
      "decoding fails. A control matched to an id would be a false attribution: the controls table "
      "counts those the verifier would report (detected and matched) and, to show the matcher's own "
      "error rate, those it names whatever the p-value.\n")

    means = res.get("tier_a_mean_tpr_at_1e-03") or {}
    w("## Headline\n")
    head = means.get(f"{5.0:g}")
    if head:
        w(f"**Tier A mean TPR at FPR 1e-3, 5 s clips: {head['mean_tpr']:.3f}** "
          f"(over {head['attacks']} Tier A attacks, {kinds.get('watermarked', 0)} watermarked clips).\n")
    else:
        w("Tier A mean TPR at FPR 1e-3 for 5 s clips: not measured (5 s not among the lengths or no "
          "Tier A attack selected).\n")
    if means:
        w("| length | Tier A mean TPR @1e-3 | attacks |\n|---|---|---|")
        for k, v in sorted(means.items(), key=lambda kv: float(kv[0])):
            w(f"| {k} s | {v['mean_tpr']:.3f} | {v['attacks']} |")
        w("")

    tier_a = [a for a in st["attacks"] if a.startswith("tierA/")]
    if tier_a:
        w("## Beside AudioSeal (Tier A)\n")
        w("AudioSeal's figures are its published **accuracies at its own detection threshold** on 10 s "
          "clips (about 0.04 FPR on average), not TPR at a fixed FPR; ours are TPR at FPR 1e-3.\n")
        cols = [x for x in (5.0, 10.0) if x in lengths] or [lengths[-1]]
        w("| attack | AudioSeal accuracy (own threshold, 10 s) | "
          + " | ".join(f"VoxSeal TPR@1e-3 ({_secs(x)})" for x in cols) + " | VoxSeal control FPR@1e-3 |")
        w("|---|---|" + "---|" * len(cols) + "---|")
        for name in tier_a:
            row = [_agg(aggs, name, x) for x in cols]
            fpr = row[-1]["fpr"]["1e-03"] if row[-1] else None
            w(f"| {ATTACKS_BY_NAME[name].label} | {_f(AUDIOSEAL_ACCURACY.get(name))} | "
              + " | ".join(_f(r["tpr"]["1e-03"] if r else None) for r in row) + f" | {_f(fpr, 3)} |")
        w("")

    w("## Every attack and length\n")
    for x in lengths:
        w(f"### {_secs(x)} clips\n")
        w("| attack | parameters | n wm / ctl | " + " | ".join(f"TPR@{a}" for a in alphas) + " | "
          + " | ".join(f"FPR@{a}" for a in alphas) + " | payload | matched | median log10 p (wm) |")
        w("|---|---|---|" + "---|" * (2 * len(alphas)) + "---|---|---|")
        for name in st["attacks"]:
            r = _agg(aggs, name, x)
            if r is None:
                continue
            a = ATTACKS_BY_NAME[name]
            err = f" ({r['errors']} errors)" if r["errors"] else ""
            w(f"| `{name}` | {a.label} | {r['n_watermarked']} / {r['n_controls']}{err} | "
              + " | ".join(_f(r["tpr"][al]) for al in alphas) + " | "
              + " | ".join(_f(r["fpr"][al], 3) for al in alphas) + f" | {_f(r['payload_accuracy'])} | "
              f"{_f(r.get('payload_match_accuracy'))} | {_f(r['median_log10_p_watermarked'], 1)} |")
        w("")

    w("## Controls: empirical FPR by kind (pooled over all attacks and lengths)\n")
    w("| control | detections | " + " | ".join(f"FPR@{a}" for a in alphas)
      + " | CRC-valid payloads | registry matches reported / named at any p |")
    w("|---|---|" + "---|" * len(alphas) + "---|---|")
    for k in ("no-watermark", "codec-roundtrip", "synthesizer"):
        rows = [r for r in res["results"] if r["kind"] == k and r.get("p_value") is not None]
        if not rows:
            continue
        w(f"| {k} | {len(rows)} | " + " | ".join(
            _f(float(np.mean([r["p_value"] < float(al) for r in rows])), 4) for al in alphas)
          + f" | {sum(r['payload'] is not None for r in rows)}"
          f" | {sum(matched(r) for r in rows)} / {sum(r.get('payload_match') is not None for r in rows)} |")
    w("")

    sweeps: dict[str, list[str]] = {}
    for name in st["attacks"]:
        a = ATTACKS_BY_NAME[name]
        if a.sweep:
            sweeps.setdefault(a.sweep, []).append(name)
    if sweeps:
        w("## Tier B sweeps (TPR at FPR 1e-3)\n")
        for fam, names in sweeps.items():
            w(f"**{SWEEP_UNITS[fam]}**\n")
            w("| attack | " + " | ".join(_secs(x) for x in lengths) + " |")
            w("|---|" + "---|" * len(lengths))
            for name in names:
                w(f"| {ATTACKS_BY_NAME[name].label} | "
                  + " | ".join(_f((_agg(aggs, name, x) or {}).get("tpr", {}).get("1e-03")) for x in lengths)
                  + " |")
            w("")

    perth = res.get("perth")
    w("## Side by side: Resemble Perth (post-hoc watermark)\n")
    if perth is None:
        w("Not run (pass `--perth` where the `resemble-perth` package is importable).\n")
    elif perth.get("error"):
        w(f"Not available: {perth['error']}\n")
    else:
        w(perth.get("note", "") + "\n")
        w("| attack | length | Perth detection rate (marked) | Perth false detections (unmarked) | n |")
        w("|---|---|---|---|---|")
        for r in perth["aggregates"]:
            w(f"| `{r['attack']}` | {_secs(r['seconds'])} | {_f(r['detection_rate'])} | "
              f"{_f(r['false_detection_rate'])} | {r['n']} |")
        w("")

    if plot_names:
        w("## Plots\n")
        for p in plot_names:
            w(f"- [{p}]({p})")
        w("")
    t = res["timing"]
    w("## Timing\n")
    w(f"Total {t['total_s']:.1f} s: clips {t['clips_s']:.1f} s ({t['clips_made']} made, "
      f"{t['clips_cached']} from the cache); {t['detections_computed']} detections computed in "
      f"{t['detect_wall_s']:.1f} s wall with {st['workers']} worker(s) (mean "
      f"{_f(t['mean_detect_s'], 3)} s each, attack included), {t['detections_cached']} from the cache"
      + (f"; {t['skipped_short_clips']} skipped (clip shorter than the length)" if t["skipped_short_clips"]
         else "") + ".\n")
    return "\n".join(L) + "\n"


def _agg(aggs: list[dict], name: str, seconds: float) -> dict | None:
    for r in aggs:
        if r["attack"] == name and r["seconds"] == seconds:
            return r
    return None


# ------------------------------------------------------------------ plots
def save_png(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def roc_points(p_wm: list[float], p_ctl: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Empirical ROC: for every threshold t among the p-values, (FPR, TPR) with p <= t flagged."""
    wm, ctl = np.sort(np.asarray(p_wm, float)), np.sort(np.asarray(p_ctl, float))
    ts = np.unique(np.concatenate([wm, ctl, [0.0, 1.0]]))
    tpr = np.searchsorted(wm, ts, side="right") / max(len(wm), 1)
    fpr = np.searchsorted(ctl, ts, side="right") / max(len(ctl), 1)
    return np.concatenate([[0.0], fpr]), np.concatenate([[0.0], tpr])


def write_plots(out: Path, res: dict) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    st = res["settings"]
    recs = [r for r in res["results"] if r.get("p_value") is not None]
    paths: list[Path] = []
    for x in st["seconds"]:
        tiers = [("A", [a for a in st["attacks"] if a.startswith("tierA/")]),
                 ("B", [a for a in st["attacks"] if a.startswith("tierB/")])]
        tiers = [t for t in tiers if t[1]]
        if not tiers:
            continue
        fig, axes = plt.subplots(1, len(tiers), figsize=(6.5 * len(tiers), 5), squeeze=False)
        for ax, (tier, names) in zip(axes[0], tiers, strict=True):
            floor = 1.0
            cmap = plt.get_cmap("tab20")
            for i, name in enumerate(names):
                rows = [r for r in recs if r["attack"] == name and r["seconds"] == x]
                # ranked by the raw p-value: the same order as the corrected one, without its ties at 1
                wm = [r["raw_p_value"] for r in rows if r["kind"] == "watermarked"]
                ctl = [r["raw_p_value"] for r in rows if r["kind"] != "watermarked"]
                if not wm or not ctl:
                    continue
                fpr, tpr = roc_points(wm, ctl)
                f0 = 0.5 / len(ctl)
                floor = min(floor, f0)
                ax.step(np.maximum(fpr, f0), tpr, where="post", color=cmap((2 * i) % 20 + (i // 10) % 2),
                        lw=1.3, ls="-" if i < 10 else "--", label=name.split("/", 1)[1])
            grid = np.logspace(np.log10(floor), 0, 50)
            ax.plot(grid, grid, ":", color="grey", lw=0.8, label="chance")
            ax.set_xscale("log")
            ax.set_xlim(floor * 0.8, 1.05)
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel("false-positive rate (controls; 0 drawn at 1/(2n))")
            ax.set_ylabel("true-positive rate (watermarked)")
            ax.set_title(f"ROC, Tier {tier}, {_secs(x)} clips")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=7, loc="lower right", ncol=2)
        paths.append(save_png(fig, out / f"roc-{x:g}s.png"))

    aggs = res["aggregates"]
    fams: dict[str, list[str]] = {}
    for name in st["attacks"]:
        a = ATTACKS_BY_NAME[name]
        if a.sweep:
            fams.setdefault(a.sweep, []).append(name)
    for fam, names in fams.items():
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        strengths = [ATTACKS_BY_NAME[n].strength for n in names]
        categorical = fam == "crop"
        xs = list(range(len(names))) if categorical else strengths
        for j, x in enumerate(st["seconds"]):
            color = plt.get_cmap("viridis")(j / max(1, len(st["seconds"]) - 1))
            for al, ls in (("1e-03", "-"), ("1e-06", "--")):
                ys = [(_agg(aggs, n, x) or {}).get("tpr", {}).get(al) for n in names]
                ys = [np.nan if y is None else y for y in ys]
                ax.plot(xs, ys, ls, marker="o", color=color, label=f"{_secs(x)}, FPR {al}")
        if categorical:
            ax.set_xticks(xs, [ATTACKS_BY_NAME[n].label for n in names], fontsize=8)
        ax.set_xlabel(SWEEP_UNITS[fam])
        ax.set_ylabel("TPR")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"TPR vs attack strength: {fam}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        paths.append(save_png(fig, out / f"sweep-{fam}.png"))
    return paths
