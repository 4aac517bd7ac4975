"""Edits the verifier finds and undoes: echo (verify/echo.py) and smoothing (verify/smoothing.py)."""
import numpy as np
import pytest

from synth.edits import echo
from verify.echo import MIN_PEAK, find_echo, remove_echo

SR = 16_000


@pytest.fixture(scope="module")
def speech():
    from synth.corpus import VOICES_BY_NAME, synthesize

    x, _ = synthesize(VOICES_BY_NAME["flite-slt"], "The old farmer carried a wooden box near the "
                      "station, and then the captain cleaned two red apples in the museum.")
    return x.astype(np.float32)[: 5 * SR]


@pytest.mark.parametrize("delay_s, volume", [(0.5, 0.5), (0.23, 0.3), (0.8, 0.7)])
def test_finds_the_delay_and_gain_of_a_single_echo(speech, delay_s, volume):
    found = find_echo(echo(delay_s, volume)(speech, SR), SR, 320)
    assert found is not None and found.peak >= MIN_PEAK
    assert found.delay == round(delay_s * SR)
    assert found.gain == pytest.approx(volume, abs=0.05)


def test_remove_echo_inverts_the_comb_exactly(speech):
    d = 8000
    y = speech.astype(np.float64).copy()
    y[d:] += 0.5 * speech[:-d]
    assert np.allclose(remove_echo(y, d, 0.5), speech, atol=1e-6)
    with pytest.raises(ValueError, match="delay"):
        remove_echo(y, 0, 0.5)


def test_no_echo_in_clean_speech_noise_silence_or_short_clips(speech):
    rng = np.random.default_rng(0)
    assert find_echo(speech, SR, 320) is None
    assert find_echo(rng.standard_normal(5 * SR).astype(np.float32), SR, 320) is None
    assert find_echo(np.zeros(5 * SR, np.float32), SR, 320) is None
    assert find_echo(echo(0.5, 0.5)(speech[:SR], SR), SR, 320) is None  # 1 s: no room for 0.5 s


@pytest.mark.parametrize("width", [10, 25, 40, 80])
def test_finds_the_width_of_a_moving_average(speech, width):
    from synth.edits import smooth
    from verify.smoothing import find_box_filter

    assert find_box_filter(smooth(width)(speech, SR), SR) == width
    assert find_box_filter(speech, SR) is None
    assert find_box_filter(np.zeros(5 * SR, np.float32), SR) is None


def test_undo_box_filter_restores_the_clip(speech):
    from synth.edits import smooth
    from verify.smoothing import undo_box_filter

    back = undo_box_filter(smooth(40)(speech, SR), 40)
    err = np.sqrt(np.mean((back - speech) ** 2) / np.mean(speech ** 2))
    assert err < 0.1  # only what sat at the filter's nulls is lost
    with pytest.raises(ValueError, match="width"):
        undo_box_filter(speech, 0)


@pytest.mark.parametrize("n,nperseg", [(160_000, 1_024), (160_000, 4_096), (1_500, 1_024),
                                       (700, 1_024), (9, 4)])
def test_batched_welch_equals_scipys(n, nperseg):
    from scipy.signal import welch

    from verify.spectrum import welch_psd

    y = np.random.default_rng(n).standard_normal(n) * np.linspace(0.1, 1.0, n) + 0.3
    want_f, want_p = welch(y, SR, nperseg=min(nperseg, n))
    got_f, got_p = welch_psd(y, SR, nperseg)
    assert np.allclose(got_f, want_f)
    assert np.allclose(got_p, want_p, rtol=1e-9, atol=1e-12 * want_p.max())


def test_batched_welch_rejects_what_it_cannot_analyse():
    from verify.spectrum import welch_psd

    with pytest.raises(ValueError, match="non-empty 1-D"):
        welch_psd(np.zeros(0), SR, 256)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        welch_psd(np.zeros((2, 100)), SR, 64)


def test_null_depths_of_every_width_at_once_equal_a_per_width_quantile():
    from verify.smoothing import _null_depths_db

    freqs = np.linspace(0, SR / 2, 2049)
    power_db = np.random.default_rng(1).standard_normal(freqs.size) * 10
    widths = np.arange(2, 81)
    got = _null_depths_db(freqs, power_db, widths, SR)
    for w, g in zip(widths, got, strict=True):
        nulls = np.arange(1, w // 2) * SR / w
        nulls = nulls[nulls < 0.95 * SR / 2]
        if nulls.size < 2:
            assert g == 0.0
            continue
        half = SR / w / 2
        beside = (np.interp(nulls - half, freqs, power_db) + np.interp(nulls + half, freqs, power_db)) / 2
        assert g == pytest.approx(np.quantile(beside - np.interp(nulls, freqs, power_db), 0.25))
