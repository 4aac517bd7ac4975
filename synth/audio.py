"""Audio I/O: the one place VoxSeal reads, resamples and writes audio.

`load_audio` accepts WAV/FLAC/OGG/MP3 through libsndfile and anything else
ffmpeg decodes (M4A/AAC, Opus, ...) through PyAV, mixes to mono, resamples with
a polyphase filter and returns float32. Every way an input can be bad maps to
an `AudioError` with a one-line message. Writes are atomic.
"""
from __future__ import annotations

import io
import math
import os
import struct
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from synth.fileio import atomic_open

DEFAULT_MAX_SECONDS = 3600.0
MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 384_000
_SOUNDFILE_FORMATS = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG", "mp3": "MP3"}
_PYAV_FORMATS = {"m4a": ("mp4", "aac"), "aac": ("adts", "aac"), "opus": ("ogg", "libopus")}


class AudioError(Exception):
    """Audio that cannot be read or written; the message is one line for the user."""

    exit_code = 3


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling of `x` [..., N] from `sr_in` to `sr_out` (float32 out)."""
    if sr_in == sr_out:
        return np.asarray(x, dtype=np.float32)
    ratio = Fraction(int(sr_out), int(sr_in))
    y = resample_poly(np.asarray(x, dtype=np.float64), ratio.numerator, ratio.denominator, axis=-1)
    return y.astype(np.float32)


def _check_wav_truncation(path: Path) -> None:
    # libsndfile silently reads a short data chunk; a RIFF header that promises
    # more bytes than the file holds means the file was cut.
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        size = path.stat().st_size
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            cid, clen = struct.unpack("<4sI", fh.read(8))
            if cid == b"data":
                if pos + 8 + clen > size:
                    raise AudioError(f"truncated audio file (data chunk cut short): {path}")
                return
            pos += 8 + clen + (clen & 1)


def _read_soundfile(path: Path, max_seconds: float) -> tuple[np.ndarray, int] | None:
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return None
    if info.samplerate and info.frames / info.samplerate > max_seconds:
        raise AudioError(
            f"audio is {info.frames / info.samplerate:.0f} s long, over the {max_seconds:.0f} s "
            f"limit: {path}")
    if info.format == "WAV":
        _check_wav_truncation(path)
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"corrupt audio file ({exc}): {path}") from None
    return data.T, int(sr)


def _read_pyav(path: Path, max_seconds: float) -> tuple[np.ndarray, int]:
    import av  # imported lazily: PyAV pulls in ffmpeg's libraries

    try:
        with av.open(str(path)) as container:
            streams = [s for s in container.streams if s.type == "audio"]
            if not streams:
                raise AudioError(f"not a readable audio file (no audio stream): {path}")
            stream = streams[0]
            sr = stream.rate or stream.codec_context.sample_rate
            chunks: list[np.ndarray] = []
            total = 0
            for frame in container.decode(stream):
                arr = frame.to_ndarray()
                if arr.dtype.kind in "iu":
                    arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
                arr = np.asarray(arr, dtype=np.float32)
                if frame.format.is_planar:
                    arr = arr.reshape(len(frame.layout.channels), -1)
                else:
                    arr = arr.reshape(-1, len(frame.layout.channels)).T
                chunks.append(arr)
                total += arr.shape[1]
                if sr and total / sr > max_seconds:
                    raise AudioError(f"audio is over the {max_seconds:.0f} s limit: {path}")
    except AudioError:
        raise
    except Exception as exc:  # PyAV raises many types (InvalidDataError, ValueError, ...)
        raise AudioError(f"not a readable audio file (corrupt, truncated or not audio: "
                         f"{type(exc).__name__}): {path}") from None
    if not chunks:
        raise AudioError(f"audio file holds no samples: {path}")
    return np.concatenate(chunks, axis=1), int(sr)


def load_audio(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    *,
    max_seconds: float = DEFAULT_MAX_SECONDS,
) -> tuple[np.ndarray, int]:
    """Read an audio file as mono float32.

    Returns (samples [N] float32, sample rate). With `sample_rate` given, the
    audio is resampled to it. Raises `AudioError` with a one-line message for a
    missing file, a directory, empty/zero-sample/truncated/corrupt files,
    non-audio bytes, NaN/inf samples, absurd sample rates and audio longer
    than `max_seconds`.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(f"file not found: {path}")
    if path.is_dir():
        raise AudioError(f"is a directory, not an audio file: {path}")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise AudioError(f"cannot read {path}: {exc.strerror}") from None
    if size == 0:
        raise AudioError(f"empty file: {path}")
    if not os.access(path, os.R_OK):
        raise AudioError(f"permission denied: {path}")
    read = _read_soundfile(path, max_seconds)
    data, sr = read if read is not None else _read_pyav(path, max_seconds)
    if not (MIN_SAMPLE_RATE <= sr <= MAX_SAMPLE_RATE):
        raise AudioError(f"unsupported sample rate {sr} Hz: {path}")
    if data.shape[-1] == 0:
        raise AudioError(f"audio file holds no samples: {path}")
    if not np.all(np.isfinite(data)):
        raise AudioError(f"audio contains NaN or infinite samples: {path}")
    mono = data.mean(axis=0).astype(np.float32)
    if sample_rate is not None and sample_rate != sr:
        mono = resample(mono, sr, sample_rate)
        sr = sample_rate
    return mono, sr


def encode_audio(samples: np.ndarray, sample_rate: int, fmt: str, bitrate: int | None = None) -> bytes:
    """Encode mono float32 `samples` [N] to the bytes of a `fmt` file."""
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    if not np.all(np.isfinite(samples)):
        raise AudioError("refusing to write audio with NaN or infinite samples")
    samples = np.clip(samples, -1.0, 1.0)
    fmt = fmt.lower()
    if fmt in _SOUNDFILE_FORMATS and bitrate is None:
        buf = io.BytesIO()
        subtype = {"wav": "PCM_16", "flac": "PCM_16", "ogg": "VORBIS", "mp3": "MPEG_LAYER_III"}[fmt]
        sf.write(buf, samples, sample_rate, format=_SOUNDFILE_FORMATS[fmt], subtype=subtype)
        return buf.getvalue()
    return _encode_pyav(samples, sample_rate, fmt, bitrate)


def _encode_pyav(samples: np.ndarray, sample_rate: int, fmt: str, bitrate: int | None) -> bytes:
    import av

    container_fmt, codec = {"mp3": ("mp3", "libmp3lame"), "ogg": ("ogg", "libvorbis"),
                            **_PYAV_FORMATS}.get(fmt, (None, None))
    if container_fmt is None:
        raise AudioError(f"unsupported output format {fmt!r}; use wav, flac, mp3, ogg, m4a, "
                         f"aac or opus")
    rate = sample_rate
    if codec == "libopus":
        rate = 48000  # Opus only runs at 8/12/16/24/48 kHz; 48 kHz keeps any input rate exact
        samples = resample(samples, sample_rate, rate)
    buf = io.BytesIO()
    with av.open(buf, "w", format=container_fmt) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        if bitrate:
            stream.bit_rate = int(bitrate)
        fmt_name = stream.codec_context.codec.audio_formats[0].name
        frame_size = stream.codec_context.frame_size or 1024
        pcm = samples
        for start in range(0, len(pcm), frame_size):
            chunk = pcm[start:start + frame_size]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
            frame.sample_rate = rate
            if fmt_name != "flt":
                frame = av.AudioResampler(format=fmt_name, layout="mono", rate=rate).resample(frame)
                frames = frame
            else:
                frames = [frame]
            for f in frames:
                for packet in stream.encode(f):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def save_audio(path: str | os.PathLike, samples: np.ndarray, sample_rate: int,
               fmt: str | None = None, bitrate: int | None = None) -> Path:
    """Write mono float32 `samples` [N] atomically; the format comes from `fmt` or the suffix."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".") or "wav").lower()
    data = encode_audio(samples, sample_rate, fmt, bitrate)
    try:
        with atomic_open(path, "wb") as fh:
            fh.write(data)
    except FileNotFoundError as exc:
        raise AudioError(str(exc)) from None
    return path


def decode_bytes(data: bytes, fmt: str, sample_rate: int) -> np.ndarray:
    """Decode an in-memory encoded file (as made by `encode_audio`) to mono float32 at `sample_rate`."""
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=f".{fmt}") as tmp:
        tmp.write(data)
        tmp.flush()
        out, _ = load_audio(tmp.name, sample_rate)
    return out


def duration_seconds(n_samples: int, sample_rate: int) -> float:
    return n_samples / float(sample_rate) if sample_rate else math.nan
