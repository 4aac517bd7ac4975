"""Suspect audio -> tokens -> detection -> payload -> registry and manifest -> verdict."""
from __future__ import annotations

import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from synth.audio import AudioError, load_audio
from synth.codec import Codec, Reading, load_codec, load_specialist_codecs
from synth.fileio import sha256_file
from synth.scheme import Scheme, scheme_for
from verify.result import DEFAULT_THRESHOLD, FileResult
from verify.search import Hypothesis, SearchPlan, undo_edit
from verify.specialists import LOUD_FRAMES_ONLY, SPECIALISTS, applies, clip_traits, loud_frames
from watermark.detect import Detection, detect_many, match_payload, score_windows
from watermark.keys import WatermarkKey
from watermark.scoring import UNREAD
from watermark.soft import SoftReading, SoftScoring

SOFT_TOP_TOKENS = 32  # codewords a soft reading keeps per frame: the rest carry no belief
SOFT = SoftScoring()  # how the verifier weighs them (watermark/soft.py)

DEFAULT_MAX_SECONDS = 600.0


@dataclass
class TokenDetection:
    detection: Detection
    p_value: float  # corrected for every planned hypothesis and key
    hypothesis: Hypothesis
    hypotheses: int
    primary_raw_p_value: float  # the clip as it is (best key), uncorrected


def _family(h: Hypothesis) -> tuple[str, float, int, str | None]:
    """What hypotheses that differ only in their sub-frame offset share: one analysis."""
    return h.encoder, h.scale, h.polarity, h.undo


class _HypothesisTokens:
    """Tokens of the clip under each hypothesis, and with `soft` the encoder's soft
    reading of them (watermark/soft.py). Hypotheses that differ only in their
    sub-frame offset share one `Codec.offset_reader` (the compact codec analyses the
    clip once for all of them), and the first stage that needs one of them encodes every
    offset the plan has for it: the last layers run as one batch, which costs less than
    a row alone plus the other rows later (the clip as it is, then its other offsets)."""

    def __init__(self, codecs: dict[str, Codec], wav: np.ndarray, plan: SearchPlan,
                 n_codebooks: int, soft: bool = True) -> None:
        self.codecs, self.wav, self.n_codebooks = codecs, wav, n_codebooks
        self.top = SOFT_TOP_TOKENS if soft else 0
        planned = plan.hypotheses(codecs["verifier"].hop_length)
        self.max_offset = max(h.offset for h in planned)
        self._offsets: dict[tuple[str, float, int, str | None], list[int]] = {}
        for h in planned:
            self._offsets.setdefault(_family(h), []).append(h.offset)
        # readings per offset for each family, or None where the clip does not open its gate
        self._readings: dict[tuple[str, float, int, str | None], dict[int, Reading] | None] = {}
        self._traits = None  # the specialists' gates read the clip once (polarity does not matter)
        self._undone: dict[tuple[str, float, int], np.ndarray | None] = {}

    def __call__(self, stage: list[Hypothesis]
                 ) -> tuple[list[np.ndarray], list[SoftReading | None]] | None:
        """(codes, soft reading or None) per hypothesis of `stage`, or None when a
        hypothesis does not apply to this clip (an undo family or a specialist whose edit
        the clip does not show)."""
        out: dict[int, np.ndarray] = {}
        soft: dict[int, SoftReading | None] = {}
        groups: dict[tuple[str, float, int, str | None], list[int]] = {}
        for i, h in enumerate(stage):
            groups.setdefault(_family(h), []).append(i)
        for key, idx in groups.items():
            if key not in self._readings:
                enc = self._analyse(*key)
                offsets = list(dict.fromkeys(self._offsets.get(key, []) + [stage[i].offset for i in idx]))
                self._readings[key] = None if enc is None else dict(zip(offsets, enc(offsets), strict=True))
            if self._readings[key] is None:
                return None
            readings = [self._readings[key][stage[i].offset] for i in idx]
            loud = self._audio(*key) if key[0] in LOUD_FRAMES_ONLY else None
            for i, r in zip(idx, readings, strict=True):
                out[i] = r.codes.numpy()
                soft[i] = None if r.top_tokens is None else SoftReading(r.top_tokens.numpy(),
                                                                         r.top_logits.numpy())
                if loud is not None:  # the quieter frames are not read (see watermark.scoring.UNREAD)
                    y = np.concatenate([np.zeros(stage[i].offset, np.float32), loud])
                    quiet = np.ones(out[i].shape[-1], bool)
                    quiet[loud_frames(y, self.codecs[key[0]].hop_length, quiet.size)] = False
                    out[i] = out[i].copy()
                    out[i][..., quiet] = UNREAD
        return [out[i] for i in range(len(stage))], [soft[i] for i in range(len(stage))]

    def applies(self, h: Hypothesis) -> bool:
        """Whether the clip shows what `h`'s family needs (always, for an ungated one);
        read from the audio alone, never the key (see verify.search)."""
        return self._audio(*_family(h)) is not None

    def _audio(self, encoder: str, scale: float, polarity: int, undo: str | None) -> np.ndarray | None:
        sr = self.codecs["verifier"].sample_rate
        y = Hypothesis(scale, 0, polarity).apply(self.wav, sr)
        if encoder != "verifier":
            if self._traits is None:  # read from the clip as it is, before any undo
                self._traits = clip_traits(y, sr)
            if not applies(encoder, self._traits):
                return None
        if undo is not None:
            key = (undo, scale, polarity)
            if key not in self._undone:  # an undo family and a specialist share the search
                self._undone[key] = undo_edit(undo, y, sr, self.codecs["verifier"].hop_length)
            y = self._undone[key]
        return y

    def _analyse(self, encoder: str, scale: float, polarity: int, undo: str | None):
        y = self._audio(encoder, scale, polarity, undo)
        if y is None:
            return None
        return self.codecs[encoder].offset_reader(torch.from_numpy(y), self.max_offset, self.n_codebooks,
                                                  self.top)


def detect_audio(wav: np.ndarray, codec: Codec, scheme: Scheme, keys: list[WatermarkKey],
                 plan: SearchPlan | None = None, threshold: float = DEFAULT_THRESHOLD,
                 early_stop: bool = True, specialist_codecs: dict[str, Codec] | None = None,
                 soft_scoring: SoftScoring | None = SOFT) -> TokenDetection:
    """Search alignments of `wav` (float32 [N] at codec rate) and detect under every key.

    The p-value is corrected for all hypotheses `plan` counts for this clip (weighted
    Bonferroni over the scales and the gated families the clip opens, see
    verify.search) times all keys, even when the search stops early because the
    corrected p-value is already below `threshold`. A plan with specialists needs their
    codecs in `specialist_codecs` (`synth.codec.load_specialist_codecs`).

    Each hypothesis is scored on the encoder's soft reading (watermark/soft.py: what it
    believes about each token, not only its best guess) with `soft_scoring`, or on the
    tokens alone with None. The scale screens read tokens alone: a screen only decides
    what to analyse, and the hard count costs less.
    """
    plan = plan or SearchPlan()
    codecs = {"verifier": codec, **(specialist_codecs or {})}
    missing = [name for name in plan.specialists if name not in codecs]
    if missing:
        raise ValueError(f"this search plan has specialist hypotheses {missing}: pass their codecs "
                         "in specialist_codecs")
    best: TokenDetection | None = None
    n_books = max(scheme.config.codebooks) + 1
    encode = _HypothesisTokens(codecs, wav, plan, n_books, soft=soft_scoring is not None)
    head = plan.screens(wav.shape[-1], codec.sample_rate)
    screen = _HypothesisTokens(codecs, wav[:head], plan, n_books, soft=False) if head else None
    stages = list(plan.stages(codec.hop_length))
    # which gated families this clip opens decides the weights, so all gates are read
    # first (~30 ms for 10 s: band levels, frame energies, the echo and filter searches)
    is_open = [not plan.gated(s[0]) or encode.applies(s[0]) for s in stages]
    open_gated = sum(len(s) for s, o in zip(stages, is_open, strict=True) if o and plan.gated(s[0]))
    total = (plan.ungated_count() + open_gated) * len(keys)
    for i, stage in enumerate(stages):
        if not is_open[i]:
            continue  # a gated family this clip does not open: not counted, not tried
        if screen is not None and stage[0].scale != plan.scales[0]:
            peek = detect_many(screen(stage)[0], keys, scheme.config, scheme.cluster_map, window_frames=0)
            if peek.raw_p_value >= plan.screen_p:
                continue  # counts as p = 1 for this stage: see SearchPlan
        tokens, soft = encode(stage)
        det = detect_many(tokens, keys, scheme.config, scheme.cluster_map, soft=soft,
                          soft_scoring=soft_scoring, window_frames=0)
        # hypotheses within a stage share one weight, so the stage's best raw p is its best
        weight = plan.multiplier(i == 0, plan.gated(stage[0]), open_gated)
        p = min(1.0, det.raw_p_value * weight * len(keys))
        if i == 0:
            primary = det.raw_p_value
        if best is None or p < best.p_value:
            c = det.candidate or 0
            best = TokenDetection(det, p, stage[c], total, primary)
            winner = tokens[c], soft[c]
        if early_stop and best.p_value < threshold:
            break
    assert best is not None
    # the winner's windows alone: scoring them on every stage would cost an exact tail each
    key = next((k for k in keys if k.key_id == best.detection.key_id), None)
    if key is not None:
        windows = score_windows(winner[0], key, scheme.config, scheme.cluster_map, soft=winner[1],
                                soft_scoring=soft_scoring)
        best = replace(best, detection=replace(best.detection, windows=windows))
    return best


class Verifier:
    """Holds what every file's verification needs: codec, scheme, keys, registry, trust."""

    def __init__(self, keys: list[WatermarkKey], *, codec: Codec | None = None,
                 scheme: Scheme | None = None, home=None, trust_pem: str | None = None,
                 threshold: float = DEFAULT_THRESHOLD, plan: SearchPlan | None = None,
                 max_seconds: float = DEFAULT_MAX_SECONDS, window_seconds: float = 2.0,
                 specialist_codecs: dict[str, Codec] | None = None) -> None:
        """With no `codec`, the default codec with its verifier encoder, and the specialist
        encoders shipped beside it (searched too); with no `plan`, the default search."""
        if not keys:
            raise ValueError("no watermark keys to verify with")
        self.keys = keys
        if codec is None:
            codec = load_codec(verifier=True)
            if specialist_codecs is None:
                specialist_codecs = load_specialist_codecs(SPECIALISTS)
        self.codec = codec
        self.specialist_codecs = specialist_codecs or {}
        self.scheme = scheme or scheme_for(self.codec)
        self.home = home
        self.trust_pem = trust_pem
        self.threshold = threshold
        self.plan = plan or SearchPlan(specialists=tuple(self.specialist_codecs))
        self.max_seconds = max_seconds
        self.window_seconds = window_seconds

    # -------------------------------------------------------------- pieces
    def _manifest(self, path: Path, result: FileResult) -> object | None:
        from provenance import ProvenanceError, verify_manifest

        try:
            report = verify_manifest(path, self.trust_pem)
        except ProvenanceError as exc:  # unreadable container for c2pa: no manifest to report
            result.manifest["errors"] = [str(exc)]
            return None
        result.manifest.update({"found": report.found, "id": report.manifest_id, "state": report.state,
                                "errors": list(report.errors),
                                "payload": None if report.payload is None else f"{report.payload:08x}"})
        return report

    def _payload_and_registry(self, path: Path, wav_native: np.ndarray, det: Detection | None,
                              report, result: FileResult) -> None:
        """The payload (read blind, else matched against the ids known here) and the registry
        lookups, in one registry session. `det` is None when the file is not watermarked."""
        from provenance import ProvenanceError, pcm_sha256

        if det is not None and det.payload is not None:
            result.payload, result.payload_source = f"{det.payload:08x}", "decoded"
        reg_cm = self.home.registry() if self.home is not None else nullcontext(None)
        try:
            with reg_cm as reg:
                if det is not None and result.payload is None:
                    known = [report.payload] if report is not None and report.payload is not None else []
                    if reg is not None:
                        known.extend(reg.published_payloads())
                    match = match_payload(det.colour_counts, list(dict.fromkeys(known)),
                                          self.scheme.config)
                    if match.payload is not None:
                        result.payload, result.payload_source = f"{match.payload:08x}", "registry-match"
                        result.payload_posterior = round(match.posterior, 6)
                if reg is not None:
                    payload = int(result.payload, 16) if result.payload else None
                    result.registry = {
                        "payload": reg.resolve_payload(payload) if payload is not None else [],
                        "file_sha256": reg.match_file_sha256(sha256_file(path)),
                        "pcm_sha256": reg.match_pcm_sha256(pcm_sha256(wav_native)),
                    }
        except ProvenanceError as exc:
            result.registry = {"error": [str(exc)]}

    def _windows(self, td: TokenDetection) -> list[dict[str, float]]:
        fr = self.codec.frame_rate * td.hypothesis.scale
        shift = td.hypothesis.offset / self.codec.sample_rate / td.hypothesis.scale
        return [{"start_s": round(max(0.0, w.start_frame / fr - shift), 3),
                 "end_s": round(max(0.0, w.end_frame / fr - shift), 3), "p_value": w.p_value}
                for w in td.detection.windows]

    # -------------------------------------------------------------- main
    def verify(self, path: str | os.PathLike) -> FileResult:
        """Analyse one file; never raises for bad input (the result carries the error)."""
        started = time.perf_counter()
        p = Path(path)
        result = FileResult(path=str(path), verdict="error", threshold=self.threshold)
        try:
            wav_native, sr = load_audio(p, None, max_seconds=self.max_seconds)
            from synth.audio import resample

            wav = resample(wav_native, sr, self.codec.sample_rate)
            if len(wav) < self.codec.hop_length * 2:
                raise AudioError(f"audio too short to analyse ({len(wav_native) / sr:.3f} s): {p}")
        except AudioError as exc:
            result.error = str(exc)
            result.seconds = round(time.perf_counter() - started, 3)
            return result
        td = detect_audio(wav, self.codec, self.scheme, self.keys, self.plan, self.threshold,
                          specialist_codecs=self.specialist_codecs)
        det = td.detection
        result.p_value = td.p_value
        result.watermarked = td.p_value < self.threshold
        result.key_id = det.key_id
        result.hypothesis = td.hypothesis.to_dict()
        result.hypotheses = td.hypotheses
        result.n_units = det.n_units
        result.windows = self._windows(td)
        report = self._manifest(p, result)
        self._payload_and_registry(p, wav_native, det if result.watermarked else None, report, result)
        result.verdict = decide(result, report)
        result.seconds = round(time.perf_counter() - started, 3)
        return result


def decide(result: FileResult, report) -> str:
    """The verdict from detection and manifest (see verify.result for the meanings)."""
    if report is not None and report.found and report.state == "Invalid" and any(
            "dataHash.mismatch" in e or "hash" in e.lower() for e in report.errors):
        return "altered"
    if not result.watermarked:
        return "not-watermarked"
    if report is not None and report.trusted:
        # A Trusted manifest's hash binding already ties it to this audio; the payload,
        # when the mark yields one, must not contradict it.
        detected = int(result.payload, 16) if result.payload else None
        if detected is None or detected == report.payload:
            return "verified"
    return "watermarked"
