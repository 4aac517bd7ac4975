"""`voxseal eval robustness`: the attack table, option errors, and a tiny run with fakes.

The run uses a fake TTS (a 440 Hz tone when watermarked, noise otherwise), a fake codec
(identity) and a fake detector (p small when 440 Hz dominates the spectrum), so it needs
neither the shipped TTS checkpoint nor real detection, and finishes in seconds.
"""
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

from cli import main
from verify import evaluate
from verify.eval_attacks import ATTACKS, ATTACKS_BY_NAME, EvalError, parse_lengths, select_attacks
from verify.eval_report import roc_points

SR = 16_000

TIER_A = {
    "tierA/none": ("none", {}),
    "tierA/bandpass-500-5000": ("bandpass", {"low_hz": 500.0, "high_hz": 5000.0}),
    "tierA/highpass-1500": ("highpass", {"cutoff_hz": 1500.0}),
    "tierA/lowpass-500": ("lowpass", {"cutoff_hz": 500.0}),
    "tierA/boost-1.1": ("gain", {"factor": 1.1}),
    "tierA/duck-0.9": ("gain", {"factor": 0.9}),
    "tierA/echo-0.5s-0.5": ("echo", {"delay_s": 0.5, "volume": 0.5}),
    "tierA/pink-0.1": ("pink_noise", {"std": 0.1, "seed": 0}),
    "tierA/white-0.05": ("white_noise", {"std": 0.05, "seed": 0}),
    "tierA/speed-1.25": ("speed", {"factor": 1.25}),
    "tierA/smooth-40": ("smooth", {"window": 40}),
    "tierA/resample-32k": ("resample", {"mid_rate": 32_000}),
    "tierA/aac-64k": ("lossy", {"fmt": "m4a", "bitrate": 64_000}),
    "tierA/mp3-32k": ("lossy", {"fmt": "mp3", "bitrate": 32_000}),
}
TIER_B = {
    **{f"tierB/snr-{d}db": ("white_noise_snr", {"snr_db": float(d), "seed": 0}) for d in (40, 30, 20, 10, 5)},
    **{f"tierB/mp3-{k}k": ("lossy", {"fmt": "mp3", "bitrate": k * 1000}) for k in (8, 16, 24, 32, 40)},
    **{f"tierB/opus-{k}k": ("lossy", {"fmt": "opus", "bitrate": k * 1000}) for k in (6, 12, 24, 32)},
    "tierB/stretch-0.9": ("time_stretch", {"factor": 0.9}),
    "tierB/stretch-1.1": ("time_stretch", {"factor": 1.1}),
    "tierB/crop-50pct": ("crop", {"fraction": 0.5}),
    "tierB/crop-1s": ("crop", {"seconds": 1.0}),
}


def test_attack_table_has_every_tier_a_and_tier_b_attack_with_its_parameters():
    assert [a.name for a in ATTACKS] == list(TIER_A) + list(TIER_B)
    for name, (kind, params) in {**TIER_A, **TIER_B}.items():
        a = ATTACKS_BY_NAME[name]
        assert (a.kind, a.params) == (kind, params), name
        assert a.tier == name[4]
    sweeps = {}
    for a in ATTACKS:
        if a.sweep:
            sweeps.setdefault(a.sweep, []).append(a.strength)
    assert sweeps == {"snr": [40, 30, 20, 10, 5], "mp3": [8, 16, 24, 32, 40], "opus": [6, 12, 24, 32],
                      "stretch": [0.9, 1.1], "crop": [0.5, 1.0]}


def test_attacks_do_what_they_say():
    x = (0.1 * np.random.default_rng(0).standard_normal(2 * SR)).astype(np.float32)
    out = {n: ATTACKS_BY_NAME[n].edit()(x, SR) for n in
           ("tierA/none", "tierA/boost-1.1", "tierA/speed-1.25", "tierB/crop-50pct", "tierB/crop-1s",
            "tierB/stretch-1.1")}
    assert np.array_equal(out["tierA/none"], x)
    assert np.allclose(out["tierA/boost-1.1"], 1.1 * x, atol=1e-6)
    assert len(out["tierA/speed-1.25"]) == int(2 * SR / 1.25)
    assert len(out["tierB/crop-50pct"]) == SR and len(out["tierB/crop-1s"]) == SR
    assert abs(len(out["tierB/stretch-1.1"]) - 2 * SR / 1.1) < 2


def test_attack_selection_and_lengths():
    assert [a.name for a in select_attacks("tierA")] == list(TIER_A)
    assert [a.name for a in select_attacks("tierB/mp3")] == [f"tierB/mp3-{k}k" for k in (8, 16, 24, 32, 40)]
    assert [a.name for a in select_attacks("tierB/crop-1s,tierA/none")] == ["tierA/none", "tierB/crop-1s"]
    assert len(select_attacks(None)) == 32
    with pytest.raises(EvalError, match="unknown attack 'tierC'"):
        select_attacks("tierA,tierC")
    assert parse_lengths("10,1,2,5,2") == [1.0, 2.0, 5.0, 10.0]
    for bad in ("", "1,x", "0", "-1", "100"):
        with pytest.raises(EvalError):
            parse_lengths(bad)


def test_roc_points():
    fpr, tpr = roc_points([1e-9, 1e-4, 0.5], [0.02, 0.3, 1.0, 1.0])
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    # at threshold 1e-4 two watermarked clips and no control are flagged
    assert any(f == 0 and t == pytest.approx(2 / 3) for f, t in zip(fpr, tpr, strict=True))


@pytest.mark.parametrize("args, message", [
    (["--attacks", "tierA/nope"], "unknown attack"),
    (["--seconds", "1,two"], "bad --seconds"),
    (["--tts", "/nonexistent/tts.pt"], "no TTS checkpoint"),
    (["--clips", "0"], "--clips"),
    (["--delta", "99"], "delta must be in [0, 20]"),
    (["--top-p", "1.5"], "--top-p must be in (0, 1]"),
    (["--top-p", "0"], "--top-p must be in (0, 1]"),
])
def test_bad_options_are_one_line_errors(tmp_path, args, message):
    res = CliRunner().invoke(main, ["eval", "robustness", "--out", str(tmp_path / "r"), *args])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("voxseal: error:")


# ------------------------------------------------------------------ tiny run with fakes
class FakeCodec:
    name = "fake-codec"
    sample_rate = SR
    frame_rate = 50.0
    n_codebooks = 1
    codebook_size = 1024
    checkpoint_sha256 = "fake"
    hop_length = 320

    def encode(self, wav):
        return torch.as_tensor(wav)

    def decode(self, codes):
        return torch.as_tensor(codes)


class FakeResult:
    def __init__(self, wav):
        self.wav = wav


class FakeTTS:
    voices = ["fake-a", "fake-b"]
    checkpoint_sha256 = "fake-tts"
    codec_mismatch = None

    def __init__(self):
        self.codec = FakeCodec()
        self.calls = 0

    def generate(self, text, *, voice, seed, processor_factory=None):
        self.calls += 1
        rng = np.random.default_rng(seed)
        n = int(10.5 * SR)
        wav = 0.02 * rng.standard_normal(n)
        if processor_factory is not None:
            wav += 0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / SR)
        return FakeResult(wav.astype(np.float32))


class FakeDetector:
    fingerprint = "fake-detector"

    def describe(self):
        return {"search_hypotheses": 1, "key_id": "fake"}

    def __call__(self, wav):
        spec = np.abs(np.fft.rfft(wav))
        freqs = np.fft.rfftfreq(len(wav), 1 / SR)
        band = (freqs > 420) & (freqs < 460)
        ratio = spec[band].max() / (np.median(spec) + 1e-9)
        p = 1e-9 if ratio > 30 else 0.5
        return evaluate.Outcome(p, p, None, 100, {"scale": 1.0})


@pytest.fixture
def fake_corpus(tmp_path):
    from synth.corpus import VOICES

    root = tmp_path / "corpus"
    (root / "wavs").mkdir(parents=True)
    rng = np.random.default_rng(1)
    lines = []
    for i, v in enumerate([*VOICES, VOICES[0]]):
        uid = f"eval-{i:03d}-{v.name}"
        noise = (0.05 * rng.standard_normal(int(10.5 * SR))).astype(np.float32)
        sf.write(root / "wavs" / f"{uid}.wav", noise, SR)
        lines.append(json.dumps({"id": uid, "path": f"wavs/{uid}.wav", "text": "Held out words.",
                                 "speaker": v.name, "split": "eval", "seconds": 10.5, "phonemes": "",
                                 "phones": None}))
    (root / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    return root


def use_fakes(monkeypatch, tmp_path, tts) -> Path:
    """The evaluation with `tts`, the fake detector and no human speech; returns --out."""
    monkeypatch.setattr("verify.human_speech.DEFAULT_ROOT", tmp_path / "no-human-speech")
    monkeypatch.setattr(evaluate, "load_eval_tts", lambda checkpoint: tts)
    monkeypatch.setattr(evaluate, "make_detector", lambda spec: FakeDetector())
    return tmp_path / "report"


def test_tiny_run_writes_report_results_and_plots(tmp_path, fake_corpus, monkeypatch):
    tts = FakeTTS()
    out = use_fakes(monkeypatch, tmp_path, tts)
    args = ["eval", "robustness", "--clips", "2", "--seconds", "1,2", "--out", str(out), "--corpus",
            str(fake_corpus), "--attacks", "tierA/none,tierA/highpass-1500,tierB/mp3-16k", "--json"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["report"] == str(out / "report.md")
    for name in ("report.md", "results.json", "roc-1s.png", "roc-2s.png", "sweep-mp3.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert (out / "roc-1s.png").read_bytes()[:4] == b"\x89PNG"

    r = json.loads((out / "results.json").read_text())
    for field in ("version", "settings", "alphas", "tts", "detector", "clips", "attacks", "results",
                  "aggregates", "tier_a_mean_tpr_at_1e-03", "audioseal_tier_a_accuracy", "timing"):
        assert field in r, field
    assert r["alphas"] == ["1e-02", "1e-03", "1e-06"]
    kinds = [c["kind"] for c in r["clips"]]
    assert {k: kinds.count(k) for k in set(kinds)} == {"watermarked": 2, "no-watermark": 2,
                                                       "codec-roundtrip": 2, "synthesizer": 2}
    assert r["clips"][0]["payload"] is not None and len(r["clips"][0]["payload"]) == 8
    assert [c["voice"] for c in r["clips"] if c["kind"] == "codec-roundtrip"][0] == "flite-rms"
    assert len(r["results"]) == 8 * 2 * 3  # clips x lengths x attacks
    rec = r["results"][0]
    for field in ("clip", "kind", "attack", "seconds", "p_value", "raw_p_value", "payload",
                  "payload_correct", "payload_match", "payload_match_correct", "audio_seconds",
                  "n_units", "detect_seconds"):
        assert field in rec, field
    assert all(x["payload_correct"] is False for x in r["results"] if x["kind"] == "watermarked")
    assert all(x["payload_correct"] is None for x in r["results"] if x["kind"] != "watermarked")

    aggs = {(a["attack"], a["seconds"]): a for a in r["aggregates"]}
    assert len(aggs) == 6
    none2 = aggs[("tierA/none", 2.0)]
    assert none2["tpr"] == {"1e-02": 1.0, "1e-03": 1.0, "1e-06": 1.0}
    assert none2["fpr"] == {"1e-02": 0.0, "1e-03": 0.0, "1e-06": 0.0}
    assert set(none2["fpr_by_control"]) == {"no-watermark", "codec-roundtrip", "synthesizer"}
    assert (none2["n_watermarked"], none2["n_controls"], none2["payload_accuracy"]) == (2, 6, 0.0)
    assert (none2["payload_match_accuracy"], none2["control_payload_matches"]) == (0.0, 0)
    assert aggs[("tierA/highpass-1500", 2.0)]["tpr"]["1e-03"] == 0.0  # the 440 Hz "mark" is filtered out
    assert r["tier_a_mean_tpr_at_1e-03"]["2"] == {"mean_tpr": 0.5, "attacks": 2}
    assert r["audioseal_tier_a_accuracy"]["values"]["tierA/highpass-1500"] == 0.61

    md = (out / "report.md").read_text()
    assert "No real human speech" in md and "AudioSeal" in md and "`tierB/mp3-16k`" in md
    assert r["timing"]["detections_computed"] == 48 and r["timing"]["clips_made"] == 8

    # A rerun with another attack reuses the clips and the detections already made.
    calls = tts.calls
    args[args.index("--attacks") + 1] = "tierA/none,tierA/duck-0.9"
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    r2 = json.loads((out / "results.json").read_text())
    assert tts.calls == calls
    assert r2["timing"]["clips_made"] == 0 and r2["timing"]["clips_cached"] == 8
    assert r2["timing"]["detections_cached"] == 16 and r2["timing"]["detections_computed"] == 16
    assert not (out / "sweep-mp3.png").exists()  # plots of the previous run's attacks are gone


def test_codec_roundtrip_controls_are_human_speech_when_installed(tmp_path, fake_corpus, prompts,
                                                                   monkeypatch):
    from synth.codec import load_codec
    from verify import eval_clips

    monkeypatch.setattr("verify.human_speech.DEFAULT_ROOT", prompts)
    monkeypatch.setattr(eval_clips, "CLIP_SECONDS", 2.0)
    codec = load_codec("compact-16k")
    cache = eval_clips.ClipCache(tmp_path)
    clips = eval_clips.build_speech_clips(2, 2.0, cache, codec, fake_corpus)
    rt = [c for c in clips if c.kind == "codec-roundtrip"]
    assert [c.voice for c in rt] == ["en_US_f_Ann", "it_IT_m_Bob"]
    assert all(s.startswith(f"human:{c.voice}/") for c in rt for s in c.source)
    assert all(len(c.wav) >= 32_000 for c in rt)
    assert {c.kind for c in clips} == {"codec-roundtrip", "synthesizer"}



def test_registry_match_names_the_embedded_payload_and_nothing_for_noise():
    from types import SimpleNamespace

    from synth.scheme import PRODUCT_CONFIG
    from watermark import payload as payload_codec

    clips = [SimpleNamespace(payload=p) for p in (0x1234ABCD, 0x0BADF00D, None)]
    registry = evaluate.registry_payloads(clips, seed=0)
    assert len(registry) == evaluate.REGISTRY_SIZE and {0x1234ABCD, 0x0BADF00D} <= set(registry)
    assert registry == evaluate.registry_payloads(clips, seed=0)

    detector = SimpleNamespace(scheme=SimpleNamespace(config=PRODUCT_CONFIG))
    b, r = PRODUCT_CONFIG.n_symbols, PRODUCT_CONFIG.radix
    rng = np.random.default_rng(0)
    counts = rng.poisson(3, size=(b, r))
    counts[np.arange(b), payload_codec.encode(0x0BADF00D, PRODUCT_CONFIG)] += 6
    marked = evaluate.Outcome(1e-9, 1e-9, None, int(counts.sum()), colour_counts=counts)
    assert evaluate._registry_match(detector, marked, registry) == 0x0BADF00D
    noise = evaluate.Outcome(0.5, 0.5, None, 300, colour_counts=rng.poisson(3, size=(b, r)))
    assert evaluate._registry_match(detector, noise, registry) is None
    assert evaluate._registry_match(detector, marked, []) is None


def _tiny_robustness_args(out, corpus, clips: int) -> list[str]:
    """`eval robustness` on `clips` 1 s clips, no attack, JSON out: the runs that test a setting."""
    return ["eval", "robustness", "--clips", str(clips), "--seconds", "1", "--out", str(out), "--corpus",
            str(corpus), "--attacks", "tierA/none", "--json"]


def test_delta_marks_the_clips_with_another_strength_and_is_part_of_their_recipe(
        tmp_path, fake_corpus, monkeypatch):
    class RecordingTTS(FakeTTS):
        def __init__(self):
            super().__init__()
            self.deltas = []

        def generate(self, text, *, voice, seed, processor_factory=None):
            if processor_factory is not None:
                self.deltas.append(processor_factory().config.delta)
            return super().generate(text, voice=voice, seed=seed, processor_factory=processor_factory)

    tts = RecordingTTS()
    out = use_fakes(monkeypatch, tmp_path, tts)
    base = _tiny_robustness_args(out, fake_corpus, clips=2)
    res = CliRunner().invoke(main, [*base, "--delta", "3.5"])
    assert res.exit_code == 0, res.output
    assert tts.deltas == [3.5, 3.5]
    r = json.loads((out / "results.json").read_text())
    assert r["settings"]["delta"] == 3.5
    assert "green-list bias delta 3.5 instead of the product's" in (out / "report.md").read_text()

    # Another strength does not reuse the marked clips (or their twins) made at delta 3.5.
    res = CliRunner().invoke(main, [*base, "--delta", "2"])
    assert res.exit_code == 0, res.output
    assert tts.deltas == [3.5, 3.5, 2.0, 2.0]
    r = json.loads((out / "results.json").read_text())
    assert r["timing"]["clips_made"] == 4 and r["settings"]["delta"] == 2.0

    # Without --delta: the product's strength, and no strength note in the report.
    from synth.scheme import PRODUCT_CONFIG

    res = CliRunner().invoke(main, base)
    assert res.exit_code == 0, res.output
    assert tts.deltas[-1] == PRODUCT_CONFIG.delta
    assert "Watermark strength" not in (out / "report.md").read_text()


def test_top_p_samples_the_clips_with_another_nucleus_and_is_part_of_their_recipe(
        tmp_path, fake_corpus, monkeypatch):
    from synth.tts import SamplerSettings

    class RecordingTTS(FakeTTS):
        sampler = SamplerSettings()

        def __init__(self):
            super().__init__()
            self.top_ps = []

        def generate(self, text, *, voice, seed, processor_factory=None, sampler=None):
            self.top_ps.append(None if sampler is None else sampler.top_p)
            if sampler is not None:  # only the nucleus is replaced
                assert sampler.top_k == self.sampler.top_k and sampler.temperature == self.sampler.temperature
            return super().generate(text, voice=voice, seed=seed, processor_factory=processor_factory)

    tts = RecordingTTS()
    out = use_fakes(monkeypatch, tmp_path, tts)
    base = _tiny_robustness_args(out, fake_corpus, clips=1)
    res = CliRunner().invoke(main, [*base, "--top-p", "0.6"])
    assert res.exit_code == 0, res.output
    assert tts.top_ps == [0.6, 0.6]  # the marked clip and its unmarked twin
    r = json.loads((out / "results.json").read_text())
    assert r["settings"]["top_p"] == 0.6
    assert "sampled with top-p 0.6 instead of the TTS's own" in (out / "report.md").read_text()

    # Without --top-p the TTS's own sampler, and the clips made at 0.6 are not reused.
    res = CliRunner().invoke(main, base)
    assert res.exit_code == 0, res.output
    assert tts.top_ps == [0.6, 0.6, None, None]
    r = json.loads((out / "results.json").read_text())
    assert r["timing"]["clips_made"] == 2 and r["settings"]["top_p"] is None
    assert "Sampler:" not in (out / "report.md").read_text()


def test_scheme_with_strength_changes_only_the_biases():
    from synth.scheme import PRODUCT_CONFIG, Scheme
    from watermark.clusters import ClusterMap
    from watermark.errors import ConfigError

    base = Scheme(PRODUCT_CONFIG, ClusterMap.identity(1024), 0)
    assert base.with_strength() is base
    weaker = base.with_strength(delta=2.0)
    assert weaker.config.delta == 2.0 and weaker.config.payload_delta == PRODUCT_CONFIG.payload_delta
    assert weaker.cluster_map is base.cluster_map and weaker.codebook == 0
    assert weaker.config.gamma == PRODUCT_CONFIG.gamma
    assert base.with_strength(payload_delta=0.0).config.delta == PRODUCT_CONFIG.delta
    with pytest.raises(ConfigError, match="delta must be in"):
        base.with_strength(delta=-1.0)
