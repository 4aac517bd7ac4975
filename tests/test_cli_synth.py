"""CLI: codec and corpus commands, including one-line errors on bad input."""
import json

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from cli import main


@pytest.fixture()
def run():
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)
    return invoke


@pytest.fixture()
def speech(tmp_path):
    from synth.corpus import VOICES_BY_NAME, synthesize

    wav, _ = synthesize(VOICES_BY_NAME["flite-slt"], "The baker packed a warm blanket.")
    path = tmp_path / "speech.wav"
    sf.write(path, wav, 16_000)
    return path


def one_line_error(result, code=None):
    assert result.exit_code != 0
    if code is not None:
        assert result.exit_code == code
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert any(ln.startswith(("voxseal: error:", "Error:")) for ln in lines), result.output


def test_codec_info_json(run):
    r = run("codec", "info", "--json")
    assert r.exit_code == 0
    info = json.loads(r.output)
    assert info["name"] == "compact-16k" and info["n_codebooks"] == 8


def test_encode_decode_round_trip(run, speech, tmp_path):
    r = run("codec", "encode", speech, "-o", tmp_path / "c.npy")
    assert r.exit_code == 0, r.output
    codes = np.load(tmp_path / "c.npy")
    assert codes.shape[0] == 8 and codes.dtype == np.int16
    r = run("codec", "decode", tmp_path / "c.npy", "-o", tmp_path / "out.flac")
    assert r.exit_code == 0, r.output
    wav, sr = sf.read(tmp_path / "out.flac")
    assert sr == 16_000 and abs(len(wav) - codes.shape[1] * 320) == 0


def test_stability_json(run, speech):
    r = run("codec", "stability", speech, "--edits", "clean,noise-30db", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert set(out["agreement"]) == {"clean", "noise-30db"}
    assert all(0.0 <= v <= 1.0 for v in out["agreement"]["clean"])


def test_clusters_writes_a_balanced_map(run, speech, tmp_path):
    from watermark.clusters import ClusterMap

    r = run("codec", "clusters", speech, "-o", tmp_path / "m.npz", "--clusters", "16", "--json")
    assert r.exit_code == 0, r.output
    cmap = ClusterMap.load(tmp_path / "m.npz")
    assert cmap.vocab_size == 1024 and cmap.n_clusters == 16
    assert set(cmap.cluster_sizes().tolist()) == {64}


def test_bad_inputs_give_one_line_errors(run, tmp_path, speech):
    one_line_error(run("codec", "encode", tmp_path / "missing.wav", "-o", tmp_path / "x.npy"), 3)
    (tmp_path / "junk.wav").write_bytes(b"\x00garbage" * 100)
    one_line_error(run("codec", "encode", tmp_path / "junk.wav", "-o", tmp_path / "x.npy"), 3)
    one_line_error(run("codec", "encode", speech, "-o", tmp_path / "no" / "x.npy"))
    one_line_error(run("codec", "decode", speech, "-o", tmp_path / "x.wav"))
    np.save(tmp_path / "f.npy", np.zeros((8, 4), np.float32))
    one_line_error(run("codec", "decode", tmp_path / "f.npy", "-o", tmp_path / "x.wav"))
    np.save(tmp_path / "big.npy", np.full((8, 4), 5000, np.int64))
    one_line_error(run("codec", "decode", tmp_path / "big.npy", "-o", tmp_path / "x.wav"), 5)
    one_line_error(run("codec", "info", "--codec", "nope"), 5)
    one_line_error(run("codec", "stability", speech, "--edits", "bogus"))
    one_line_error(run("train", "codec", "--corpus", tmp_path, "--out", tmp_path / "c.pt"), 4)
    assert not (tmp_path / "x.wav").exists() and not (tmp_path / "x.npy").exists()


def test_demo_runs(run, tmp_path, monkeypatch):
    monkeypatch.setenv("VOXSEAL_HOME", str(tmp_path / "home"))
    r = run("demo", "--json", "--out-dir", tmp_path / "demo")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output.strip().splitlines()[-1])
    assert out["generate"]["path"].endswith("demo.wav") and out["generate"]["watermarked"]
    assert out["verify"]["verdict"] in {"verified", "watermarked", "not-watermarked"}
    assert out["verify"]["manifest"]["state"] == "Trusted"
