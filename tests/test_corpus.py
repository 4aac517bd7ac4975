"""Speech corpus: deterministic, multi-speaker, with held-out sentences and a held-out voice."""
import hashlib
import json

import pytest

from synth.corpus import HELD_OUT_VOICES, VOICES, CorpusError, build_corpus, read_corpus, synthesize
from synth.textgen import is_held_out, sentences


def digest(corpus_dir):
    h = hashlib.sha256((corpus_dir / "metadata.jsonl").read_bytes())
    for p in sorted((corpus_dir / "wavs").iterdir()):
        h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    summary = build_corpus(out, minutes=0.6, seed=3)
    return out, summary


def test_deterministic_for_a_seed(tiny, tmp_path):
    out, _ = tiny
    build_corpus(tmp_path / "again", minutes=0.6, seed=3)
    assert digest(out) == digest(tmp_path / "again")


def test_metadata_and_splits(tiny):
    out, summary = tiny
    utts = read_corpus(out)
    assert len(utts) == summary["utterances"] > 5
    assert {u.split for u in utts} == {"train", "eval"}
    for u in utts:
        assert (out / u.path).is_file() and u.text and u.phonemes and u.seconds > 0.3
        assert is_held_out(u.text) == (u.split == "eval")
        if u.speaker in HELD_OUT_VOICES:
            assert u.split == "eval"
    assert len({u.speaker for u in utts if u.split == "train"}) >= 3
    assert any(u.phones for u in utts if u.speaker.startswith(("flite", "festival")))
    assert json.loads((out / "corpus.json").read_text())["sample_rate"] == 16_000


def test_every_voice_speaks():
    for voice in VOICES:
        wav, _ = synthesize(voice, "A quiet child opened the green door.")
        assert len(wav) > 16_000 * 0.8 and abs(wav).max() > 0.01, voice.name


def test_sentence_split_is_disjoint_and_seeded():
    a = sentences(7, 50, held_out=False)
    assert a == sentences(7, 50, held_out=False)
    b = sentences(7, 20, held_out=True)
    assert not set(a) & set(b) and len(set(a)) == 50


def test_bad_corpus_dir(tmp_path):
    with pytest.raises(CorpusError, match="not a corpus"):
        read_corpus(tmp_path)
