"""`voxseal eval human-speech`: the human-speech source and the false-positive report."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from verify.human_speech import HumanSpeechError, build_clips, speakers


def test_speakers_are_real_directories_without_tones_or_silence(prompts):
    found = speakers(prompts)
    assert sorted(found) == ["en_US_f_Ann", "it_IT_m_Bob"]
    names = {f.relative_to(prompts / "en_US_f_Ann").as_posix() for f in found["en_US_f_Ann"]}
    assert names == {f"p{i}.g722" for i in range(6)} | {"digits/1.g722", "empty.g722"}
    assert speakers(prompts / "nowhere") == {}


def test_clips_have_the_length_alternate_speakers_and_never_reuse_a_prompt(prompts):
    clips = build_clips(4, 2.0, seed=1, root=prompts)
    assert [c.speaker for c in clips] == ["en_US_f_Ann", "it_IT_m_Bob"] * 2
    assert all(len(c.wav) == 32_000 and c.wav.dtype == np.float32 for c in clips)
    used = [(c.speaker, s) for c in clips for s in c.sources]
    assert len(used) == len(set(used))
    assert all("empty.g722" not in c.sources for c in clips)
    again = build_clips(4, 2.0, seed=1, root=prompts)
    assert [c.sources for c in again] == [c.sources for c in clips]
    assert [c.sources for c in build_clips(4, 2.0, seed=2, root=prompts)] != [c.sources for c in clips]


def test_too_many_clips_or_no_prompts_is_a_clear_error(prompts, tmp_path):
    assert len(build_clips(6, 2.0, root=prompts)) == 6  # 7 one-second prompts per speaker: 3 clips
    with pytest.raises(HumanSpeechError, match="fill only 6 clips"):
        build_clips(7, 2.0, root=prompts)
    with pytest.raises(HumanSpeechError, match="apt-get install asterisk-core-sounds"):
        build_clips(1, 2.0, root=tmp_path)


def test_summary_counts_flags_and_tests_uniformity():
    from verify.eval_human import summarise

    rng = np.random.default_rng(0)
    recs = [{"clip": f"c{i}", "speaker": "s" if i % 2 else "t", "variant": "as-recorded",
             "p_value": min(1.0, 12 * u), "primary_p_value": u, "fresh_key_p_value": u,
             "n_units": 200, "payload": None}
            for i, u in enumerate(rng.uniform(size=400))]
    recs[7]["p_value"] = 1e-9
    s = summarise(recs)["as-recorded"]
    assert s["n"] == 400 and s["flagged"] == 1 and s["flagged_clips"] == ["c7"]
    assert s["by_speaker"]["s"]["flagged"] == 1 and s["by_speaker"]["t"]["flagged"] == 0
    assert s["single_test"]["fresh_key"]["ks_p_value"] > 1e-3  # uniform draws pass
    skewed = [{**r, "fresh_key_p_value": r["fresh_key_p_value"] ** 3} for r in recs]
    t = summarise(skewed)["as-recorded"]["single_test"]["fresh_key"]
    assert t["ks_p_value"] < 1e-6 and t["ks_sign"] == 1  # too many small p-values: anti-conservative


def test_cli_writes_the_report_and_flags_no_clip(prompts, tmp_path):
    from cli import main

    out = tmp_path / "human"
    res = CliRunner().invoke(main, ["eval", "human-speech", "--clips", "2", "--seconds", "2",
                                    "--root", str(prompts), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["clips"] == {"as-recorded": 2, "codec-roundtrip": 2}
    assert summary["flagged"] == {"as-recorded": 0, "codec-roundtrip": 0}
    results = json.loads((out / "results.json").read_text())
    assert len(results["results"]) == 4
    assert all(0 < r[k] <= 1 for r in results["results"]
               for k in ("p_value", "primary_p_value", "fresh_key_p_value"))
    assert (out / "pvalues.png").stat().st_size > 0
    assert "0 of 2 clips flagged" in (out / "report.md").read_text()
    bad = CliRunner().invoke(main, ["eval", "human-speech", "--clips", "0", "--out", str(out)])
    assert bad.exit_code == 2 and "--clips must be at least 1" in bad.output
