"""Keys, PRF, tables, cluster maps, config and payload coding."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watermark.clusters import ClusterMap
from watermark.config import WatermarkConfig
from watermark.errors import ClusterMapError, ConfigError, PayloadError, WatermarkError
from watermark.keys import WatermarkKey
from watermark.payload import crc_bytes, decode, encode
from watermark.prf import prf_words
from watermark.tables import build_tables

KEY_A = WatermarkKey.from_bytes(bytes(range(32)))
KEY_B = WatermarkKey.from_bytes(bytes(range(1, 33)))


def test_error_classes_carry_exit_code():
    assert WatermarkError.exit_code == 2
    assert ConfigError("x").exit_code == 2
    assert issubclass(ClusterMapError, WatermarkError)


def test_prf_is_deterministic_prefix_stable_and_label_separated():
    sk = KEY_A.subkey("colour/cb0")
    w = prf_words(sk, "t", 1000)
    assert w.dtype == np.uint32 and w.shape == (1000,)
    assert np.array_equal(w, prf_words(sk, "t", 1000))
    assert np.array_equal(w[:10], prf_words(sk, "t", 10))
    assert not np.array_equal(w, prf_words(sk, "u", 1000))
    assert not np.array_equal(w, prf_words(KEY_B.subkey("colour/cb0"), "t", 1000))
    with pytest.raises(ValueError, match="32 bytes"):
        prf_words(b"short", "t", 4)


def test_prf_words_look_uniform():
    from scipy.stats import chisquare

    w = prf_words(KEY_A.subkey("x"), "uniformity", 200_000)
    counts = np.bincount(w >> np.uint32(28), minlength=16)
    assert chisquare(counts).pvalue > 1e-4


def test_key_never_printed():
    assert KEY_A.secret.hex() not in repr(KEY_A)
    cfg = WatermarkConfig()
    from watermark.processor import WatermarkLogitsProcessor

    proc = WatermarkLogitsProcessor(KEY_A, cfg, 1 << 31)
    assert KEY_A.secret.hex() not in repr(proc)
    assert KEY_A.key_id in repr(proc)


@settings(max_examples=20, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), c=st.sampled_from([4, 16, 64]))
def test_same_key_same_tables(seed, c):
    key = WatermarkKey.from_bytes(seed)
    for cfg in (WatermarkConfig(payload_bits=0), WatermarkConfig()):
        t1 = build_tables(key, cfg, 0, c)
        t2 = build_tables(WatermarkKey.from_bytes(seed), cfg, 0, c)
        for a, b in ((t1.green, t2.green), (t1.colour, t2.colour), (t1.position, t2.position)):
            assert (a is None and b is None) or np.array_equal(a, b)


@settings(max_examples=15, deadline=None)
@given(s1=st.binary(min_size=32, max_size=32), s2=st.binary(min_size=32, max_size=32))
def test_different_keys_give_independent_green_lists(s1, s2):
    if s1 == s2:
        return
    cfg = WatermarkConfig(payload_bits=0, gamma=0.25, context_width=1)
    g1 = build_tables(WatermarkKey.from_bytes(s1), cfg, 0, 1024).green
    g2 = build_tables(WatermarkKey.from_bytes(s2), cfg, 0, 1024).green
    n = g1.size
    # independent Bernoulli(1/4) lists: overlap ~ Binomial(n, 1/16); 7 sigma band
    both = int(np.sum(g1 & g2))
    mean, sd = n / 16, np.sqrt(n * (1 / 16) * (15 / 16))
    assert abs(both - mean) < 7 * sd
    assert abs(g1.mean() - 0.25) < 0.005


def test_codebooks_and_widths_are_coloured_independently():
    cfg = WatermarkConfig(payload_bits=0)
    g0 = build_tables(KEY_A, cfg, 0, 64).green
    g1 = build_tables(KEY_A, cfg, 1, 64).green
    assert not np.array_equal(g0, g1)
    assert build_tables(KEY_A, WatermarkConfig(payload_bits=0, context_width=0), 0, 64).green.size == 64


def test_payload_tables_are_uniform_colours_and_positions():
    cfg = WatermarkConfig()
    t = build_tables(KEY_A, cfg, 0, 1024)
    assert t.colour.max() < cfg.radix and t.position.max() < cfg.n_symbols
    frac = np.bincount(t.colour, minlength=4) / t.colour.size
    assert np.allclose(frac, 0.25, atol=0.005)


def test_cluster_map_identity_and_validation(tmp_path):
    ident = ClusterMap.identity(1024)
    assert ident.is_identity and ident.n_clusters == 1024
    cm = ClusterMap.from_array(np.arange(1024) % 16)
    assert cm.n_clusters == 16 and not cm.is_identity
    assert np.array_equal(cm.cluster_sizes(), np.full(16, 64))
    assert np.array_equal(cm(np.array([[0, 17]])), np.array([[0, 1]]))
    with pytest.raises(ClusterMapError, match="relabel"):
        ClusterMap.from_array(np.array([0, -1, 2]))
    with pytest.raises(ClusterMapError, match="1-D"):
        ClusterMap.from_array(np.zeros((2, 2), int))
    with pytest.raises(ClusterMapError, match="integers"):
        ClusterMap.from_array(np.array([0.5, 1.0]))
    with pytest.raises(ClusterMapError, match="out of range"):
        ClusterMap.from_array(np.array([0, 5]), n_clusters=3)
    for name in ("m.npz", "m.npy"):
        cm.save(tmp_path / name)
        back = ClusterMap.load(tmp_path / name)
        assert back == cm and back.fingerprint == cm.fingerprint
    with pytest.raises(ClusterMapError, match="npz or .npy"):
        cm.save(tmp_path / "m.txt")
    with pytest.raises(ClusterMapError, match="not found"):
        ClusterMap.load(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(ClusterMapError, match="cannot read"):
        ClusterMap.load(tmp_path / "bad.npz")
    assert ClusterMap.from_array(np.arange(8), 10).n_clusters == 10
    with pytest.raises(ValueError):
        cm.ids[0] = 3  # read-only, so a shared map cannot be changed under a processor
    cm2 = ClusterMap.from_array(np.arange(1024) % 16)
    assert cm2.ids.flags.writeable is False


def test_config_validation_and_roundtrip():
    cfg = WatermarkConfig()
    assert cfg.n_symbols == 24 and cfg.effective_gamma == 0.25
    assert WatermarkConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    zb = WatermarkConfig(payload_bits=0, gamma=0.3)
    assert abs(zb.effective_gamma - 0.3) < 1e-9 and zb.n_symbols == 0
    bad = [
        dict(gamma=0.0),
        dict(gamma=1.5),
        dict(delta=float("nan")),
        dict(delta=-1.0),
        dict(context_width=2),
        dict(codebooks=()),
        dict(codebooks=(0, 0)),
        dict(codebooks=(-1,)),
        dict(radix=3),
        dict(payload_bits=16),
        dict(payload_bits=32, check_bits=12),
        dict(gamma=0.5),  # payload config needs gamma = 1/radix
    ]
    for kw in bad:
        with pytest.raises(ConfigError):
            WatermarkConfig(**kw)
    with pytest.raises(ConfigError, match="set gamma=0.25"):
        WatermarkConfig(gamma=0.5)
    with pytest.raises(ConfigError, match="unknown"):
        WatermarkConfig.from_dict({"gamma": 0.25, "colour": 1})
    with pytest.raises(ConfigError, match="not supported"):
        WatermarkConfig.from_dict({"scheme": "other"})


def test_crc_check_values():
    assert crc_bytes(b"123456789", 8) == 0x4B
    assert crc_bytes(b"123456789", 16) == 0x29B1
    assert crc_bytes(b"123456789", 32) == 0xFC891918


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    radix=st.sampled_from([2, 4, 8, 16]),
    bits=st.sampled_from([32, 40, 64]),
    check=st.sampled_from([8, 16, 32]),
)
def test_payload_roundtrip_and_single_symbol_errors_detected(data, radix, bits, check):
    cfg = WatermarkConfig(gamma=1 / radix, radix=radix, payload_bits=bits, check_bits=check)
    msg = data.draw(st.integers(0, 2**bits - 1))
    sym = encode(msg, cfg)
    assert sym.shape == (cfg.n_symbols,) and sym.max() < radix
    assert decode(sym, cfg) == msg
    i = data.draw(st.integers(0, cfg.n_symbols - 1))
    bad = sym.copy()
    bad[i] = (bad[i] + data.draw(st.integers(1, radix - 1))) % radix
    assert decode(bad, cfg) is None  # a CRC catches every single-symbol error (burst <= width)


def test_payload_errors_and_all_zero_never_decodes():
    cfg = WatermarkConfig()
    assert decode(np.zeros(cfg.n_symbols, int), cfg) is None
    with pytest.raises(PayloadError, match="fit"):
        encode(2**32, cfg)
    with pytest.raises(PayloadError, match="int"):
        encode("12", cfg)
    with pytest.raises(PayloadError, match="zero-bit"):
        encode(1, WatermarkConfig(payload_bits=0))
