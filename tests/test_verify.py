"""Verification: alignment search, verdicts, JSON schema, hostile inputs, CLI exit codes."""
import json
import os

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from cli import main
from synth.codec import load_codec
from synth.compact_codec import _sq_dist
from synth.scheme import scheme_for
from verify.result import FileResult
from verify.search import Hypothesis, SearchPlan
from verify.verifier import decide, detect_audio
from watermark.keys import WatermarkKey
from watermark.processor import WatermarkLogitsProcessor
from watermark.sampling import sample_next

SR = 16_000


def _sample(codec, wav, key, scheme, payload, seed, tau):
    m = codec.model
    z = m.encoder(torch.from_numpy(wav)[None, None])[0].T
    cb = m.codebooks[0].embed
    logits = -_sq_dist(z, cb) / tau
    proc = WatermarkLogitsProcessor(key, scheme.config, payload, scheme.cluster_map, scheme.codebook)
    gen = torch.Generator().manual_seed(seed)
    hist = torch.zeros(1, 0, dtype=torch.long)
    for t in range(z.shape[0]):
        tok = sample_next(proc(hist, logits[t][None]), hist, generator=gen)
        hist = torch.cat([hist, tok[:, None]], 1)
    return z, hist[0]


def resample_tokens(codec, wav, key, scheme, payload=None, seed=0, tau=2.0):
    """The watermarked codebook-1 tokens of `resample_with_watermark`."""
    with torch.no_grad():
        return _sample(codec, wav, key, scheme, payload, seed, tau)[1].numpy()


def resample_with_watermark(codec, wav, key, scheme, payload, seed=0, tau=2.0):
    """Re-sample codebook 1 of real speech under the watermark (a stand-in for the TTS:
    logits = minus squared distances of the encoder latents to the codewords)."""
    m = codec.model
    with torch.no_grad():
        z, first = _sample(codec, wav, key, scheme, payload, seed, tau)
        cb = m.codebooks[0].embed
        res = z - cb[first]
        codes = [first]
        for book in m.codebooks[1:]:
            idx = _sq_dist(res, book.embed).argmin(1)
            codes.append(idx)
            res = res - book.embed[idx]
        return codec.decode(torch.stack(codes)).numpy()


@pytest.fixture(scope="module")
def setup():
    from synth.corpus import VOICES_BY_NAME, synthesize

    codec = load_codec(verifier=True)
    gen_codec = load_codec()
    scheme = scheme_for(gen_codec)
    key = WatermarkKey.from_bytes(bytes(range(32)))
    text = ("The old farmer carried a wooden box near the station, and then the captain "
            "cleaned two red apples in the museum before the storm.")
    speech, _ = synthesize(VOICES_BY_NAME["flite-slt"], text)
    marked = resample_with_watermark(gen_codec, speech, key, scheme, payload=0x1234ABCD)
    return codec, scheme, key, speech, marked


def test_plan_counts_every_hypothesis_once():
    plan = SearchPlan()
    hyps = plan.hypotheses(320)
    assert len(hyps) == plan.count() == len(set(hyps))
    staged = [h for stage in plan.stages(320) for h in stage]
    assert sorted(staged, key=repr) == sorted(hyps, key=repr)
    assert staged[0] == Hypothesis(1.0, 0, 1)


def test_hypothesis_undoes_offset_and_polarity():
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    y = Hypothesis(1.0, 40, -1).apply(x, SR)
    assert len(y) == 1040 and np.allclose(y[40:], -x)


def test_generated_speech_survives_decode_and_reencode():
    """The product path: TTS tokens with the product scheme -> audio -> verifier re-encode."""
    from synth.tts import load_tts
    from watermark.processor import WatermarkLogitsProcessor

    tts = load_tts()
    scheme = scheme_for(tts.codec)
    key = WatermarkKey.from_bytes(bytes(range(32)))
    res = tts.generate("The old farmer carried a wooden box near the station before the storm.",
                       seed=0, processor_factory=lambda: WatermarkLogitsProcessor(
                           key, scheme.config, 0x1234ABCD, scheme.cluster_map, scheme.codebook))
    assert 3.0 < res.seconds < 8.0
    td = detect_audio(res.wav, load_codec(verifier=True), scheme, [key])
    assert td.p_value < 1e-6 and td.detection.key_id == key.key_id
    assert td.hypotheses == SearchPlan().ungated_count() == 12  # clean: no gated family counted
    # scored on the encoder's soft reading by default; on its tokens alone when asked
    hard = detect_audio(res.wav, load_codec(verifier=True), scheme, [key], soft_scoring=None)
    assert td.detection.statistic == "weighted-binomial" and hard.detection.statistic == "binomial"
    assert hard.p_value < 1e-6 and hard.detection.n_units < td.detection.n_units
    # the final winner's windows are scored, with the winner's statistic
    assert td.detection.windows and min(w.p_value for w in td.detection.windows) < 1e-6
    assert td.detection.windows[0].n_units > hard.detection.windows[0].n_units
    other = WatermarkKey.from_bytes(bytes(range(1, 33)))
    assert detect_audio(res.wav, load_codec(verifier=True), scheme, [other],
                        early_stop=False).p_value > 1e-3


def test_mark_is_in_the_sampled_tokens(setup):
    codec, scheme, key, speech, _ = setup
    gen_codec = load_codec()
    marked = resample_with_watermark(gen_codec, speech, key, scheme, payload=None if not
                                     scheme.config.has_payload else 0x1234ABCD)
    assert marked.shape[0] > 0
    from watermark.config import WatermarkConfig
    from watermark.detect import detect

    zero_bit = type(scheme)(WatermarkConfig(payload_bits=0, delta=4.0), scheme.cluster_map, 0)
    tokens = resample_tokens(gen_codec, speech, key, zero_bit)
    assert detect(tokens, [key], zero_bit.config, zero_bit.cluster_map).p_value < 1e-6


def test_wrong_key_and_unmarked_speech_are_not_detected(setup):
    codec, scheme, key, speech, marked = setup
    other = WatermarkKey.from_bytes(bytes(range(1, 33)))
    assert detect_audio(marked, codec, scheme, [other], early_stop=False).p_value > 1e-3
    td = detect_audio(speech, codec, scheme, [key], early_stop=False)
    assert td.p_value > 1e-3 and td.detection.payload is None


def test_correction_counts_keys(setup):
    codec, scheme, key, speech, _ = setup
    keys = [key, WatermarkKey.from_bytes(bytes(range(2, 34)))]
    td = detect_audio(speech, codec, scheme, keys, plan=SearchPlan.quick())
    assert td.hypotheses == 2
    assert td.p_value == pytest.approx(min(1.0, 2 * td.detection.raw_p_value))


def _report(found=True, state="Trusted", errors=(), payload=None):
    class R:
        pass
    r = R()
    r.found, r.state, r.errors, r.payload = found, state, list(errors), payload
    r.trusted = found and state == "Trusted" and not errors
    return r


@pytest.mark.parametrize("watermarked, payload, report, verdict", [
    (True, "1234abcd", _report(payload=0x1234ABCD), "verified"),
    (True, "1234abcd", _report(payload=0x99), "watermarked"),
    (True, "1234abcd", _report(state="Valid"), "watermarked"),
    (True, "1234abcd", None, "watermarked"),
    (True, None, _report(payload=0x1234ABCD), "verified"),  # no payload read: nothing contradicts
    (False, None, _report(payload=0x1234ABCD), "not-watermarked"),
    (False, None, _report(state="Invalid", errors=["assertion.dataHash.mismatch"]), "altered"),
    (True, "1234abcd", _report(state="Invalid", errors=["assertion.dataHash.mismatch"]), "altered"),
])
def test_verdicts(watermarked, payload, report, verdict):
    r = FileResult(path="x", verdict="error", watermarked=watermarked, payload=payload)
    assert decide(r, report) == verdict


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("VOXSEAL_HOME", str(tmp_path / "home"))
    r = CliRunner().invoke(main, ["init"])
    assert r.exit_code == 0, r.output
    return tmp_path / "home"


def test_cli_json_schema_and_exit_code_for_bad_files(home, tmp_path, setup):
    _, _, _, speech, _ = setup
    sf.write(tmp_path / "human.wav", speech, SR)
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "junk.mp3").write_bytes(os.urandom(3000))
    nan = speech.copy()
    nan[5] = np.nan
    sf.write(tmp_path / "nan.wav", nan, SR, subtype="FLOAT")
    sf.write(tmp_path / "short.wav", speech[:100], SR)
    (tmp_path / "notes.txt").write_text("not audio")  # skipped when walking a directory
    r = CliRunner().invoke(main, ["verify", str(tmp_path), "--json", "--quick"])
    assert r.exit_code == 2, r.output
    rows = [json.loads(line) for line in r.output.splitlines() if line.startswith("{")]
    by_name = {os.path.basename(row["path"]): row for row in rows}
    assert set(by_name) == {"human.wav", "empty.wav", "junk.mp3", "nan.wav", "short.wav"}
    for name in ("empty.wav", "junk.mp3", "nan.wav", "short.wav"):
        assert by_name[name]["verdict"] == "error" and "\n" not in by_name[name]["error"]
    human = by_name["human.wav"]
    assert human["verdict"] == "not-watermarked" and human["error"] is None
    for field in ("path", "verdict", "watermarked", "p_value", "key_id", "payload", "manifest", "windows",
                  "seconds"):
        assert field in human
    assert set(human["manifest"]) >= {"found", "id", "state"}
    assert "Traceback" not in r.output


def test_cli_all_good_exits_zero_and_plots(home, tmp_path, setup):
    _, _, _, speech, _ = setup
    sf.write(tmp_path / "a.wav", speech, SR)
    r = CliRunner().invoke(main, ["verify", str(tmp_path / "a.wav"), "--quick", "--plot",
                                  str(tmp_path / "p.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_without_home_is_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("VOXSEAL_HOME", str(tmp_path / "nohome"))
    r = CliRunner().invoke(main, ["verify", str(tmp_path)])
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert "voxseal init" in r.output


@given(scales=st.integers(1, 4), offsets=st.integers(1, 4), polarities=st.integers(1, 2),
       open_families=st.integers(0, 6), primary=st.floats(0.05, 0.95),
       gated_primary=st.floats(0.01, 0.5), share=st.floats(0.01, 0.45))
def test_weighted_bonferroni_weights_of_the_counted_hypotheses_sum_to_one(
        scales, offsets, polarities, open_families, primary, gated_primary, share):
    plan = SearchPlan(scales=(1.0, 1.25, 0.8, 0.9)[:scales],
                      offset_fractions=(0.0, 0.25, 0.5, 0.75)[:offsets], polarities=(1, -1)[:polarities],
                      primary_weight=primary if scales * offsets * polarities > 1 else 1.0,
                      gated_primary_weight=gated_primary, gated_share=share)
    open_gated = open_families * offsets * polarities
    rest = plan.ungated_count() - 1
    total = 1 / plan.multiplier(True, open_gated=open_gated)
    if rest:
        total += rest / plan.multiplier(False, open_gated=open_gated)
    if open_gated:
        total += open_gated / plan.multiplier(False, True, open_gated)
    assert total == pytest.approx(1.0)


def test_weighted_bonferroni_spends_the_budget_where_the_clip_points():
    plan = SearchPlan(specialists=("band", "noise"))
    # no gate open: half on the clip as it is, the other 11 scale hypotheses share the rest
    assert plan.multiplier(True) == 2.0 and plan.multiplier(False) == pytest.approx(22.0)
    # one family of 4 open: it shares 0.6, the clip as it is gets 0.1, the other 11 get 0.3
    assert plan.multiplier(False, True, 4) == pytest.approx(4 / 0.6)
    assert plan.multiplier(True, open_gated=4) == pytest.approx(10.0)
    assert plan.multiplier(False, open_gated=4) == pytest.approx(11 / 0.3)
    assert SearchPlan.quick().multiplier(True) == 1.0
    with pytest.raises(ValueError, match="open gate"):
        plan.multiplier(False, True, 0)
    with pytest.raises(ValueError):
        SearchPlan(primary_weight=0.0)
    with pytest.raises(ValueError):
        SearchPlan(primary_weight=1.0)
    with pytest.raises(ValueError, match="gated_share"):
        SearchPlan(gated_primary_weight=0.5, gated_share=0.5)


def test_each_specialist_adds_one_encoder_family_at_scale_one():
    plan = SearchPlan(specialists=("band", "noise"))
    stages = list(plan.stages(320))
    assert [len(s) for s in stages] == [1, 3, 4, 4, 4, 4, 4, 4] and plan.count() == 28
    assert [{h.encoder for h in s} for s in stages[2:4]] == [{"band"}, {"noise"}]
    assert {h.scale for h in stages[2] + stages[3]} == {1.0}
    assert all(h.encoder == "verifier" for s in stages[:2] + stages[4:] for h in s)
    assert [h.undo for h in stages[4] + stages[5]] == ["echo"] * 4 + ["smoothing"] * 4
    assert plan.hypotheses(320) == [h for s in stages for h in s]
    assert [plan.gated(s[0]) for s in stages] == [False, False, True, True, True, True, False, False]
    assert stages[2][0].to_dict()["encoder"] == "band"
    with pytest.raises(ValueError, match="specialist_codecs"):
        detect_audio(np.zeros(16_000, np.float32), load_codec(verifier=True),
                     scheme_for(load_codec()), [WatermarkKey.generate()], plan)
    for bad in (("reverb",), ("band", "band")):
        with pytest.raises(ValueError, match="specialists must be"):
            SearchPlan(specialists=bad)


def test_specialist_codecs_load_beside_the_checkpoint_only(tmp_path):
    from synth.codec import load_specialist_codecs
    from synth.compact_codec import ASSET, VERIFIER_ASSET
    from verify.verifier import Verifier

    assert load_specialist_codecs(["band"], "encodec-24k") == {}
    ckpt = tmp_path / "c.pt"
    ckpt.write_bytes(ASSET.read_bytes())
    assert load_specialist_codecs(["band", "noise"], None, ckpt) == {}  # none beside it
    (tmp_path / "c.band.pt").write_bytes(VERIFIER_ASSET.read_bytes())  # any encoder bound to c
    found = load_specialist_codecs(["band", "noise"], None, ckpt)
    assert list(found) == ["band"] and found["band"].info()["verifier_encoder"]
    v = Verifier([WatermarkKey.generate()], codec=load_codec(None, ckpt, verifier=True),
                 specialist_codecs=found)
    assert v.plan.specialists == ("band",) and v.plan.count() == 24


def test_a_specialist_is_tried_only_on_clips_that_show_its_edit():
    from synth import edits as E
    from synth.audio import load_audio
    from synth.compact_codec import ASSET
    from verify.specialists import applies, clip_traits

    codec = load_codec(verifier=True)
    x, _ = load_audio(ASSET.with_name("sample.wav"), codec.sample_rate)

    def shows(y):
        t = clip_traits(y, 16_000)
        return {name for name in ("band", "highpass", "lowpass", "noise") if applies(name, t)}

    assert shows(x) == set()
    assert shows(E.highpass(1500)(x, 16_000)) == {"band", "highpass"}
    assert shows(E.bandpass(500, 5000)(x, 16_000)) == {"band"}
    assert shows(E.lowpass(500)(x, 16_000)) == {"lowpass"}
    assert shows(E.white_noise_std(0.05, 0)(x, 16_000)) == {"noise"}
    assert shows(np.zeros(16_000, np.float32)) == set()
    with pytest.raises(ValueError, match="unknown specialist"):
        applies("reverb", clip_traits(x, 16_000))
    # the gate closed, the family counts as p = 1 and the verifier's own analysis decides
    plan = SearchPlan(specialists=("band",))
    key = WatermarkKey.generate()
    scheme = scheme_for(codec)
    seen = []

    class Spy:
        def __getattr__(self, name):
            return getattr(codec, name)

        def offset_reader(self, *a):
            seen.append(a)
            return codec.offset_reader(*a)

    td = detect_audio(x, codec, scheme, [key], plan, early_stop=False, specialist_codecs={"band": Spy()})
    assert seen == [] and td.hypotheses == plan.ungated_count()  # a closed gate is not counted
    td = detect_audio(E.highpass(1500)(x, 16_000), codec, scheme, [key], plan, early_stop=False,
                      specialist_codecs={"band": Spy()})
    assert len(seen) == 1 and td.hypotheses == plan.ungated_count() + 4


def test_the_smooth_specialist_reads_the_clip_with_its_smoothing_undone():
    from synth import edits as E
    from synth.audio import load_audio
    from synth.compact_codec import ASSET
    from verify.commands import alignment_note
    from verify.smoothing import undo_box_filter

    codec = load_codec(verifier=True)
    x, _ = load_audio(ASSET.with_name("sample.wav"), codec.sample_rate)
    plan = SearchPlan(specialists=("band", "smooth"))
    stages = list(plan.stages(320))
    assert [(h.encoder, h.undo) for h in stages[3]] == [("smooth", "smoothing")] * 4
    assert plan.count() == 28
    seen = []

    class Spy:
        def __getattr__(self, name):
            return getattr(codec, name)

        def offset_reader(self, y, *a):
            seen.append(y.numpy().copy())
            return codec.offset_reader(y, *a)

    scheme, key = scheme_for(codec), WatermarkKey.generate()
    spies = {"band": Spy(), "smooth": Spy()}
    detect_audio(x, codec, scheme, [key], plan, early_stop=False, specialist_codecs=spies)
    assert seen == []  # neither a low cut nor a moving average: no specialist reads it
    smoothed = E.smooth(40)(x, SR)
    td = detect_audio(smoothed, codec, scheme, [key], plan, early_stop=False, specialist_codecs=spies)
    assert len(seen) == 1 and td.hypotheses == 12 + 4 + 4  # scales, smooth and the smoothing undo
    np.testing.assert_allclose(seen[0], undo_box_filter(smoothed, 40), atol=1e-6)
    assert alignment_note(stages[3][1].to_dict()) == \
        " [smoothing undone, read by the smooth specialist, shifted 80 samples]"


def test_screen_settings_are_validated_and_apply_to_long_clips_only():
    assert SearchPlan().screens(int(4.4 * SR), SR) == 0  # not worth screening
    assert SearchPlan().screens(10 * SR, SR) == 3 * SR
    assert SearchPlan().screens(5 * SR, SR) == 3 * SR
    assert SearchPlan(screen_seconds=None).screens(60 * SR, SR) == 0
    with pytest.raises(ValueError, match="screen_seconds"):
        SearchPlan(screen_seconds=0)
    with pytest.raises(ValueError, match="screen_p"):
        SearchPlan(screen_p=0.0)


@pytest.fixture(scope="module")
def tts_marked():
    """A 7.4 s clip from the reference TTS with the product watermark."""
    from synth.tts import load_tts

    tts = load_tts()
    scheme = scheme_for(tts.codec)
    key = WatermarkKey.from_bytes(bytes(range(32)))
    res = tts.generate("The old farmer carried a wooden box near the station, and then the captain "
                       "cleaned two red apples in the museum before the storm.", seed=0,
                       processor_factory=lambda: WatermarkLogitsProcessor(
                           key, scheme.config, 0x1234ABCD, scheme.cluster_map, scheme.codebook))
    return res.wav


def test_sped_up_clip_is_found_at_its_scale_through_the_screen(setup, tts_marked):
    """A marked clip played x1.25 is detected by the scale hypothesis that undoes it, with
    the further scales screened on its first seconds; a clip whose marked part starts
    after the screened head is missed at that scale, and found without the screen."""
    from synth.edits import speed

    codec, scheme, key, speech, _ = setup
    fast = speed(1.25)
    plan = SearchPlan(screen_seconds=2.0)
    td = detect_audio(fast(tts_marked, SR), codec, scheme, [key], plan=plan)
    assert td.p_value < 1e-6 and td.hypothesis.scale == 1.25

    spliced = fast(np.concatenate([speech[: 3 * SR], tts_marked]), SR)
    late = detect_audio(spliced, codec, scheme, [key], plan=plan, early_stop=False)
    assert late.p_value > 1e-3
    unscreened = SearchPlan(screen_seconds=None)
    found = detect_audio(spliced, codec, scheme, [key], plan=unscreened, early_stop=False)
    assert found.p_value < 1e-6 and found.hypothesis.scale == 1.25


@pytest.mark.parametrize("edit, name", [("echo", "echo"), ("smooth", "smoothing")])
def test_echoed_or_smoothed_clip_is_found_with_the_edit_undone(setup, tts_marked, edit, name):
    from synth import edits

    codec, scheme, key, speech, _ = setup
    attack = edits.echo(0.5, 0.5) if edit == "echo" else edits.smooth(40)
    attacked = attack(tts_marked, SR)
    as_it_is = detect_audio(attacked, codec, scheme, [key], plan=SearchPlan(undo=())).p_value
    td = detect_audio(attacked, codec, scheme, [key])
    assert td.p_value < 1e-6 and td.hypothesis.undo == name
    # the undo, not the clip as it is, carries the detection (rendered codes survive an echo
    # well enough that the clip as it is reads p ~1e-6 there, the undone one ~1e-25)
    assert td.p_value < 1e-6 * as_it_is
    assert td.hypotheses == SearchPlan().ungated_count() + 4 == 16  # the family that undid it opened
    # unmarked speech with the same edit: the family is tried and finds nothing
    other = detect_audio(attack(speech, SR), codec, scheme, [key], early_stop=False)
    assert other.p_value > 1e-3


def test_unknown_undo_is_refused():
    from verify.search import undo_edit

    with pytest.raises(ValueError, match="cannot undo"):
        SearchPlan(undo=("reverb",))
    with pytest.raises(ValueError, match="cannot undo"):
        undo_edit("reverb", np.zeros(100, np.float32), SR, 320)


def test_alignment_note_says_what_the_search_undid():
    from verify.commands import alignment_note

    assert alignment_note(None) == ""
    assert alignment_note(Hypothesis(1.0, 0, 1).to_dict()) == ""
    assert alignment_note(Hypothesis(1.25, 80, 1).to_dict()) == " [played x1.25, shifted 80 samples]"
    assert alignment_note(Hypothesis(1.0, 0, 1, undo="echo").to_dict()) == " [echo removed]"
    assert alignment_note(Hypothesis(1.0, 0, -1, undo="smoothing").to_dict()) == \
        " [smoothing undone, inverted]"
    assert alignment_note(Hypothesis(1.0, 160, 1, encoder="band").to_dict()) == \
        " [read by the band specialist, shifted 160 samples]"


def test_the_shipped_band_specialist_finds_the_mark_after_a_band_pass():
    from synth import edits as E
    from synth.codec import load_specialist_codecs
    from synth.tts import load_tts
    from verify.specialists import SPECIALISTS

    specialists = load_specialist_codecs(SPECIALISTS)
    assert set(specialists) == {"band", "highpass", "lowpass", "noise", "smooth"}  # what synth/assets ships
    tts = load_tts()
    scheme = scheme_for(tts.codec)
    key = WatermarkKey.from_bytes(bytes(range(32)))
    text = ("The old farmer carried a wooden box near the station, and then the captain "
            "cleaned two red apples in the museum before the storm.")
    wav = tts.generate(text, voice="flite-slt", seed=1, processor_factory=lambda: WatermarkLogitsProcessor(
        key, scheme.config, 0x1234ABCD, scheme.cluster_map, scheme.codebook)).wav
    filtered = E.bandpass(500, 5000)(wav.astype(np.float32), SR)
    codec = load_codec(verifier=True)
    plain = detect_audio(filtered, codec, scheme, [key], SearchPlan(), early_stop=False)
    found = detect_audio(filtered, codec, scheme, [key], SearchPlan(specialists=tuple(specialists)),
                         specialist_codecs=specialists)
    assert plain.p_value > 1e-3
    assert found.p_value < 1e-6 and found.hypothesis.encoder == "band"


def test_loud_frames_keeps_the_louder_half():
    from verify.specialists import loud_frames

    hop = 320
    y = np.concatenate([np.full(5 * hop, 0.5), np.full(5 * hop, 0.01), np.full(hop // 2, 0.5)])
    assert loud_frames(y, hop, 11).tolist() == [0, 1, 2, 3, 4, 10]  # the last frame zero-padded
    assert len(loud_frames(np.zeros(4 * hop), hop, 4)) == 4  # all tie with the median


def test_the_noise_specialist_reads_only_the_louder_half_of_the_frames(setup):
    """The quieter frames become UNREAD in place, so the frames keep their positions (a
    pair is scored only where its two frames were adjacent, windows need no mapping)."""
    from synth import edits as E
    from verify.specialists import loud_frames
    from verify.verifier import _HypothesisTokens
    from watermark.scoring import UNREAD

    codec, scheme, key, speech, _ = setup
    noisy = E.white_noise_std(0.05, 0)(speech, SR)
    plan = SearchPlan(specialists=("noise",))
    tokens = _HypothesisTokens({"verifier": codec, "noise": codec}, noisy, plan, 1)
    stage = next(s for s in plan.stages(320) if s[0].encoder == "noise")
    codes, soft = tokens(stage)
    plain, _ = _HypothesisTokens({"verifier": codec}, noisy, plan, 1)(
        [Hypothesis(h.scale, h.offset, h.polarity) for h in stage])
    # the soft reading covers every frame; scoring leaves out the ones the tokens mark UNREAD
    assert all(r.tokens.shape[0] == c.shape[-1] for r, c in zip(soft, codes, strict=True))
    for h, c, full in zip(stage, codes, plain, strict=True):
        kept = loud_frames(np.concatenate([np.zeros(h.offset, np.float32), noisy]), 320, full.shape[-1])
        assert c.shape == full.shape
        assert np.array_equal(np.flatnonzero(c[0] != UNREAD), kept)
        assert np.array_equal(c[..., kept], full[..., kept])
        assert full.shape[-1] / 2 <= kept.size < full.shape[-1]
