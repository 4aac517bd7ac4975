"""The reference TTS: tiny-model training, resume, export, generation, sampler chain, errors.

Everything runs on a six-utterance corpus synthesized here (flite with its own
phone times, espeak-ng aligned through its library) and a tiny model, so the
file stays well under a minute on one thread.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from synth.audio import save_audio
from synth.codec import load_codec
from synth.corpus import VOICES_BY_NAME, Utterance, phonemize, synthesize

TINY = {"d_model": 32, "n_heads": 2, "ar_layers": 2, "nar_layers": 1, "dur_channels": 16, "dropout": 0.0}
TEXTS = ["The old farmer carried a wooden box.", "My sister found the green door by the river.",
         "Why did the pilot leave a paper map?"]


@pytest.fixture(scope="session")
def codec():
    return load_codec()


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("tts_corpus")
    (root / "wavs").mkdir()
    lines = []
    for voice in ("flite-slt", "espeak-us-m3"):
        for i, text in enumerate(TEXTS):
            wav, phones = synthesize(VOICES_BY_NAME[voice], text)
            uid = f"train-{i:05d}-{voice}"
            save_audio(root / f"wavs/{uid}.wav", wav, 16000)
            u = Utterance(uid, f"wavs/{uid}.wav", text, voice, "train", round(len(wav) / 16000, 3),
                          phonemize(text), phones)
            lines.append(json.dumps(asdict(u)))
    (root / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="session")
def trained(corpus, codec, tmp_path_factory):
    from synth.tts_train import TTSTrainConfig, train_tts

    out = tmp_path_factory.mktemp("tts_ckpt") / "tiny.pt"
    records: list[dict] = []
    cfg = TTSTrainConfig(minutes=5, batch_size=4, max_frames=150, dur_batch=6, lr=3e-3, warmup_steps=5,
                         threads=1, log_every=5, max_steps=60, model=TINY)
    summary = train_tts(str(corpus), str(out), cfg, codec=codec, log=records.append)
    return out, records, summary, cfg


@pytest.fixture(scope="session")
def tts(trained, codec):
    from synth.tts import load_tts

    return load_tts(trained[0], codec=codec)


def test_training_lowers_the_losses(trained):
    out, records, summary, _ = trained
    steps = [r for r in records if "ar_loss" in r]
    assert records[0]["event"] == "start" and records[0]["items"] == 6
    assert steps[-1]["step"] == 60 and summary["steps"] == 60
    first, last = steps[0], steps[-1]
    assert last["ar_loss"] < first["ar_loss"] - 0.5
    assert last["nar_loss"] < first["nar_loss"]
    assert last["dur_loss"] < first["dur_loss"]
    assert Path(str(out) + ".train.pt").is_file() and Path(str(out) + ".cache.pt").is_file()


def test_exported_checkpoint_is_fp16_with_voices_and_codec(trained, codec):
    blob = torch.load(trained[0], map_location="cpu", weights_only=False)
    assert blob["format"] == "voxseal-tts-1"
    floats = [v for v in blob["state_dict"].values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float16 for v in floats)
    assert set(blob["voices"]) == {"flite-slt", "espeak-us-m3"}
    assert blob["voices"]["flite-slt"]["prompt"].shape[0] == codec.n_codebooks
    assert blob["codec"]["sha256"] == codec.checkpoint_sha256
    assert 0.5 <= blob["voices"]["espeak-us-m3"]["rate"] <= 2.0


def test_resume_continues_and_refuses_another_codec(trained, corpus, codec):
    from synth.tts_train import TTSTrainError, train_tts

    out, _, _, cfg = trained
    copy = out.parent / "resume.pt"
    for suffix in (".train.pt", ".cache.pt"):
        Path(str(copy) + suffix).write_bytes(Path(str(out) + suffix).read_bytes())
    records: list[dict] = []
    cfg.max_steps = 63
    summary = train_tts(str(corpus), str(copy), cfg, codec=codec, log=records.append)
    assert records[0] == {"event": "resume", "step": 60, "elapsed_s": records[0]["elapsed_s"]}
    assert summary["steps"] == 63

    class OtherCodec:
        def __getattr__(self, name):
            return getattr(codec, name)

        checkpoint_sha256 = "0" * 64

    with pytest.raises(TTSTrainError, match="delete the state"):
        Path(str(copy) + ".cache.pt").unlink()
        train_tts(str(corpus), str(copy), cfg, codec=OtherCodec(), log=records.append)


def test_generation_shapes_and_determinism(tts, codec):
    assert tts.voices == ["espeak-us-m3", "flite-slt"]
    assert len(tts.checkpoint_sha256) == 64 and tts.meta["version"] == "1"
    threads = torch.get_num_threads()
    a = tts.generate("The farmer found a box. The dog ran!", voice="flite-slt", seed=3)
    b = tts.generate("The farmer found a box. The dog ran!", voice="flite-slt", seed=3)
    c = tts.generate("The farmer found a box. The dog ran!", voice="flite-slt", seed=4)
    k, t = a.codes.shape
    assert k == codec.n_codebooks and t > 10 and a.codes.dtype == torch.long
    assert a.wav.dtype == np.float32 and a.wav.ndim == 1 and len(a.wav) == t * codec.hop_length
    assert a.sample_rate == codec.sample_rate
    assert a.sentences == ["The farmer found a box.", "The dog ran!"]
    assert 0.0 < a.entropy_per_step <= np.log(codec.codebook_size)
    assert a.seconds_taken > 0 and np.isfinite(a.wav).all()
    assert torch.equal(a.codes, b.codes) and np.array_equal(a.wav, b.wav)
    assert not torch.equal(a.codes[0], c.codes[0])
    assert int(a.codes.min()) >= 0 and int(a.codes.max()) < codec.codebook_size
    assert torch.get_num_threads() == threads  # generate runs on tts.threads and restores torch's setting


def test_watermark_processor_is_applied_to_codebook_1(tts):
    from watermark.clusters import ClusterMap
    from watermark.config import WatermarkConfig
    from watermark.keys import WatermarkKey
    from watermark.processor import WatermarkLogitsProcessor
    from watermark.scoring import Scorer

    key = WatermarkKey.from_bytes(bytes(range(32)))
    config = WatermarkConfig(gamma=0.25, delta=20.0, payload_bits=0)
    made = []

    def factory():
        made.append(WatermarkLogitsProcessor(key, config, None))
        return made[-1]

    text = "The farmer found a box. The dog ran by the river."
    marked = tts.generate(text, voice="espeak-us-m3", seed=1, processor_factory=factory)
    plain = tts.generate(text, voice="espeak-us-m3", seed=1)
    assert len(made) == 1  # one processor per clip, across its sentences
    scorer = Scorer(key, config, [ClusterMap.identity(1024)], cache=False)

    def green_fraction(codes):
        c = scorer.count(codes[0].numpy()[None])
        return float(c.hits[0]) / float(c.n_units[0])

    assert green_fraction(marked.codes) == 1.0
    assert green_fraction(plain.codes) < 0.6
    # every marked step was green under its own (clip-level) context, sentence joins included
    tok = marked.codes[0]
    for t in range(1, len(tok)):
        assert made[0].green_mask(tok[None, :t])[0, tok[t]]


def test_folded_watermark_samples_what_the_processor_samples(tts):
    from synth.scheme import scheme_for
    from watermark.keys import WatermarkKey
    from watermark.processor import WatermarkLogitsProcessor

    scheme = scheme_for(tts.codec)
    key = WatermarkKey.from_bytes(bytes(range(1, 33)))

    def ours():  # folded into the AR head's bias (watermark.head)
        return WatermarkLogitsProcessor(key, scheme.config, 0xBEEF, scheme.cluster_map, scheme.codebook)

    def wrapped():  # any other callable is applied to the logits as given
        proc = ours()
        return lambda ids, scores: proc(ids, scores)

    text = "The farmer found a box. The dog ran by the river."
    folded = tts.generate(text, voice="espeak-us-m3", seed=4, processor_factory=ours)
    called = tts.generate(text, voice="espeak-us-m3", seed=4, processor_factory=wrapped)
    assert torch.equal(folded.codes, called.codes)
    assert folded.entropy_per_step == pytest.approx(called.entropy_per_step, rel=1e-5)


def test_prompt_voice(tts, corpus, codec):
    from synth.audio import load_audio

    wav, _ = load_audio(corpus / "wavs/train-00001-flite-slt.wav", 16000)
    clip = np.concatenate([wav, wav])[: 16000 * 4]
    res = tts.generate("A quiet child.", prompt_wav=clip, seed=0)
    assert res.voice is None and res.codes.shape[0] == codec.n_codebooks
    assert tts.encode_prompt(clip).shape == (codec.n_codebooks, 150)


def test_typed_errors(tts, trained, tmp_path):
    from synth.tts import (
        EmptyTextError,
        NothingToSayError,
        PromptError,
        TTSCheckpointError,
        TTSError,
        UnknownVoiceError,
        load_tts,
    )

    cases = [
        (EmptyTextError, lambda: tts.generate("   ")),
        (NothingToSayError, lambda: tts.generate("... !!! ---")),
        (UnknownVoiceError, lambda: tts.generate("Hello.", voice="nobody")),
        (PromptError, lambda: tts.generate("Hello.", prompt_wav=np.zeros(16000, np.float32) + 0.1)),
        (PromptError, lambda: tts.generate("Hello.", prompt_wav=np.full(16000 * 11, 0.1, np.float32))),
        (PromptError, lambda: tts.generate("Hello.", prompt_wav=np.zeros(16000 * 5, np.float32))),
        (PromptError, lambda: tts.generate("Hello.", prompt_wav=np.zeros((2, 16000 * 5), np.float32))),
        (TTSError, lambda: tts.generate("Hello.", voice="flite-slt", prompt_wav=np.zeros(80000))),
        (TTSCheckpointError, lambda: load_tts(tmp_path / "missing.pt")),
    ]
    for exc, call in cases:
        with pytest.raises(exc) as info:
            call()
        msg = str(info.value)
        assert "\n" not in msg and msg
        assert isinstance(info.value.exit_code, int) and info.value.exit_code > 0
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(TTSCheckpointError):
        load_tts(bad)


def test_codec_mismatch_warns(trained, codec):
    from synth.tts import CodecMismatchWarning, load_tts

    class OtherCodec:
        def __getattr__(self, name):
            return getattr(codec, name)

        checkpoint_sha256 = "f" * 64
        token_space = "f" * 64

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = load_tts(trained[0], codec=OtherCodec())
    assert any(issubclass(w.category, CodecMismatchWarning) for w in caught)
    assert "retrain" in t.codec_mismatch


def test_long_text_is_chunked_with_progress(tts):
    from synth.frontend import MAX_WORDS

    long_text = " ".join(f"Sentence number {i} is here, with a few more words to say." for i in range(2500))
    assert len(long_text) > 100_000
    chunks = tts.sentences(long_text)
    assert len(chunks) >= 2500 and chunks[7] == "Sentence number seven is here, with a few more words to say."
    assert all(len(c.split()) <= MAX_WORDS for c in chunks)
    calls = []
    res = tts.generate("One dog. Two cats. Three birds sang.", voice="flite-slt", seed=0,
                       progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)] and len(res.sentences) == 3


def test_cli_train_tts_and_voices(corpus, tmp_path):
    from click.testing import CliRunner

    from cli import main

    out = tmp_path / "cli.pt"
    args = ["train", "tts", "--corpus", str(corpus), "--out", str(out), "--threads", "1",
            "--batch-size", "1", "--max-steps", "1"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output.strip().splitlines()[-1])
    assert summary["steps"] == 1 and summary["checkpoint_mb"] <= 30
    log = [json.loads(x) for x in Path(str(out) + ".log").read_text().splitlines()]
    assert log[0]["event"] == "start" and log[-1]["event"] == "export"
    r = CliRunner().invoke(main, ["tts", "voices", "--checkpoint", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["voices"] == ["espeak-us-m3", "flite-slt"]
    r = CliRunner().invoke(main, ["train", "tts", "--corpus", str(tmp_path / "nope"), "--out", str(out)])
    assert r.exit_code != 0


def test_rope_table_made_during_inference_serves_training():
    # The rotary table is kept across calls: one first built inside generation's inference
    # mode must not break a later backward pass (this failed in fp32, where no autocast copy hid it).
    from synth import tts_model

    tts_model._ROPE.clear()
    x = torch.randn(1, 2, 5, 8)
    with torch.inference_mode():
        tts_model._rope(x, 0)
    w = torch.randn(1, 2, 5, 8, requires_grad=True)
    tts_model._rope(w, 0).sum().backward()
    assert w.grad is not None and torch.isfinite(w.grad).all()
