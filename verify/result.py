"""What `voxseal verify` reports for one file (the `--json` schema).

One JSON object per file:

    path          str    the file as given
    verdict       str    "verified" | "watermarked" | "altered" | "not-watermarked" | "error"
    watermarked   bool   p_value < threshold (after the multiple-test correction)
    p_value       float  corrected p-value of the best (key, alignment) hypothesis (weighted
                         Bonferroni over the alignment plan, times the keys; verify/search.py); null on error
    threshold     float  the decision threshold used (default 1e-6)
    key_id        str    public id of the key that matched best; null when nothing was scored
    payload       str    the watermark's payload as 8 hex chars, or null: read blind when its
                         CRC passes, else matched against the known ids (the registry's published
                         payloads and the embedded manifest's) -- see payload_source
    payload_source str   "decoded" | "registry-match" | null
    payload_posterior float  posterior of a matched payload among the known ids and "an id not
                         known here" (watermark.detect.match_payload); null unless matched
    manifest      {found: bool, id: str|null, state: "Trusted"|"Valid"|"Invalid"|null,
                   errors: [str], payload: str|null}
    registry      {payload: [manifest ids], file_sha256: [ids], pcm_sha256: [ids]}
    hypothesis    {scale, offset_samples, polarity, encoder, undo} of the best
                  alignment (encoder: "verifier", or the specialist that read the clip:
                  "band" | "highpass" | "lowpass" | "noise" | "smooth", verify/specialists.py);
                  hypotheses: int (how many the p-value is corrected for: the scales
                  always, a specialist or undo family only where the clip opens it)
    windows       [{start_s, end_s, p_value}]  per-window (uncorrected) localisation scores
    n_units       int    de-duplicated token units scored (with a soft reading, watermark/soft.py:
                         the distinct weighted units, up to 4 per pair of frames)
    seconds       float  wall time spent on this file
    error         str    one-line reason when the file could not be analysed; else null

Verdicts:
    verified         our watermark, and a Trusted manifest bound to this audio whose payload
                     does not contradict the one the mark yields (if it yields one)
    watermarked      our watermark, but the manifest is missing, untrusted or does not match
    altered          a manifest is present but its hash no longer matches the audio
    not-watermarked  no watermark at the threshold (the manifest, if any, is still reported)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

DEFAULT_THRESHOLD = 1e-6  # corrected p-value below which a file is called watermarked

VERDICTS = ("verified", "watermarked", "altered", "not-watermarked", "error")


@dataclass
class FileResult:
    path: str
    verdict: str
    watermarked: bool = False
    p_value: float | None = None
    threshold: float = DEFAULT_THRESHOLD
    key_id: str | None = None
    payload: str | None = None
    payload_source: str | None = None
    payload_posterior: float | None = None
    manifest: dict[str, Any] = field(default_factory=lambda: {"found": False, "id": None, "state": None,
                                                               "errors": [], "payload": None})
    registry: dict[str, list[str]] = field(default_factory=dict)
    hypothesis: dict[str, Any] | None = None
    hypotheses: int = 0
    windows: list[dict[str, float]] = field(default_factory=list)
    n_units: int = 0
    seconds: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
