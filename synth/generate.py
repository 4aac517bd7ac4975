"""Generation end to end: text -> watermarked codec tokens -> audio -> signed manifest.

    payload  = registry.allocate_payload()           (names this generation)
    tokens   = TTS sampler with WatermarkLogitsProcessor(key, scheme, payload)
    audio    = codec.decode(tokens) -> OUT (wav/flac/mp3), written beside OUT first
    manifest = provenance.publish(...)                (C2PA in the file, registry row, log entry)
    OUT      = atomic rename once everything above succeeded
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from synth.audio import AudioError, load_audio, save_audio
from synth.fileio import sha256_file

FORMATS = ("wav", "flac", "mp3")
MODEL_NAME = "voxseal-reference-tts"


class GenerateError(Exception):
    exit_code = 6


@dataclass(frozen=True)
class GenerateRecord:
    path: str
    manifest_id: str
    payload: str | None
    key_id: str | None
    watermarked: bool
    duration_s: float
    seconds_taken: float
    real_time_factor: float
    voice: str | None
    seed: int
    log_index: int
    entropy_per_step: float

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def generate_file(text: str, out: str | os.PathLike, *, home, voice: str | None = None,
                  prompt: str | os.PathLike | None = None, seed: int = 0, fmt: str | None = None,
                  watermark: bool = True, include_text: bool = False, consent: str | None = None,
                  progress=None, tts=None) -> GenerateRecord:
    """Speak `text` into `out` with the watermark and a signed, registered, logged manifest."""
    from provenance import GenerationInfo, allocate_payload, publish, text_sha256
    from synth.scheme import scheme_for
    from synth.tts import load_tts
    from watermark.processor import WatermarkLogitsProcessor

    out = Path(out)
    fmt = (fmt or out.suffix.lstrip(".") or "wav").lower()
    if fmt not in FORMATS:
        raise GenerateError(f"unsupported format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not out.parent.is_dir():
        raise GenerateError(f"output directory does not exist: {out.parent}")
    if out.is_dir():
        raise GenerateError(f"output path is a directory: {out}")
    if not text or not text.strip():
        raise GenerateError("empty text: give something to say")
    tts = tts or load_tts()
    prompt_wav = prompt_sha = None
    if prompt is not None:
        prompt_wav, _ = load_audio(prompt, tts.sample_rate, max_seconds=60)
        prompt_sha = sha256_file(prompt)
    key = home.load_watermark_key()
    scheme = scheme_for(tts.codec)
    payload = allocate_payload(home) if watermark else None

    def processor():
        return WatermarkLogitsProcessor(key, scheme.config, payload, scheme.cluster_map, scheme.codebook)

    started = time.time()
    result = tts.generate(text, voice=voice, prompt_wav=prompt_wav, seed=seed,
                          processor_factory=processor if watermark else None, progress=progress)
    info = GenerationInfo(
        model_name=MODEL_NAME, model_version=str(tts.meta.get("version", "1")),
        checkpoint_sha256=tts.checkpoint_sha256, codec_id=f"{tts.codec.name}:{tts.codec.checkpoint_sha256}",
        watermark_scheme=scheme.to_dict()["name"], watermark_params=scheme.to_dict(),
        key_id=key.key_id if watermark else None, text_sha256=text_sha256(text),
        voice_prompt_sha256=prompt_sha, consent_reference=consent, seed=seed,
        watermarked=watermark, payload=payload, text=text if include_text else None)
    # Everything is written beside OUT under a temporary name and renamed at the end, so a
    # failure anywhere leaves no partial output.
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.partial.{fmt}")
    try:
        save_audio(tmp, result.wav, result.sample_rate, fmt)
        decoded, sr = load_audio(tmp)  # the PCM hash is of what the file decodes to
        record = publish(home, tmp, info, decoded, sr)
        os.replace(tmp, out)
    except AudioError as exc:
        raise GenerateError(str(exc)) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    took = time.time() - started
    return GenerateRecord(
        path=str(out), manifest_id=record.manifest_id,
        payload=None if payload is None else f"{payload:08x}", key_id=info.key_id,
        watermarked=watermark, duration_s=round(result.seconds, 3), seconds_taken=round(took, 3),
        real_time_factor=round(took / max(result.seconds, 1e-9), 3), voice=result.voice, seed=seed,
        log_index=record.log_index, entropy_per_step=round(result.entropy_per_step, 4))

