"""`voxseal generate`: watermark + signed manifest end to end, and bad input."""
import json

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from cli import main


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    path = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("VOXSEAL_HOME", str(path))
    r = CliRunner().invoke(main, ["init"])
    assert r.exit_code == 0, r.output
    yield path
    mp.undo()


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_generate_writes_signed_watermarked_audio(home, tmp_path):
    out = tmp_path / "hello.flac"
    r = run("generate", "The captain cleaned two red apples.", "-o", out, "--seed", 3, "--json")
    assert r.exit_code == 0, r.output
    rec = json.loads(r.output.strip().splitlines()[-1])
    assert rec["path"] == str(out) and rec["watermarked"] and len(rec["payload"]) == 8
    assert rec["duration_s"] > 0.5 and rec["manifest_id"]
    wav, sr = sf.read(out)
    assert sr == 16_000 and np.isfinite(wav).all()
    r = run("manifest", "verify", out, "--json")
    assert r.exit_code == 0, r.output
    r = run("registry", "lookup", "--payload", rec["payload"], "--json")
    assert rec["manifest_id"] in r.output
    assert [p.name for p in tmp_path.iterdir()] == ["hello.flac"]  # no temporary files left


def test_no_watermark_manifest_says_so(home, tmp_path):
    out = tmp_path / "plain.wav"
    r = run("generate", "A quiet child opened the green door.", "-o", out, "--no-watermark", "--json")
    assert r.exit_code == 0, r.output
    rec = json.loads(r.output.strip().splitlines()[-1])
    assert rec["watermarked"] is False and rec["payload"] is None
    r = run("manifest", "show", out, "--json")
    assert r.exit_code == 0 and '"watermarked": false' in r.output.replace("False", "false")


@pytest.mark.parametrize("args, what", [
    (["", "-o", "{tmp}/a.wav"], "empty"),
    (["...", "-o", "{tmp}/a.wav"], "nothing speakable"),
    (["Hello.", "--voice", "nobody", "-o", "{tmp}/a.wav"], "voice"),
    (["Hello.", "-o", "{tmp}/missing/a.wav"], "does not exist"),
    (["Hello.", "--prompt", "{tmp}/notaudio.wav", "-o", "{tmp}/a.wav"], "audio"),
    (["Hello.", "--prompt", "{tmp}/short.wav", "-o", "{tmp}/a.wav"], "3"),
])
def test_bad_input_is_one_line_error_without_output(home, tmp_path, args, what):
    (tmp_path / "notaudio.wav").write_text("definitely not audio")
    sf.write(tmp_path / "short.wav", np.zeros(8000, np.float32) + 0.01, 16_000)
    r = run("generate", *[a.format(tmp=tmp_path) for a in args])
    assert r.exit_code != 0
    assert "Traceback" not in r.output and what.lower() in r.output.lower(), r.output
    assert not (tmp_path / "a.wav").exists()
    assert not any(p.name.endswith(".partial.wav") for p in tmp_path.iterdir())


def test_generate_without_home_tells_to_init(tmp_path, monkeypatch):
    monkeypatch.setenv("VOXSEAL_HOME", str(tmp_path / "none"))
    r = run("generate", "Hello.", "-o", tmp_path / "a.wav")
    assert r.exit_code != 0 and "voxseal init" in r.output
