"""Audio I/O: formats, mono mixing, resampling, and every bad-input case."""
import os
import struct

import numpy as np
import pytest
import soundfile as sf

from synth.audio import AudioError, encode_audio, load_audio, resample, save_audio

SR = 16_000


def tone(seconds=0.5, sr=SR, freq=440.0):
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3", "m4a", "opus"])
def test_round_trip_formats(tmp_path, fmt):
    x = tone(1.0)
    path = save_audio(tmp_path / f"a.{fmt}", x, SR)
    y, sr = load_audio(path, SR)
    assert sr == SR and y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - len(x)) <= 2048
    # a lossy codec keeps a pure tone's level within a dB or so
    assert 0.7 < np.abs(y).max() / 0.3 < 1.3


def test_stereo_is_mixed_to_mono_and_resampled(tmp_path):
    left, right = tone(1.0, 44_100, 440), np.zeros(44_100, np.float32)
    sf.write(tmp_path / "s.wav", np.stack([left, right], 1), 44_100)
    y, sr = load_audio(tmp_path / "s.wav", SR)
    assert sr == SR and abs(len(y) - SR) <= 1
    assert np.abs(y).max() == pytest.approx(0.15, rel=0.05)


def test_native_rate_kept_without_target(tmp_path):
    sf.write(tmp_path / "a.wav", tone(0.2, 22_050), 22_050)
    y, sr = load_audio(tmp_path / "a.wav")
    assert sr == 22_050 and len(y) == int(0.2 * 22_050)


def test_resample_is_polyphase_and_preserves_a_tone():
    x = tone(1.0, 48_000, 1000)
    y = resample(x, 48_000, 16_000)
    assert len(y) == 16_000
    spec = np.abs(np.fft.rfft(y))
    assert np.argmax(spec) == 1000  # 1 Hz bins over one second


def expect_error(path, match, **kw):
    with pytest.raises(AudioError, match=match) as info:
        load_audio(path, SR, **kw)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    expect_error(tmp_path / "nope.wav", "file not found")


def test_directory(tmp_path):
    expect_error(tmp_path, "is a directory")


def test_empty_file(tmp_path):
    (tmp_path / "e.wav").write_bytes(b"")
    expect_error(tmp_path / "e.wav", "empty file")


def test_zero_sample_wav(tmp_path):
    sf.write(tmp_path / "z.wav", np.zeros(0, np.float32), SR)
    expect_error(tmp_path / "z.wav", "no samples")


def test_truncated_wav(tmp_path):
    sf.write(tmp_path / "t.wav", tone(1.0), SR)
    data = (tmp_path / "t.wav").read_bytes()
    (tmp_path / "t.wav").write_bytes(data[: len(data) // 2])
    expect_error(tmp_path / "t.wav", "truncated")


def test_truncated_mp3_still_decodes_or_errors_cleanly(tmp_path):
    path = save_audio(tmp_path / "t.mp3", tone(1.0), SR)
    data = path.read_bytes()
    path.write_bytes(data[:200])
    try:
        y, _ = load_audio(path, SR)
        assert len(y) < SR
    except AudioError as exc:
        assert "\n" not in str(exc)


def test_corrupt_header(tmp_path):
    sf.write(tmp_path / "c.wav", tone(0.5), SR)
    data = bytearray((tmp_path / "c.wav").read_bytes())
    data[8:16] = b"XXXXXXXX"
    (tmp_path / "c.wav").write_bytes(bytes(data))
    expect_error(tmp_path / "c.wav", "not a readable audio file|corrupt")


def test_non_audio_bytes(tmp_path):
    (tmp_path / "x.wav").write_bytes(os.urandom(4096))
    expect_error(tmp_path / "x.wav", "not a readable audio file|corrupt")
    (tmp_path / "notes.txt").write_text("hello, this is not audio\n" * 50)
    expect_error(tmp_path / "notes.txt", "not a readable audio file|corrupt")


def test_nan_and_inf_samples(tmp_path):
    x = tone(0.5)
    x[100] = np.nan
    sf.write(tmp_path / "n.wav", x, SR, subtype="FLOAT")
    expect_error(tmp_path / "n.wav", "NaN or infinite")
    x[100] = np.inf
    sf.write(tmp_path / "i.wav", x, SR, subtype="FLOAT")
    expect_error(tmp_path / "i.wav", "NaN or infinite")


def test_duration_limit(tmp_path):
    sf.write(tmp_path / "long.wav", tone(2.0), SR)
    expect_error(tmp_path / "long.wav", "limit", max_seconds=1.0)


def test_absurd_sample_rate(tmp_path):
    path = tmp_path / "r.wav"
    sf.write(path, tone(0.5), SR)
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 24, 7)  # WAV fmt chunk: sample rate field
    path.write_bytes(bytes(data))
    expect_error(path, "sample rate")


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    x = tone(0.5)
    x[3] = np.nan
    with pytest.raises(AudioError):
        save_audio(tmp_path / "o.wav", x, SR)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(AudioError, match="does not exist"):
        save_audio(tmp_path / "missing" / "o.wav", tone(0.1), SR)


def test_existing_file_survives_a_failed_overwrite(tmp_path):
    path = save_audio(tmp_path / "keep.wav", tone(0.5), SR)
    before = path.read_bytes()
    bad = tone(0.5)
    bad[0] = np.inf
    with pytest.raises(AudioError):
        save_audio(path, bad, SR)
    assert path.read_bytes() == before


def test_unknown_output_format():
    with pytest.raises(AudioError, match="unsupported output format"):
        encode_audio(tone(0.1), SR, "xyz")
