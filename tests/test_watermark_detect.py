"""End to end: sample with the processor, corrupt, detect, decode, localise."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from watermark.clusters import ClusterMap
from watermark.config import WatermarkConfig
from watermark.detect import Detection, detect, detect_many
from watermark.errors import TokenError, WatermarkError
from watermark.keys import WatermarkKey
from watermark.processor import WatermarkLogitsProcessor
from watermark.synthetic import confuse, generate, nested_cluster_maps, uniform_null

KEY = WatermarkKey.from_bytes(b"detect-test-key-0123456789abcdef")
OTHER = WatermarkKey.from_bytes(b"another-key-0123456789abcdefghij")
PAYLOAD = 0xC0FFEE42
RNG_SEED = 11


@pytest.fixture(scope="module")
def maps():
    return nested_cluster_maps(1024, (64, 16), np.random.default_rng(RNG_SEED))


@pytest.fixture(scope="module")
def marked(maps):
    """Payload config, 64 clusters, h = 1: 6 sequences of 600 tokens."""
    cfg = WatermarkConfig()
    proc = WatermarkLogitsProcessor(KEY, cfg, PAYLOAD, maps[0])
    gen = generate(
        proc, 6, 600, 2.0, torch.Generator().manual_seed(RNG_SEED), top_k=25, top_p=0.8
    )
    return cfg, gen.tokens


def test_detects_and_decodes_clean_and_confused(marked, maps):
    cfg, toks = marked
    det = detect(toks[0], [OTHER, KEY], cfg, maps[0])
    assert det.key_id == KEY.key_id and det.p_value < 1e-12
    assert det.payload == PAYLOAD and det.payload_confidence > 0.9
    assert len(det.symbol_confidences) == cfg.n_symbols == len(det.symbols)
    assert det.hypotheses == 2 and det.p_value == pytest.approx(2 * det.raw_p_value)
    assert det.statistic == "sum-of-max" and det.exact
    rng = np.random.default_rng(0)
    noisy = confuse(toks, 0.8, rng, ((maps[0], 0.5), (maps[1], 0.21)))
    hits = [detect(t, KEY, cfg, maps[0]) for t in noisy]
    assert all(d.p_value < 1e-6 for d in hits)
    assert sum(d.payload == PAYLOAD for d in hits) >= 4
    assert all(d.payload in (None, PAYLOAD) for d in hits)  # never a wrong payload


def test_wrong_key_and_unmarked_audio_are_not_detected(marked, maps):
    cfg, toks = marked
    assert detect(toks[1], OTHER, cfg, maps[0]).p_value > 1e-3
    null = uniform_null(np.random.default_rng(1), 1, 600)[0]
    det = detect(null, [KEY, OTHER], cfg, maps[0])
    assert det.p_value > 1e-3 and det.payload is None


def test_detect_many_corrects_for_every_hypothesis(marked, maps):
    cfg, toks = marked
    rng = np.random.default_rng(2)
    cands = [uniform_null(rng, 1, 600)[0] for _ in range(7)] + [toks[2]]
    det = detect_many(cands, [OTHER, KEY], cfg, maps[0], extra_hypotheses=3)
    assert det.hypotheses == 8 * 2 * 3
    assert det.candidate == 7 and det.key_id == KEY.key_id
    assert det.p_value == pytest.approx(min(1.0, 48 * det.raw_p_value))
    single = detect(toks[2], KEY, cfg, maps[0])
    assert det.raw_p_value == pytest.approx(single.raw_p_value)
    assert det.payload == single.payload


def test_windows_localise_a_spliced_mark(marked, maps):
    cfg, toks = marked
    rng = np.random.default_rng(3)
    spliced = np.concatenate([uniform_null(rng, 1, 500)[0], toks[3], uniform_null(rng, 1, 500)[0]])
    det = detect(spliced, KEY, cfg, maps[0], window_frames=250)
    assert det.windows[0].start_frame == 0 and det.windows[-1].end_frame == spliced.size
    inside = [w for w in det.windows if w.start_frame >= 500 and w.end_frame <= 1100]
    outside = [w for w in det.windows if w.end_frame <= 500 or w.start_frame >= 1100]
    assert inside and outside
    assert max(w.p_value for w in inside) < 1e-3
    assert min(w.p_value for w in outside) > 1e-4
    assert all(w.n_units <= 250 for w in det.windows)
    assert detect(spliced, KEY, cfg, maps[0], window_frames=0).windows == []


def test_detection_to_dict_is_json_and_accepts_torch(marked, maps):
    cfg, toks = marked
    det = detect(torch.from_numpy(toks[4]), KEY, cfg, maps[0])
    assert isinstance(det, Detection)
    d = json.loads(json.dumps(det.to_dict()))
    assert d["payload"] == PAYLOAD and d["payload_hex"] == hex(PAYLOAD)
    assert d["key_id"] == KEY.key_id and isinstance(d["windows"], list)
    assert KEY.secret.hex() not in json.dumps(d)


def test_repeated_units_count_once(maps):
    cfg = WatermarkConfig(payload_bits=0)
    silence = np.full(5000, 17)
    det = detect(silence, KEY, cfg, maps[1])
    assert det.n_units == 1 and det.p_value >= 0.25 - 1e-12  # one unit, however long
    a = np.array([1, 2, 1, 2, 1, 2])
    assert detect(a, KEY, cfg).n_units == 2  # (1,2) and (2,1)
    assert detect(a, KEY, WatermarkConfig(payload_bits=0, context_width=0)).n_units == 2


def test_zero_bit_mark_in_payload_config_is_detected_but_decodes_nothing(maps):
    cfg = WatermarkConfig()
    proc = WatermarkLogitsProcessor(KEY, cfg, None, maps[0])
    gen = generate(proc, 1, 400, 2.0, torch.Generator().manual_seed(4), top_k=25, top_p=0.8)
    det = detect(gen.tokens[0], KEY, cfg, maps[0])
    assert det.p_value < 1e-6 and det.payload is None


def test_two_codebooks(maps):
    cfg = WatermarkConfig(payload_bits=0, codebooks=(0, 1))
    g = torch.Generator().manual_seed(5)
    rows = []
    for cb in (0, 1):
        proc = WatermarkLogitsProcessor(KEY, cfg, None, maps[0], codebook=cb)
        rows.append(generate(proc, 1, 300, 2.0, g, top_k=25, top_p=0.8).tokens[0])
    tokens = np.stack(rows + [np.zeros(300, int)])  # [K=3, T]; codebook 2 not marked
    both = detect(tokens, KEY, cfg, {0: maps[0], 1: maps[0]})
    only0 = detect(rows[0], KEY, WatermarkConfig(payload_bits=0), maps[0])
    assert both.p_value < only0.p_value < 1e-6
    with pytest.raises(TokenError, match=r"\[K, T\]"):
        detect(rows[0], KEY, cfg, maps[0])


def test_detect_argument_errors(maps):
    cfg = WatermarkConfig()
    with pytest.raises(WatermarkError, match="at least one watermark key"):
        detect(np.arange(10), [], cfg)
    with pytest.raises(WatermarkError, match="candidate"):
        detect_many([], KEY, cfg)
    with pytest.raises(TokenError, match="outside"):
        detect(np.array([0, 5000]), KEY, cfg)
    with pytest.raises(TokenError, match="integers"):
        detect(np.array([0.5, 1.0]), KEY, cfg)
    with pytest.raises(TokenError, match="shape"):
        detect(np.zeros((2, 2, 2), int), KEY, cfg)
    with pytest.raises(WatermarkError, match="extra_hypotheses"):
        detect(np.arange(10), KEY, cfg, extra_hypotheses=0)
    empty = detect(np.zeros(0, int), KEY, cfg)
    assert empty.p_value == 1.0 and empty.n_units == 0 and empty.payload is None
    assert detect(np.arange(10), KEY, cfg, ClusterMap.identity(1024)).n_units == 9


@pytest.mark.parametrize(
    "cfg",
    [
        WatermarkConfig(),
        WatermarkConfig(context_width=0),
        WatermarkConfig(payload_bits=0, codebooks=(0, 2)),
    ],
)
def test_vectorised_windows_equal_scoring_each_slice(cfg, maps):
    from watermark.scoring import Scorer

    rng = np.random.default_rng(6)
    scorer = Scorer(KEY, cfg, (maps[0],) * len(cfg.codebooks))
    toks = rng.integers(0, 40, size=(3, 1000))  # few tokens: many repeats inside windows
    rows = tuple(toks[k] for k in cfg.codebooks)
    starts, width = np.array([0, 125, 250, 750]), 250
    fast = scorer.count_windows(rows, starts, width)
    slow = scorer.count([tuple(r[s : s + width] for r in rows) for s in starts])
    assert np.array_equal(fast.n_units, slow.n_units)
    for a, b in ((fast.hits, slow.hits), (fast.colour_counts, slow.colour_counts)):
        assert (a is None and b is None) or np.array_equal(a, b)


@pytest.mark.parametrize("cfg", [WatermarkConfig(), WatermarkConfig(context_width=0),
                                 WatermarkConfig(gamma=0.25, payload_delta=2.0)])
def test_unread_frames_drop_the_units_that_touch_them(cfg, maps):
    """A token UNREAD (a frame the verifier chose not to read) removes every unit touching
    it: the sequence scores as its read runs do, no pair is formed across the gap."""
    from watermark.scoring import UNREAD, Scorer

    scorer = Scorer(KEY, cfg, (maps[0],))
    toks = np.random.default_rng(9).integers(0, 1024, size=60)
    masked = toks.copy()
    masked[[0, 10, 11, 12, 30, 59]] = UNREAD
    runs = [toks[1:10], toks[13:30], toks[31:59]]
    want = np.concatenate([scorer.units((r,)) for r in runs])
    assert np.array_equal(scorer.units((masked,)), want)
    batch = scorer.count(np.stack([masked, toks]))
    assert batch.n_units.tolist() == [np.unique(want).size, np.unique(scorer.units((toks,))).size]
    one = scorer.count([(masked,)])
    for a, b in ((one.hits, batch.hits), (one.colour_counts, batch.colour_counts)):
        assert (a is None and b is None) or np.array_equal(a, b[:1])
    windows = scorer.count_windows((masked,), np.array([0, 20]), 20)
    slices = scorer.count([(masked[0:20],), (masked[20:40],)])
    assert np.array_equal(windows.n_units, slices.n_units)
    with pytest.raises(TokenError, match="outside"):
        scorer.units((np.array([3, -2, 5]),))


def test_union_bound_is_flagged_for_huge_inputs():
    cfg = WatermarkConfig()
    toks = np.random.default_rng(8).integers(0, 1024, size=60_000)
    det = detect(toks, KEY, cfg, window_frames=0)
    assert det.n_units > 24 * 2048 and not det.exact and det.p_value == 1.0


def test_processor_rejects_unknown_previous_ids():
    proc = WatermarkLogitsProcessor(KEY, WatermarkConfig(), 5)
    with pytest.raises(TokenError, match="previous token ids"):
        proc(torch.tensor([[5000]]), torch.zeros(1, 1024))
    with pytest.raises(TokenError, match="previous token ids"):
        proc(torch.tensor([[-1]]), torch.zeros(1, 1024))


@pytest.mark.parametrize("gamma", [0.25, 0.5])
def test_layered_scheme_detects_binomially_and_carries_the_payload(gamma):
    """Layered: detection by the key-only green count, payload from the MPAC layer."""
    cfg = WatermarkConfig(gamma=gamma, payload_delta=2.0)
    assert cfg.layered and cfg.binomial and cfg.effective_gamma == pytest.approx(gamma)
    proc = WatermarkLogitsProcessor(KEY, cfg, PAYLOAD)
    gen = generate(proc, 3, 800, 3.0, torch.Generator().manual_seed(3), top_k=25, top_p=0.8)
    for toks in gen.tokens:
        det = detect(toks, [OTHER, KEY], cfg)
        assert det.statistic == "binomial" and det.key_id == KEY.key_id
        assert det.p_value < 1e-12 and det.payload == PAYLOAD
    # the payload layer alone does not make a wrong key or a zero-bit reading fire
    assert detect(gen.tokens[0], OTHER, cfg).p_value > 1e-3
    null = uniform_null(np.random.default_rng(5), 1, 800)[0]
    assert detect(null, KEY, cfg).payload is None


def test_layered_bias_adds_both_layers():
    cfg = WatermarkConfig(gamma=0.5, delta=2.0, payload_delta=1.5)
    proc = WatermarkLogitsProcessor(KEY, cfg, PAYLOAD)
    ids = torch.tensor([[17]])
    bias = proc(ids, torch.zeros(1, 1024))[0]
    green = proc.green_mask(ids)[0]
    assert set(torch.unique(bias).tolist()) <= {0.0, 1.5, 2.0, 3.5}
    assert torch.all((bias >= 2.0) == green)  # the detection layer is exactly delta on green
    assert 0.15 < float(((bias == 1.5) | (bias == 3.5)).float().mean()) < 0.35  # ~1/radix
    with pytest.raises(WatermarkError):
        WatermarkConfig(payload_delta=-1.0)


def test_match_payload_picks_the_issued_id_and_refuses_unlisted_ones():
    from watermark.detect import match_payload

    cfg = WatermarkConfig(gamma=0.25, payload_delta=2.0)
    proc = WatermarkLogitsProcessor(KEY, cfg, PAYLOAD)
    gen = generate(proc, 1, 300, 2.0, torch.Generator().manual_seed(9), top_k=25, top_p=0.8)
    det = detect(gen.tokens[0], KEY, cfg)
    assert det.colour_counts is not None and det.colour_counts.shape == (cfg.n_symbols, 4)
    rng = np.random.default_rng(4)
    others = [int(x) for x in rng.integers(0, 2**32, 500)]
    m = match_payload(det.colour_counts, others[:250] + [PAYLOAD] + others[250:], cfg)
    assert m.payload == PAYLOAD and m.posterior >= 0.99 and m.p_value < 1e-3, m
    unlisted = match_payload(det.colour_counts, others, cfg)
    assert unlisted.payload is None and unlisted.best in others
    lone = match_payload(det.colour_counts, others[:1], cfg)
    assert lone.payload is None and lone.posterior < 0.5
    assert match_payload(None, [PAYLOAD], cfg).payload is None
    assert match_payload(det.colour_counts, [], cfg).payload is None
    assert "colour_counts" not in det.to_dict()
