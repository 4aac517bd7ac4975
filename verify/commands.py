"""`voxseal verify`: suspect recordings to verdicts."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import click

from synth.console import progress_bar
from verify.parallel import ordered_map
from verify.result import DEFAULT_THRESHOLD

AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".mp4", ".webm", ".aif",
                  ".aiff"}

_worker = None


def _iter_paths(inputs: tuple[str, ...]) -> Iterator[str]:
    """Files as given, directories walked lazily (audio suffixes only), in sorted order."""
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for f in sorted(files):
                    if Path(f).suffix.lower() in AUDIO_SUFFIXES:
                        yield str(Path(root) / f)
        else:
            yield item


def _make_verifier(home_path, trust_pem, threshold, quick):
    from provenance import open_home
    from verify.search import SearchPlan
    from verify.verifier import Verifier

    home = open_home(home_path)
    keys = [home.load_watermark_key()]
    return Verifier(keys, home=home, trust_pem=trust_pem, threshold=threshold,
                    plan=SearchPlan.quick() if quick else None)


def _init_worker(args) -> None:
    import torch

    torch.set_num_threads(1)
    global _worker
    _worker = _make_verifier(*args)


def _verify_in_worker(path: str):
    return _worker.verify(path)


@click.command("verify")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per file on stdout (schema in verify/result.py).")
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Write a PNG of detection strength over time.")
@click.option("--trust", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="PEM",
              help="Trust anchors for manifests (default: the home's trust bundle).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Parallel worker processes.")
@click.option("--threshold", type=click.FloatRange(min=0, max=1, min_open=True), default=DEFAULT_THRESHOLD,
              show_default=True, help="Decision threshold on the corrected p-value.")
@click.option("--quick", is_flag=True, help="No alignment search (clean, unedited files only).")
def verify_cmd(inputs, as_json, plot, trust, workers, threshold, quick) -> None:
    """Decide whether recordings carry a VoxSeal watermark, and prove where they came from.

    Each file (any format ffmpeg reads; directories are searched) is resampled to
    the codec's rate, re-encoded under a search over sub-frame offsets and speed
    changes (and with an echo or a smoothing filter undone where the clip shows
    one, and read by a specialist encoder where it shows band-limiting filters,
    smoothing or heavy noise), and tested under every key of the home's keyring with an exact p-value
    corrected for every hypothesis the clip calls for (verify/search.py). The test weighs what the
    encoder believes about each token, not only its best guess, and stays exact (watermark/soft.py).
    The decoded payload is looked up in the registry and the embedded C2PA manifest is validated.

    \b
    Verdicts:
      verified         our watermark and a trusted manifest whose payload matches
      watermarked      our watermark; manifest missing, untrusted or not matching
      altered          a manifest whose hash no longer matches the audio
      not-watermarked  p-value above the threshold
    Exit status: 0 when every file was analysed, 2 when some could not be read
    (each such file gets a one-line error in its result).
    """
    from provenance.home import ENV_VAR

    trust_pem = None
    if trust is not None:
        try:
            trust_pem = trust.read_text("ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise click.BadParameter(f"cannot read {trust}: {exc}", param_hint="--trust") from None
    home_path = os.environ.get(ENV_VAR)
    verifier = _make_verifier(home_path, None, threshold, quick)  # fails early on a missing home
    if trust_pem is None:
        trust_pem = verifier.home.trust_anchors_pem()
    verifier.trust_pem = trust_pem
    results = []
    failed = 0
    paths = _iter_paths(inputs)
    with progress_bar("verifying", None, enabled=not as_json) as advance:
        if workers == 1:
            stream = (verifier.verify(p) for p in paths)
            pool = None
        else:
            pool = ProcessPoolExecutor(workers, initializer=_init_worker,
                                       initargs=((home_path, trust_pem, threshold, quick),))
            stream = ordered_map(pool, _verify_in_worker, paths, 2 * workers)
        try:
            for r in stream:
                advance()
                failed += r.verdict == "error"
                if as_json:
                    click.echo(json.dumps(r.to_dict()))
                else:
                    _print_line(r)
                if plot:
                    results.append(r)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
    if plot:
        from verify.plot import plot_windows

        plot_windows(results, plot)
    if failed:
        raise SystemExit(2)


def alignment_note(hypothesis: dict | None) -> str:
    """What the search had to undo to find the mark, in words ('' for the clip as it is)."""
    if not hypothesis:
        return ""
    parts = []
    if hypothesis.get("scale", 1.0) != 1.0:
        parts.append(f"played x{hypothesis['scale']:g}")
    if hypothesis.get("undo"):
        parts.append({"echo": "echo removed", "smoothing": "smoothing undone"}.get(
            hypothesis["undo"], f"{hypothesis['undo']} undone"))
    if hypothesis.get("encoder", "verifier") != "verifier":
        parts.append(f"read by the {hypothesis['encoder']} specialist")
    if hypothesis.get("offset_samples"):
        parts.append(f"shifted {hypothesis['offset_samples']} samples")
    if hypothesis.get("polarity", 1) < 0:
        parts.append("inverted")
    return f" [{', '.join(parts)}]" if parts else ""


def _print_line(r) -> None:
    if r.verdict == "error":
        click.echo(f"{r.path}: error: {r.error}")
        return
    extra = f" payload {r.payload}" if r.payload else ""
    if r.watermarked:
        extra += alignment_note(r.hypothesis)
    man = r.manifest
    man_s = f"manifest {man['state']}" if man["found"] else "no manifest"
    click.echo(f"{r.path}: {r.verdict}  p={r.p_value:.3g}{extra}  ({man_s}; {r.seconds:.2f} s)")


COMMANDS = [verify_cmd]
