"""Detection strength over time: where in a clip the mark is."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from verify.result import FileResult


def plot_windows(results: Sequence[FileResult], out: str | Path) -> None:
    """One line per file: -log10 of each window's p-value against time (PNG, atomic)."""
    import matplotlib

    matplotlib.use("Agg")
    import io

    import matplotlib.pyplot as plt
    import numpy as np

    from synth.fileio import atomic_write_bytes

    fig, ax = plt.subplots(figsize=(9, 3.5))
    for r in results:
        if not r.windows:
            continue
        mids = [(w["start_s"] + w["end_s"]) / 2 for w in r.windows]
        strength = [-np.log10(max(w["p_value"], 1e-300)) for w in r.windows]
        ax.plot(mids, strength, marker="o", label=f"{Path(r.path).name} ({r.verdict})")
    ax.axhline(-np.log10(0.01), color="grey", ls="--", lw=0.8, label="window p = 0.01")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("-log10 p (per window)")
    ax.set_title("VoxSeal watermark strength over time")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(out, buf.getvalue())
