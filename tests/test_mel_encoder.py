"""The fixed mel-analysis encoder and the codec built on it (issue 2's fallback encoder)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from synth.codec_train import build_mel_codec
from synth.compact_codec import CompactCodec, CompactCodecModel, CompactConfig, load_model
from synth.decoder_train import DecoderTuneConfig, tune_decoder
from synth.mel_encoder import MelAnalysisEncoder

MEL = CompactConfig(encoder="mel", dimension=20, decoder="istft", n_codebooks=2, codebook_size=16,
                    analysis_n_fft=640, robust_cutoff_hz=3500)


@pytest.mark.parametrize("n", [1, 319, 320, 321, 5000])
def test_frame_count_is_the_seanet_encoders(n):
    enc = MelAnalysisEncoder(20, 320, 640, 16_000)
    assert enc(torch.randn(2, 1, n)).shape == (2, 20, -(-n // 320))


def test_a_shift_of_one_hop_shifts_the_frames_by_one():
    enc = MelAnalysisEncoder(20, 320, 640, 16_000)
    x = torch.randn(1, 1, 320 * 12)
    a, b = enc(x), enc(torch.nn.functional.pad(x, (320, 0)))
    assert torch.allclose(a[..., 1:], b[..., 2:], atol=1e-4)
    assert not torch.allclose(a[..., 1:], b[..., 1:-1], atol=1e-2)


def test_bad_window_and_unknown_encoder_are_refused():
    with pytest.raises(ValueError, match="n_fft"):
        MelAnalysisEncoder(20, 320, 200, 16_000)
    with pytest.raises(ValueError, match="unknown encoder"):
        CompactCodecModel(CompactConfig(encoder="wav2vec"))
    with pytest.raises(ValueError, match="needs the mel encoder"):
        CompactCodecModel(CompactConfig(robust_cutoff_hz=3500))


@pytest.fixture(scope="module")
def mel_codec(tmp_path_factory, tone_corpus):
    path = tmp_path_factory.mktemp("mel-codec") / "mel.pt"
    records = []
    build_mel_codec(tone_corpus, path, MEL, log=records.append)
    assert records[-1]["frames"] == 3 * 100  # three 2 s utterances at 50 Hz
    return path


def test_built_codec_normalises_its_bands_and_round_trips_codes(mel_codec, tone_corpus):
    model, blob = load_model(mel_codec)
    assert blob["train"]["decoder_trained"] is False
    enc = model.encoder
    assert isinstance(enc, MelAnalysisEncoder) and enc.std.min() > 0
    codec = CompactCodec.load(mel_codec)
    import soundfile as sf

    wav = torch.from_numpy(sf.read(tone_corpus / "wavs" / "0.wav", dtype="float32")[0])
    codes = codec.encode(wav)
    assert codes.shape == (2, 100) and codes.max() < 16
    assert torch.equal(codes, codec.encode(wav))  # deterministic
    assert codec.decode(codes).shape[-1] == 100 * 320
    # the normalised training frames are centred: the normalisation came from them
    z = enc(wav[None, None])
    assert abs(float(z.mean())) < 0.5


def test_the_offset_reader_of_a_mel_codec_encodes_each_offset_and_reads_softly(mel_codec):
    codec = CompactCodec.load(mel_codec)
    wav = torch.from_numpy(np.random.default_rng(1).standard_normal(3200).astype(np.float32) * 0.1)
    encode = codec.offset_encoder(wav, 160, 1)
    readings = codec.offset_reader(wav, 160, 1, top=4)([0, 40, 160])
    for o, codes, reading in zip([0, 40, 160], encode([0, 40, 160]), readings, strict=True):
        plain = codec.encode(torch.nn.functional.pad(wav, (o, 0)))[:1]
        assert torch.equal(codes, plain) and torch.equal(reading.codes, plain)
        assert reading.top_tokens.shape == (plain.shape[-1], 4)
        assert torch.equal(reading.top_tokens[:, 0], plain[0])  # the nearest codeword first
        assert (reading.top_logits[:, :-1] >= reading.top_logits[:, 1:]).all()


def test_its_untrained_decoder_is_trained_fresh_and_keeps_the_token_space(mel_codec, tone_corpus, tmp_path):
    pool = [torch.zeros(2, 60, dtype=torch.long)]
    records = []
    cfg = DecoderTuneConfig(minutes=5, batch_size=4, frames=25, lr=1e-3, max_steps=30, log_every=1,
                            threads=1, pool_fraction=0.0, consistency_weight=0.0)
    tune_decoder(tone_corpus, mel_codec, pool, tmp_path / "dec.pt", cfg, log=records.append)
    mel = [r["mel"] for r in records if "mel" in r and "step" in r]
    assert np.mean(mel[-5:]) < np.mean(mel[:5])
    assert CompactCodec.load(tmp_path / "dec.pt").token_space == CompactCodec.load(mel_codec).token_space


def test_cli_builds_a_mel_codec_and_trains_its_decoder_without_sampling_codes(tmp_path, tone_corpus):
    import json

    from click.testing import CliRunner

    from cli import main

    out, dec = tmp_path / "mel.pt", tmp_path / "dec.pt"
    res = CliRunner().invoke(main, ["train", "codec", "--encoder", "mel", "--corpus", str(tone_corpus),
                                    "--out", str(out), "--threads", "1"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.splitlines()[-1])["frames"] == 300
    assert load_model(out)[0].config.encoder == "mel"
    # the shipped TTS speaks other tokens: with --pool-fraction 0 none is loaded or sampled
    res = CliRunner().invoke(main, ["train", "decoder", "--corpus", str(tone_corpus), "--out", str(dec),
                                    "--codec-checkpoint", str(out), "--minutes", "0.05",
                                    "--consistency-weight", "0", "--pool-fraction", "0", "--threads", "1"])
    assert res.exit_code == 0, res.output
    assert not dec.with_name("dec.pt.pool.pt").exists()
    assert CompactCodec.load(dec).token_space == CompactCodec.load(out).token_space


def test_the_environment_can_point_every_command_at_another_codec(mel_codec, monkeypatch):
    from synth.codec import load_codec, load_specialist_codecs
    from synth.compact_codec import CHECKPOINT_ENV
    from synth.scheme import scheme_for

    shipped = load_codec()
    monkeypatch.setenv(CHECKPOINT_ENV, str(mel_codec))
    codec = load_codec(verifier=True)
    assert codec.model.config.encoder == "mel" and codec.token_space != shipped.token_space
    assert not codec.info()["verifier_encoder"]  # none beside it; the shipped one is not borrowed
    assert load_specialist_codecs(["band", "noise"]) == {}
    from watermark.clusters import ClusterMap

    assert scheme_for(codec).cluster_map.fingerprint == ClusterMap.identity(16).fingerprint


def test_codebook_one_reads_only_the_low_bands_above_the_floor(mel_codec, tone_corpus):
    from synth.compact_codec import KeyedCodebook
    from synth.mel import bands_below

    model, _ = load_model(mel_codec)
    cb = model.codebooks[0]
    assert isinstance(cb, KeyedCodebook) and torch.equal(cb.band_mask, bands_below(16_000, 20, 3500))
    import soundfile as sf

    wav = torch.from_numpy(sf.read(tone_corpus / "wavs" / "1.wav", dtype="float32")[0])
    z = model.encoder(wav[None, None])[0].T  # [T, D]
    codes = cb.quantize(z)
    assert len(set(codes.tolist())) > 1
    high = z.clone()
    high[:, ~cb.band_mask] += 3.0  # anything above the cutoff
    assert torch.equal(cb.quantize(high), codes)
    # magnitudes far under the floor read as the floor: raising them a hundredfold changes nothing
    quiet = torch.full_like(z, -11.0)  # log(1e-5): silence
    louder = (torch.log(torch.full_like(z, 1e-3)) - model.encoder.mean) / model.encoder.std
    quiet = (quiet - model.encoder.mean) / model.encoder.std
    assert torch.equal(cb.quantize(quiet), cb.quantize(louder))
    # codewords are the clusters' mean frames: the residual stages see what the view left out
    assert cb.embed.shape == (16, 20) and cb.keys.shape == (16, int(cb.band_mask.sum()))
    assert torch.allclose(cb.logits(z).argmax(-1), codes)


def _gated_codebook(gate: float = 0.0):
    from synth.compact_codec import KeyedCodebook
    from synth.mel import bands_below

    torch.manual_seed(0)
    cb = KeyedCodebook(20, 16, bands_below(16_000, 20, 3500), floor=1.0, gate=gate)
    loud = torch.randn(300, 20) + 3.0  # log-magnitudes (band_mean 0, band_std 1: z is the log)
    quiet = torch.randn(300, 20) - 6.0
    cb.kmeans_init_(torch.cat([loud, quiet]))
    return cb, loud, quiet


def test_a_silence_gate_gives_every_quiet_frame_code_zero_and_keys_the_rest():
    cb, loud, quiet = _gated_codebook()
    assert bool((cb.loudness(quiet) < 0).all()) and bool((cb.loudness(loud) > 0).all())
    assert torch.equal(cb.quantize(quiet), torch.zeros(300, dtype=torch.long))
    loud_codes = cb.quantize(loud)
    assert int(loud_codes.min()) >= 1 and len(set(loud_codes.tolist())) > 8  # the keys went to speech
    assert torch.allclose(cb.embed[0], quiet.mean(0), atol=1e-4)  # the silence code decodes as silence
    # the gate decides by loudness alone: a quiet frame raised above it gets a key
    raised = quiet[:1] + (0.5 - float(cb.loudness(quiet[:1])))
    assert float(cb.loudness(raised)) > 0 and int(cb.quantize(raised)) != 0
    # soft readings and re-encoding losses get a gradient through the gate
    x = quiet[:4].clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(cb.logits(x), torch.full((4,), 3)).backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_a_gate_over_every_frame_and_a_gate_without_the_view_are_refused():
    from synth.compact_codec import KeyedCodebook
    from synth.mel import bands_below

    cb = KeyedCodebook(20, 16, bands_below(16_000, 20, 3500), floor=1.0, gate=1e6)
    with pytest.raises(ValueError, match="under the silence gate"):
        cb.kmeans_init_(torch.randn(100, 20))
    with pytest.raises(ValueError, match="robust view"):
        CompactCodecModel(CompactConfig(encoder="mel", dimension=20, silence_gate=3.0))


def test_a_gated_codec_can_take_over_a_trained_decoder(mel_codec, tone_corpus, tmp_path):
    from dataclasses import replace

    donor, _ = load_model(mel_codec)
    with torch.no_grad():
        for p in donor.decoder.parameters():
            p.add_(0.01 * torch.randn_like(p))  # a decoder unlike a fresh one
    from synth.compact_codec import save_checkpoint

    trained = tmp_path / "trained.pt"
    save_checkpoint(trained, donor, extra={"train": {"decoder_trained": True}})
    out = tmp_path / "gated.pt"
    build_mel_codec(tone_corpus, out, replace(MEL, silence_gate=-1e3), log=lambda r: None,
                    decoder_from=trained)
    model, blob = load_model(out)
    assert blob["train"]["decoder_trained"] is True and blob["train"]["decoder_from"] == str(trained)
    assert model.config.silence_gate == -1e3
    theirs = donor.decoder.state_dict().values()
    for (name, a), b in zip(model.decoder.state_dict().items(), theirs, strict=True):
        assert torch.allclose(a, b.half().float(), atol=1e-3), name
    with pytest.raises(ValueError, match="not a mel codec with this analysis"):
        build_mel_codec(tone_corpus, tmp_path / "x.pt", replace(MEL, dimension=24), log=lambda r: None,
                        decoder_from=trained)
    assert not (tmp_path / "x.pt").exists()


def test_cli_refuses_a_silence_gate_without_the_mel_view(tmp_path, tone_corpus):
    from click.testing import CliRunner

    from cli import main

    r = CliRunner().invoke(main, ["train", "codec", "--corpus", str(tone_corpus),
                                  "--out", str(tmp_path / "c.pt"), "--silence-gate", "3"])
    assert r.exit_code != 0 and "--encoder mel" in r.output and "Traceback" not in r.output
    assert list(tmp_path.iterdir()) == []  # refused before anything is written
