"""Decoder consistency tuning: only the decoder moves, so the codes keep their meaning."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from synth.codec_train import TrainConfig, train_codec
from synth.compact_codec import CompactCodec, CompactConfig, load_model
from synth.decoder_train import CodeCrops, DecoderTuneConfig, tune_decoder

SMALL = CompactConfig(n_filters=4, dimension=16, lstm=0, n_codebooks=2, codebook_size=32)


@pytest.fixture(scope="module")
def base(tmp_path_factory, tone_corpus):
    """A tiny codec, briefly trained on the tone corpus."""
    path = tmp_path_factory.mktemp("tiny-codec") / "base.pt"
    train_codec(tone_corpus, path, TrainConfig(minutes=5, batch_size=4, segment_seconds=0.5, lr=2e-3,
                                               recon_fraction=0.5, max_steps=20, threads=1), SMALL,
                log=lambda r: None)
    return path


def test_tuning_moves_only_the_decoder_and_keeps_the_token_space(tmp_path, tone_corpus, base):
    gen = torch.Generator().manual_seed(0)
    pool = [torch.randint(0, 32, (2, 80), generator=gen) for _ in range(4)]
    records = []
    out = tmp_path / "tuned.pt"
    cfg = DecoderTuneConfig(minutes=5, batch_size=4, frames=25, lr=2e-3, max_steps=30, log_every=1,
                            threads=1)
    tune_decoder(tone_corpus, base, pool, out, cfg, log=records.append)
    steps = [r for r in records if "step" in r and "consistency" in r]
    assert len(steps) == 30 and all(np.isfinite(r["consistency"]) for r in steps)
    assert {"mel", "anchor", "agreement"} <= set(steps[-1])
    m0, _ = load_model(base)
    m1, blob = load_model(out)
    assert blob["decoder_tuned"]["steps"] == 30
    for name, v in m0.state_dict().items():
        # the EMA statistics are training state a shipped file leaves out (compact_codec.save_checkpoint)
        if not name.startswith("decoder.") and not name.endswith(("embed_avg", "cluster_size")):
            assert torch.equal(v, m1.state_dict()[name]), name  # encoder and codebooks frozen
    assert any(not torch.equal(v, m1.state_dict()[k]) for k, v in m0.state_dict().items()
               if k.startswith("decoder."))
    c0, c1 = CompactCodec.load(base), CompactCodec.load(out)
    assert c0.checkpoint_sha256 != c1.checkpoint_sha256
    assert c0.token_space == c1.token_space
    wav = torch.from_numpy(np.random.default_rng(1).standard_normal(8000).astype(np.float32) * 0.1)
    assert torch.equal(c0.encode(wav), c1.encode(wav))
    # resuming continues the same run
    records.clear()
    cfg.max_steps = 33
    tune_decoder(tone_corpus, base, pool, out, cfg, log=records.append)
    assert records[0]["event"] == "resumed" and records[0]["step"] == 30


def test_code_crops_are_windows_of_the_pool():
    import random

    pool = [torch.arange(40).repeat(2, 1), torch.arange(5).repeat(2, 1)]  # the short one is skipped
    crops = CodeCrops(pool, 10, random.Random(0))(6)
    assert crops.shape == (6, 2, 10)
    assert all(torch.equal(c[0], torch.arange(int(c[0, 0]), int(c[0, 0]) + 10)) for c in crops)


def test_verifier_encoder_training_runs_resumes_and_binds_to_its_codec(tmp_path, tone_corpus, base):
    from synth.compact_codec import load_verifier_encoder
    from synth.fileio import sha256_file
    from verify.encoder_train import VerifierTrainConfig, train_verifier_encoder

    gen = torch.Generator().manual_seed(1)
    pool = [torch.randint(0, 32, (2, 60), generator=gen) for _ in range(3)]
    out = tmp_path / "v.pt"
    records = []
    cfg = VerifierTrainConfig(minutes=5, batch_size=4, segment_frames=25, max_steps=8, log_every=1,
                              threads=1)
    train_verifier_encoder(tone_corpus, out, cfg, base, code_pool=pool, log=records.append)
    assert records[0] == {"event": "prepared", "utterances": 3, "pool_sequences": 3}
    assert sum("ce" in r and "step" in r for r in records) == 8
    model, _ = load_model(base)
    encoder = load_verifier_encoder(out, model, sha256_file(base))
    assert sum(p.numel() for p in encoder.parameters()) == sum(p.numel() for p in model.encoder.parameters())
    records.clear()
    cfg.max_steps = 10
    train_verifier_encoder(tone_corpus, out, cfg, base, code_pool=pool, log=records.append)
    assert records[1]["event"] == "resumed" and records[1]["step"] == 8


def test_specialist_encoders_start_from_init_and_their_edits_keep_length(tmp_path, tone_corpus, base):
    import random

    import numpy as np

    from synth.compact_codec import load_verifier_encoder
    from synth.fileio import sha256_file
    from verify.encoder_train import (
        SPECIALIST_EDITS,
        VerifierTrainConfig,
        specialist_config,
        train_verifier_encoder,
    )
    from verify.specialists import SPECIALISTS

    assert set(SPECIALIST_EDITS) == set(SPECIALISTS)  # every searched specialist can be trained
    x = (np.sin(np.arange(8000) * 0.07) * 0.2).astype(np.float32)
    rng = random.Random(0)
    for specialist, pool in SPECIALIST_EDITS.items():
        for name, edit in pool():
            y = edit(x, 16_000, rng)
            assert len(y) >= len(x) and np.isfinite(y).all(), (specialist, name)
    with pytest.raises(ValueError, match="unknown specialist"):
        specialist_config(VerifierTrainConfig(), "reverb")
    model, _ = load_model(base)
    first = tmp_path / "v.pt"
    cfg = VerifierTrainConfig(minutes=5, batch_size=4, segment_frames=25, max_steps=2, threads=1)
    train_verifier_encoder(tone_corpus, first, cfg, base, log=lambda r: None)
    same = tmp_path / "same.pt"
    train_verifier_encoder(tone_corpus, same, VerifierTrainConfig(
        minutes=5, segment_frames=25, max_steps=0, threads=1, init=str(first)), base, log=lambda r: None)
    a = load_verifier_encoder(first, model, sha256_file(base)).state_dict()
    b = load_verifier_encoder(same, model, sha256_file(base)).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # zero steps from init: the init itself
    band = tmp_path / "band.pt"
    records = []
    cfg = specialist_config(VerifierTrainConfig(minutes=5, batch_size=4, segment_frames=25, max_steps=6,
                                                threads=1, init=str(first)), "band")
    assert (cfg.specialist, cfg.clean_probability, cfg.mild_only) == ("band", 0.0, False)
    train_verifier_encoder(tone_corpus, band, replace(cfg, lossy_probability=0.0), base,
                           log=records.append)
    assert sum("ce" in r for r in records) >= 1 and records[-1]["steps"] == 6


def test_a_fresh_istft_decoder_trains_with_the_verifier_encoder_too(tmp_path, tone_corpus, base):
    from synth.fileio import sha256_file
    from verify.encoder_train import VerifierTrainConfig, train_verifier_encoder

    gen = torch.Generator().manual_seed(2)
    pool = [torch.randint(0, 32, (2, 80), generator=gen) for _ in range(4)]
    verifier = tmp_path / "v.pt"
    vcfg = VerifierTrainConfig(minutes=5, batch_size=4, segment_frames=25, max_steps=2, threads=1)
    train_verifier_encoder(tone_corpus, verifier, vcfg, base, code_pool=pool, log=lambda r: None)
    records = []
    out = tmp_path / "istft.pt"
    cfg = DecoderTuneConfig(minutes=5, batch_size=4, frames=25, lr=1e-3, max_steps=12, log_every=1, threads=1,
                            pool_fraction=0.25, architecture="istft", verifier=str(verifier))
    tune_decoder(tone_corpus, base, pool, out, cfg, log=records.append)
    steps = [r for r in records if "step" in r and "mel" in r]
    assert len(steps) == 12 and "anchor" not in steps[-1]  # a fresh decoder has no anchor
    assert {"agreement", "agreement_verifier", "consistency_verifier"} <= set(steps[-1])
    assert steps[-1]["mel"] < steps[0]["mel"]
    m0, _ = load_model(base)
    m1, blob = load_model(out)
    assert m1.config.decoder == "istft" and blob["decoder_tuned"]["base_sha256"] == sha256_file(base)
    assert all(torch.equal(v, m1.encoder.state_dict()[k]) for k, v in m0.encoder.state_dict().items())
    assert CompactCodec.load(base).token_space == CompactCodec.load(out).token_space


def test_consistency_weight_zero_trains_on_the_mel_loss_alone(tmp_path, tone_corpus, base):
    gen = torch.Generator().manual_seed(3)
    pool = [torch.randint(0, 32, (2, 80), generator=gen) for _ in range(2)]
    records = []
    cfg = DecoderTuneConfig(minutes=5, batch_size=4, frames=25, lr=1e-3, max_steps=3, log_every=1, threads=1,
                            pool_fraction=0.0, architecture="istft", consistency_weight=0.0)
    tune_decoder(tone_corpus, base, pool, tmp_path / "mel.pt", cfg, log=records.append)
    steps = [r for r in records if "step" in r and "mel" in r]
    assert len(steps) == 3 and not any(k.startswith(("consistency", "agreement")) for k in steps[-1])


def test_train_decoder_rejects_a_bad_verifier_file_before_sampling(tmp_path, tone_corpus):
    from click.testing import CliRunner

    from cli import main
    from synth.compact_codec import ASSET

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not an encoder")
    args = ["train", "decoder", "--corpus", str(tone_corpus), "--out", str(tmp_path / "o.pt"),
            "--codec-checkpoint", str(ASSET), "--architecture", "istft", "--verifier", str(junk)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "--verifier" in res.output and "cannot load verifier encoder" in res.output
    assert not (tmp_path / "o.pt.pool.pt").exists()


def test_a_joint_verifier_learns_beside_the_decoder_and_is_bound_to_its_output(tmp_path, tone_corpus, base):
    from synth.compact_codec import load_verifier_encoder
    from synth.fileio import sha256_file
    from verify.encoder_train import VerifierTrainConfig, train_verifier_encoder

    gen = torch.Generator().manual_seed(4)
    pool = [torch.randint(0, 32, (2, 80), generator=gen) for _ in range(4)]
    start = tmp_path / "v.pt"
    train_verifier_encoder(tone_corpus, start, VerifierTrainConfig(
        minutes=5, batch_size=4, segment_frames=25, max_steps=1, threads=1), base, log=lambda r: None)
    out = tmp_path / "joint.pt"
    records = []
    cfg = DecoderTuneConfig(minutes=5, batch_size=4, frames=25, lr=1e-3, max_steps=4, log_every=1, threads=1,
                            pool_fraction=0.25, architecture="istft", verifier=str(start), verifier_lr=1e-3)
    summary = tune_decoder(tone_corpus, base, pool, out, cfg, log=records.append)
    steps = [r for r in records if "step" in r and "mel" in r]
    assert "agreement_verifier" in steps[-1] and "agreement" not in steps[-1]  # only the verifier asked
    joint = tmp_path / "joint.verifier.pt"
    assert summary["verifier"] == str(joint)
    model, _ = load_model(out)
    before = load_verifier_encoder(start, model, None).state_dict()
    after = load_verifier_encoder(joint, model, sha256_file(out)).state_dict()  # bound to the new codec
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert CompactCodec.load(out, verifier_encoder=True).encoder is not None  # found beside it
    # resuming restores the jointly trained encoder, not the --verifier file
    more = []
    tune_decoder(tone_corpus, base, pool, out, replace(cfg, max_steps=5), log=more.append)
    assert more[0] == {"event": "resumed", "step": 4, "elapsed_s": more[0]["elapsed_s"]}
    with pytest.raises(ValueError, match="re-encoding term"):
        tune_decoder(tone_corpus, base, pool, tmp_path / "y.pt", replace(cfg, consistency_weight=0.0),
                     log=lambda r: None)
    with pytest.raises(ValueError, match="starting one"):
        tune_decoder(tone_corpus, base, pool, tmp_path / "x.pt", replace(cfg, verifier=None),
                     log=lambda r: None)


def test_adversarial_tuning_logs_its_terms_and_resumes_its_discriminator(tmp_path, tone_corpus, base):
    gen = torch.Generator().manual_seed(2)
    pool = [torch.randint(0, 32, (2, 80), generator=gen) for _ in range(4)]
    out = tmp_path / "gan.pt"
    records = []
    cfg = DecoderTuneConfig(minutes=5, batch_size=4, frames=25, lr=1e-3, max_steps=4, log_every=1, threads=1,
                            pool_fraction=0.5, architecture="istft", consistency_weight=0.05,
                            adversarial_weight=0.1, disc_warmup_steps=2)
    assert cfg.feature_weight == pytest.approx(0.2)
    tune_decoder(tone_corpus, base, pool, out, cfg, log=records.append)
    steps = [r for r in records if "step" in r and "mel" in r]
    assert "disc" in steps[0] and "adversarial" not in steps[0]  # warm-up: the discriminator alone
    assert {"disc", "adversarial", "features"} <= set(steps[-1])
    state = torch.load(tmp_path / "gan.pt.train.pt", weights_only=False)
    assert state["disc_steps"] == 4 and "discriminator" in state
    more = []
    tune_decoder(tone_corpus, base, pool, out, replace(cfg, max_steps=5), log=more.append)
    assert more[0]["event"] == "resumed" and more[0]["step"] == 4
    assert torch.load(tmp_path / "gan.pt.train.pt", weights_only=False)["disc_steps"] == 5


def test_train_decoder_verifier_lr_needs_a_verifier(tmp_path, tone_corpus):
    from click.testing import CliRunner

    from cli import main
    from synth.compact_codec import ASSET

    args = ["train", "decoder", "--corpus", str(tone_corpus), "--out", str(tmp_path / "o.pt"),
            "--codec-checkpoint", str(ASSET), "--architecture", "istft", "--verifier-lr", "1e-4"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "--verifier-lr trains the --verifier encoder" in res.output
    res = CliRunner().invoke(main, [*args, "--verifier", str(ASSET.with_name("compact16k.verifier.pt")),
                                    "--consistency-weight", "0"])
    assert res.exit_code == 2 and "needs --consistency-weight > 0" in res.output
    assert not (tmp_path / "o.pt.pool.pt").exists()


def test_train_verifier_samples_its_code_pool_with_a_tts(tmp_path, tone_corpus):
    from click.testing import CliRunner

    from cli import main
    from synth.compact_codec import VERIFIER_ASSET
    from synth.decoder_train import read_pool
    from synth.tts import DEFAULT_CHECKPOINT as TTS_ASSET

    out = tmp_path / "band.pt"
    base = ["train", "verifier", "--corpus", str(tone_corpus), "--out", str(out), "--threads", "1"]
    res = CliRunner().invoke(main, [*base, "--tts-checkpoint", str(TTS_ASSET), "--code-pool",
                                    str(VERIFIER_ASSET)])
    assert res.exit_code == 2 and "not both" in res.output and not out.exists()
    res = CliRunner().invoke(main, [*base, "--tts-checkpoint", str(TTS_ASSET), "--pool-seconds", "10",
                                    "--specialist", "band", "--init", str(VERIFIER_ASSET),
                                    "--minutes", "0.05"])
    assert res.exit_code == 0, res.output
    pool = read_pool(tmp_path / "band.pt.pool.pt")
    assert sum(c.shape[-1] for c in pool) >= 10 * 50 and out.is_file()
