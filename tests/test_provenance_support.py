"""Shared helpers for the provenance tests (no tests here; imported by test_provenance_*).

Kept in a test_provenance_* module rather than a conftest.py: the tests directory is
shared with other packages and only these files belong to provenance.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from provenance import GenerationInfo, VoxSealHome, text_sha256

SR = 16000
MODEL_NAME = "voxseal-test-model"


def tone(seconds: float = 0.25, seed: int = 0) -> np.ndarray:
    """Deterministic int16 mono test audio (a tone plus a little noise)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    x = 0.3 * np.sin(2 * np.pi * (220 + 40 * seed % 400) * t) + 0.01 * rng.standard_normal(t.size)
    return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)


def write_audio(path: Path, samples: np.ndarray) -> np.ndarray:
    """Write WAV/FLAC (soundfile) or MP3 (ffmpeg); return the samples a decoder sees."""
    path = Path(path)
    if path.suffix == ".mp3":
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-y", "-f", "s16le", "-ar", str(SR), "-ac", "1",
             "-i", "pipe:", "-codec:a", "libmp3lame", "-b:a", "64k", str(path)],
            input=samples.astype("<i2").tobytes(), check=True,
        )
        return decode(path)
    sf.write(path, samples, SR, subtype="PCM_16")
    return decode(path)


def decode(path: Path) -> np.ndarray:
    """Decoded mono float32 samples (soundfile for WAV/FLAC, ffmpeg for MP3)."""
    path = Path(path)
    if path.suffix == ".mp3":
        raw = subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-i", str(path), "-f", "s16le", "-ac", "1",
             "-ar", str(SR), "pipe:"], capture_output=True, check=True,
        ).stdout
        return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    x, _ = sf.read(path, dtype="float32", always_2d=False)
    return x


def make_info(home: VoxSealHome, payload: int | None, **over) -> GenerationInfo:
    fields = dict(
        model_name=MODEL_NAME,
        model_version="0.1.0",
        checkpoint_sha256=hashlib.sha256(b"checkpoint").hexdigest(),
        codec_id="encodec-16k-50hz-8x1024",
        watermark_scheme="cluster-kgw-v1",
        watermark_params={"gamma": 0.25, "delta": 2.0, "clusters": 16, "context": 1},
        key_id=home.load_watermark_key().key_id,
        text_sha256=text_sha256("Hello from VoxSeal."),
        voice_prompt_sha256=hashlib.sha256(b"prompt audio").hexdigest(),
        consent_reference="consent:speaker-042/2026-01-10",
        seed=2**63 + 7,
        payload=payload,
    )
    fields.update(over)
    return GenerationInfo(**fields)


def snapshot(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under root (to prove nothing was written)."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def riff_data_offset(wav: bytes) -> tuple[int, int]:
    """(offset, size) of the `data` chunk payload of a RIFF/WAVE file."""
    pos = 12
    while pos + 8 <= len(wav):
        cid, size = wav[pos : pos + 4], int.from_bytes(wav[pos + 4 : pos + 8], "little")
        if cid == b"data":
            return pos + 8, size
        pos += 8 + size + (size & 1)
    raise AssertionError("no data chunk")


def signature_offset(data: bytes) -> int:
    """Offset of the 64-byte ES256 signature inside the COSE_Sign1 of the claim signature.

    COSE_Sign1 is [protected, unprotected, payload=nil (0xf6), signature=bstr(64)
    (0x58 0x40 ...)]: the detached-payload nil directly precedes the signature.
    """
    box = data.find(b"c2pa.signature")
    assert box > 0
    i = data.find(b"\xf6\x58\x40", box)
    assert i > 0
    return i + 3
