"""`voxseal eval ...`: evaluations of the watermark (robustness to audio attacks)."""
from __future__ import annotations

import shlex
from pathlib import Path

import click

from synth.console import emit_json


@click.group("eval")
def eval_group() -> None:
    """Measure how well the watermark survives, and how often it fires on unmarked audio."""


@eval_group.command("robustness")
@click.option("--clips", type=int, default=20, show_default=True,
              help="Watermarked TTS clips (held-out texts, voices in turn, one seed each).")
@click.option("--controls", type=int, default=None,
              help="Clips per control kind (no-watermark, codec-roundtrip, synthesizer); default: --clips.")
@click.option("--seconds", "seconds_spec", default="1,2,5,10", show_default=True,
              help="Clip lengths: each clip is cut to L seconds from its start before the attack.")
@click.option("--attacks", "attacks_spec", default=None,
              help="Comma-separated attack names or prefixes (e.g. tierA,tierB/mp3); default: all.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Directory for report.md, results.json, the plots and the clip cache.")
@click.option("--tts", "tts_ckpt", type=click.Path(dir_okay=False), default=None,
              help="TTS checkpoint (default: the shipped synth/assets/tts.pt).")
@click.option("--corpus", "corpus_dir", default="data/corpus", show_default=True,
              help="Corpus whose held-out recordings serve as controls (missing: synthesized on the fly).")
@click.option("--workers", type=int, default=1, show_default=True, help="Parallel detection processes.")
@click.option("--seed", type=int, default=0, show_default=True, help="Selects texts, seeds and payloads.")
@click.option("--perth", is_flag=True,
              help="Also run Resemble's Perth watermarker side by side (needs `resemble-perth`).")
@click.option("--delta", type=float, default=None,
              help="Evaluation only: mark the clips with this green-list bias instead of the "
                   "product's (same green lists and detector), to measure the strength trade-off.")
@click.option("--top-p", type=float, default=None,
              help="Evaluation only: sample the TTS clips with this top-p instead of the TTS's "
                   "(0.8), to measure how the sampler's nucleus moves detection.")
@click.option("--list-attacks", is_flag=True, help="Print every attack with its parameters and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def robustness_cmd(clips, controls, seconds_spec, attacks_spec, out, tts_ckpt, corpus_dir, workers, seed,
                   perth, delta, top_p, list_attacks, as_json) -> None:
    """Detection rate of watermarked TTS clips under the AudioSeal paper's attacks (Tier A) and
    strength sweeps (Tier B), against controls: unwatermarked TTS clips, codec round trips of
    held-out synthesizer speech (a stand-in for human speech), other synthesizers as they are.

    \b
    Writes DIR/report.md (tables), DIR/results.json (every clip x attack x length and the
    aggregates), DIR/roc-*.png and DIR/sweep-*.png. Clips and detections are cached in DIR,
    so a rerun with other attacks or lengths computes only what is new.

    \b
    Examples:
      voxseal eval robustness --out runs/robustness
      voxseal eval robustness --clips 3 --seconds 2 --attacks tierA/none,tierB/mp3-16k --out /tmp/r
    """
    from verify.eval_attacks import ATTACKS, EvalError, parse_lengths, select_attacks
    from verify.evaluate import RobustnessSettings, run_robustness

    if list_attacks:
        for a in ATTACKS:
            params = ", ".join(f"{k}={v}" for k, v in a.params.items())
            click.echo(f"{a.name:28s} {a.label:36s} {params}")
        return
    if out is None:
        raise EvalError("give --out DIR (where the report goes)")
    if clips < 1:
        raise EvalError(f"--clips must be at least 1 (got {clips})")
    if controls is not None and controls < 1:
        raise EvalError(f"--controls must be at least 1 (got {controls})")
    if workers < 1:
        raise EvalError(f"--workers must be at least 1 (got {workers})")
    lengths = parse_lengths(seconds_spec)
    attacks = select_attacks(attacks_spec)
    if tts_ckpt is not None and not Path(tts_ckpt).is_file():
        raise EvalError(f"no TTS checkpoint at {tts_ckpt}")
    if delta is not None:  # a bad strength fails here, before the TTS loads
        import dataclasses

        from synth.scheme import PRODUCT_CONFIG

        dataclasses.replace(PRODUCT_CONFIG, delta=delta)
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise EvalError(f"--top-p must be in (0, 1] (got {top_p:g})")
    settings = RobustnessSettings(out=out, attacks=attacks, lengths=lengths, clips=clips, controls=controls,
                                  tts=tts_ckpt, corpus=corpus_dir, workers=workers, seed=seed, perth=perth,
                                  delta=delta, top_p=top_p,
                                  command=_command_line(click.get_current_context().params))
    say = (lambda m: None) if as_json else (lambda m: click.echo(m, err=True))
    summary = run_robustness(settings, progress=not as_json, say=say)
    if as_json:
        emit_json(summary)
        return
    means = summary["tier_a_mean_tpr_at_1e-03"]
    head = means.get("5")
    if head:
        click.echo(f"Tier A mean TPR at FPR 1e-3, 5 s clips: {head['mean_tpr']:.3f} "
                   f"({head['attacks']} attack{'s' if head['attacks'] != 1 else ''})")
    click.echo(f"report: {summary['report']}")
    click.echo(f"results: {summary['results']}")


@eval_group.command("human-speech")
@click.option("--clips", type=int, default=500, show_default=True, help="Clips of recorded human speech.")
@click.option("--seconds", type=float, default=5.0, show_default=True, help="Length of each clip.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Directory for report.md, results.json and pvalues.png.")
@click.option("--workers", type=int, default=1, show_default=True, help="Parallel detection processes.")
@click.option("--seed", type=int, default=0, show_default=True, help="Selects and orders the prompts.")
@click.option("--root", type=click.Path(path_type=Path), default=None,
              help="Where the Asterisk voice prompts are (default /usr/share/asterisk/sounds).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def human_speech_cmd(clips, seconds, out, workers, seed, root, as_json) -> None:
    """False positives on real human speech: the Asterisk voice prompts Debian ships (four
    recorded people, five languages), as recorded and after the generation codec's round trip.

    \b
    Counts the clips the verifier would call watermarked (p < 1e-6) and checks that the
    single-test p-values are close to uniform (KS test, QQ plot).

    \b
    Example:
      voxseal eval human-speech --clips 500 --workers 2 --out runs/human
    """
    from verify.eval_attacks import EvalError
    from verify.eval_human import HumanSettings, run_human
    from verify.human_speech import DEFAULT_ROOT

    if out is None:
        raise EvalError("give --out DIR (where the report goes)")
    if clips < 1:
        raise EvalError(f"--clips must be at least 1 (got {clips})")
    if not 0.5 <= seconds <= 60:
        raise EvalError(f"--seconds must be between 0.5 and 60 (got {seconds:g})")
    if workers < 1:
        raise EvalError(f"--workers must be at least 1 (got {workers})")
    if out.exists() and not out.is_dir():
        raise EvalError(f"--out must be a directory: {out}")
    params = click.get_current_context().params
    settings = HumanSettings(out=out, clips=clips, seconds=seconds, workers=workers, seed=seed,
                             root=root or DEFAULT_ROOT,
                             command=_command_line(params, "human-speech"))
    say = (lambda m: None) if as_json else (lambda m: click.echo(m, err=True))
    summary = run_human(settings, progress=not as_json, say=say)
    if as_json:
        emit_json(summary)
        return
    for variant, n in summary["clips"].items():
        click.echo(f"{variant}: {summary['flagged'][variant]} of {n} human clips flagged "
                   f"(p < {summary['threshold']:g})")
    click.echo(f"report: {summary['report']}")


def _command_line(params: dict, name: str = "robustness") -> str:
    """The run's options as a command line (for the report)."""
    flags = {"seconds_spec": "--seconds", "attacks_spec": "--attacks", "tts_ckpt": "--tts",
             "corpus_dir": "--corpus", "as_json": "--json", "list_attacks": "--list-attacks"}
    parts = ["voxseal", "eval", name]
    for k, v in params.items():
        if v is None or v is False:
            continue
        flag = flags.get(k, "--" + k.replace("_", "-"))
        parts += [flag] if v is True else [flag, shlex.quote(str(v))]
    return " ".join(parts)


COMMANDS = [eval_group]
