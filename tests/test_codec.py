"""Codec interface, the embedded compact-16k, the pretrained-EnCodec loading path, training."""
import sys

import numpy as np
import pytest
import torch

from synth.codec import CodecError, load_codec


@pytest.fixture(scope="module")
def codec():
    return load_codec("compact-16k")


def test_encodec_imports_without_torchaudio():
    from synth._encodec_compat import import_encodec

    enc = import_encodec()
    assert hasattr(enc, "EncodecModel")
    assert "torchaudio" not in sys.modules
    placeholder = enc.utils.torchaudio
    with pytest.raises(ImportError, match="does not install torchaudio"):
        getattr(placeholder, "load")  # noqa: B009


def test_shapes_and_properties(codec):
    assert (codec.sample_rate, codec.frame_rate, codec.n_codebooks, codec.codebook_size) == (
        16_000, 50.0, 8, 1024)
    x = torch.randn(16_000) * 0.1
    codes = codec.encode(x)
    assert codes.dtype == torch.long and codes.shape == (8, 50)
    assert int(codes.min()) >= 0 and int(codes.max()) < 1024
    wav = codec.decode(codes)
    assert wav.shape == (16_000,) and torch.isfinite(wav).all()


def test_partial_frames_are_padded(codec):
    assert codec.encode(torch.randn(16_001) * 0.1).shape == (8, 51)


def test_batched_equals_single_and_is_deterministic(codec):
    x = torch.randn(2, 8000) * 0.1
    batch = codec.encode(x)
    assert batch.shape == (2, 8, 25)
    assert torch.equal(batch[1], codec.encode(x[1]))
    assert torch.equal(codec.encode(x[0]), codec.encode(x[0]))
    dec = codec.decode(batch)
    assert dec.shape == (2, 8000)
    assert torch.allclose(dec[0], codec.decode(batch[0]), atol=1e-5)


def test_offset_encoder_shares_work_and_matches_a_plain_encode(codec):
    """The compact codec analyses the clip once for every sub-frame offset; the codes
    must be those of encoding the clip with that much silence in front."""
    from synth.codec import Codec

    gen = torch.Generator().manual_seed(3)
    x = torch.randn(12_345, generator=gen) * 0.1
    offsets = [0, 80, 160, 240]
    fast = codec.offset_encoder(x, 240, 2)
    first, rest = fast(offsets[:1]), fast(offsets[1:])  # the analysis is reused across calls
    for o, got in zip(offsets, first + rest, strict=True):
        want = codec.encode(torch.cat([torch.zeros(o), x]))[:2]
        assert got.shape == want.shape == (2, -(-(12_345 + o) // 320))
        # the plain encode pads the end by reflection, the shared analysis with silence
        assert torch.equal(got[:, :-4], want[:, :-4])
    generic = Codec.offset_encoder(codec, x, 240, 1)([20, 100])
    assert [tuple(c.shape) for c in generic] == [(1, 39), (1, 39)]
    # offsets that are not multiples of the shared analysis' step take the generic path
    assert all(torch.equal(a[:1], b) for a, b in zip(fast([20, 100]), generic, strict=True))
    with pytest.raises(CodecError, match="offsets"):
        fast([241])


def test_offset_reader_gives_the_same_codes_and_the_nearest_codewords_in_order(codec):
    """The soft reading's codes are the quantiser's (one distance computation serves
    both), its top tokens are the nearest codewords, nearest first."""
    from synth.compact_codec import _sq_dist

    gen = torch.Generator().manual_seed(4)
    x = torch.randn(8_000, generator=gen) * 0.1
    offsets = [0, 80, 160, 240]
    codes = codec.offset_encoder(x, 240, 1)(offsets)
    readings = codec.offset_reader(x, 240, 1, top=5)(offsets)
    embed = codec.model.codebooks[0].embed
    for c, r in zip(codes, readings, strict=True):
        assert torch.equal(r.codes, c) and torch.equal(r.top_tokens[:, 0], c[0])
        assert r.top_tokens.shape == r.top_logits.shape == (c.shape[1], 5)
        assert bool((r.top_logits[:, :-1] >= r.top_logits[:, 1:]).all())
    # the logits are minus the squared distances of the encoder's output to the codewords
    # (at the largest offset the shared analysis sees what a plain encode sees, up to the end)
    z = codec.model.encoder(torch.cat([torch.zeros(240), x])[None, None])[0].T[:10]
    want = (-_sq_dist(z, embed)).topk(5, dim=-1).values
    assert torch.allclose(readings[3].top_logits[:10], want, rtol=1e-3, atol=1e-3)
    two = codec.offset_reader(x, 240, 2, top=3)([0])[0]
    assert two.codes.shape[0] == 2 and torch.equal(two.codes[0], two.top_tokens[:, 0])
    plain = codec.offset_reader(x, 240, 1)([20])[0]  # the generic path: codes only
    assert plain.top_tokens is None and plain.codes.shape == (1, 26)


def test_decode_with_fewer_codebooks(codec):
    codes = codec.encode(torch.randn(8000) * 0.1)
    assert codec.decode(codes[:1]).shape == (8000,)


@pytest.mark.parametrize("bad, match", [
    (torch.zeros(9, 10, dtype=torch.long), "codebooks"),
    (torch.full((8, 10), 1024), r"\[0, 1024\)"),
    (torch.full((8, 10), -1), r"\[0, 1024\)"),
    (torch.zeros(10, dtype=torch.long), "shape"),
])
def test_decode_rejects_bad_codes(codec, bad, match):
    with pytest.raises(CodecError, match=match):
        codec.decode(bad)


def test_encode_rejects_empty_and_bad_shapes(codec):
    with pytest.raises(CodecError, match="empty"):
        codec.encode(torch.zeros(0))
    with pytest.raises(CodecError, match="shape"):
        codec.encode(torch.zeros(1, 1, 100))


def test_shipped_checkpoint_is_fp16_and_small():
    from synth.compact_codec import ASSET

    blob = torch.load(ASSET, map_location="cpu", weights_only=True)
    floats = [v for v in blob["state_dict"].values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float16 for v in floats)
    assert ASSET.stat().st_size <= 8 * 1024 * 1024


def test_unknown_codec_and_bad_checkpoint(tmp_path):
    with pytest.raises(CodecError, match="unknown codec"):
        load_codec("nope")
    with pytest.raises(CodecError, match="not found"):
        load_codec("compact-16k", tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CodecError, match="cannot load"):
        load_codec("compact-16k", tmp_path / "junk.pt")


# ---------------------------------------------------------------- encodec-24k
@pytest.fixture(scope="module")
def encodec_state(tmp_path_factory):
    from synth._encodec_compat import import_encodec

    torch.manual_seed(0)
    model = import_encodec().EncodecModel.encodec_model_24khz(pretrained=False)
    path = tmp_path_factory.mktemp("ckpt") / "my-encodec.th"
    torch.save(model.state_dict(), path)
    return path, model


def test_encodec24_loads_a_checkpoint_file(encodec_state):
    from synth.encodec24 import Encodec24Codec

    path, reference = encodec_state
    codec = Encodec24Codec.load(path, verify_checksum=False)
    assert (codec.sample_rate, codec.frame_rate, codec.n_codebooks) == (24_000, 75.0, 8)
    x = torch.randn(24_000) * 0.1
    codes = codec.encode(x)
    assert codes.shape == (8, 75)
    # the weights are the ones we wrote, not a fresh random init
    for k, v in reference.state_dict().items():
        assert torch.equal(codec.model.state_dict()[k], v)
    assert codec.decode(codes).shape == (24_000,)


def test_encodec24_package_loader_checks_the_checksum(encodec_state, tmp_path, monkeypatch):
    from synth.encodec24 import CHECKPOINT_NAME, hub_checkpoint_path

    path, _ = encodec_state
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.delenv("VOXSEAL_ENCODEC_CHECKPOINT", raising=False)
    with pytest.raises(CodecError, match="weights not found.*" + CHECKPOINT_NAME):
        load_codec("encodec-24k")
    hub_checkpoint_path().parent.mkdir(parents=True)
    hub_checkpoint_path().write_bytes(path.read_bytes())
    # found in the hub cache and handed to encodec's own loader, which refuses a
    # file whose SHA-256 does not match the published one
    with pytest.raises(CodecError, match="cannot load EnCodec checkpoint"):
        load_codec("encodec-24k")


def test_encodec24_rejects_misnamed_file_when_verifying(encodec_state):
    path, _ = encodec_state
    with pytest.raises(CodecError, match="must be named"):
        load_codec("encodec-24k", path)


# ---------------------------------------------------------------- training
def test_a_few_training_steps_lower_the_loss(tmp_path, tone_corpus):
    from synth.codec_train import TrainConfig, train_codec
    from synth.compact_codec import CompactConfig, load_model

    records = []
    cfg = TrainConfig(minutes=5, batch_size=4, segment_seconds=0.5, lr=2e-3, recon_fraction=0.5,
                      max_steps=40, log_every=1, threads=1)
    small = CompactConfig(n_filters=4, dimension=16, lstm=0, n_codebooks=2, codebook_size=32)
    out = tmp_path / "c.pt"
    train_codec(tone_corpus, out, cfg, small, log=records.append)
    mel = [r["mel"] for r in records if "mel" in r and "step" in r]
    assert len(mel) >= 30
    assert np.mean(mel[-5:]) < 0.8 * np.mean(mel[:5])
    model, blob = load_model(out)
    assert blob["train"]["steps"] == 40
    # resuming continues from the saved state instead of starting over
    cfg.max_steps = 45
    records.clear()
    train_codec(tone_corpus, out, cfg, small, log=records.append)
    assert records[0]["event"] == "resumed" and records[0]["step"] == 40


def test_shipped_verifier_encoder_is_bound_to_the_shipped_codec(tmp_path):
    from synth.compact_codec import ASSET, VERIFIER_ASSET, CompactCodec

    assert VERIFIER_ASSET.is_file() and VERIFIER_ASSET.stat().st_size < 4_000_000
    plain, tuned = load_codec(), load_codec(verifier=True)
    assert tuned.info()["verifier_encoder"] and not plain.info()["verifier_encoder"]
    assert plain.token_space == tuned.token_space
    wav = torch.from_numpy(np.random.default_rng(0).standard_normal(16_000).astype(np.float32) * 0.1)
    assert torch.equal(tuned.encode(wav), tuned.encode(wav))
    # a verifier encoder tuned for another codec checkpoint is refused, not silently used
    other = tmp_path / "other.pt"
    blob = torch.load(ASSET, map_location="cpu", weights_only=True)
    blob["state_dict"] = {k: (v + 1e-3 if k.startswith("decoder.") and v.is_floating_point() else v)
                          for k, v in blob["state_dict"].items()}
    torch.save(blob, other)
    with pytest.raises(CodecError, match="another codec"):
        CompactCodec.load(other, verifier_encoder=VERIFIER_ASSET)


@pytest.mark.parametrize("batch,length", [(1, 16_000), (2, 4_321), (1, 50)])
def test_folded_encoder_layers_compute_what_the_modules_do(codec, batch, length):
    """The verifier runs the encoder's layers folded (synth/lean_encoder.py); the
    result must be the modules' own, short inputs (reflect padding's edge case) too."""
    from synth.lean_encoder import fold_layers

    layers = codec.model.encoder.model
    x = torch.randn(batch, 1, length, generator=torch.Generator().manual_seed(5)) * 0.1
    with torch.inference_mode():
        want = layers(x)
        got = fold_layers(list(layers))(x)
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("stride,length,extra", [(2, 1_000, 0), (4, 1_003, 0), (5, 997, 1), (8, 2_001, 0),
                                                  (8, 2_003, 3)])
def test_strided_convolution_without_a_padded_copy_equals_the_padded_one(stride, length, extra):
    """`_edge_fixed` puts the outputs of a zero-padded convolution where the reflect-padded
    one has them and recomputes those that reach the padding."""
    import torch.nn.functional as F

    from synth.lean_encoder import _edge_fixed

    k = 2 * stride
    right = (k - stride) // 2
    left = k - stride - right
    gen = torch.Generator().manual_seed(stride)
    x, w, b = (torch.randn(*s, generator=gen) for s in ((2, 3, length), (5, 3, k), (5,)))
    want = F.conv1d(F.pad(x, (left, right + extra), "reflect"), w, b, stride)
    got = _edge_fixed(x, w, b, stride, 1, left, right + extra, k)
    assert got.shape == want.shape and got.is_contiguous()
    assert torch.allclose(got, want, atol=1e-5)


def test_offset_encoder_folds_the_weights_once_and_again_after_they_change(codec):
    import copy

    c = copy.deepcopy(codec)
    x = torch.randn(8_000, generator=torch.Generator().manual_seed(4)) * 0.1
    before = c.offset_encoder(x, 0, 1)([0])[0]
    folded = c._folded
    c.offset_encoder(x, 0, 1)([0])
    assert c._folded is folded  # same weights: no second fold
    with torch.no_grad():  # an optimiser step changes the weights in place
        for p in c.model.encoder.parameters():
            p.mul_(1.5)
    after = c.offset_encoder(x, 0, 1)([0])[0]
    assert c._folded is not folded
    assert torch.equal(after[:, :-2], c.encode(x)[:1, :-2])
    assert not torch.equal(after, before)


def test_folded_layers_handle_identity_shortcuts_and_weight_norm():
    from encodec.modules import SEANetEncoder

    from synth.lean_encoder import fold_layers

    torch.manual_seed(0)
    enc = SEANetEncoder(channels=1, dimension=16, n_filters=4, ratios=[4, 2], true_skip=True)
    x = torch.randn(2, 1, 1_003) * 0.1
    with torch.inference_mode():
        assert torch.allclose(fold_layers(list(enc.model))(x), enc(x), atol=1e-5, rtol=1e-4)


def test_istft_decoder_shapes_and_fresh_decoder_keeps_the_token_space(tmp_path):
    from synth.compact_codec import (
        CompactCodec,
        CompactCodecModel,
        CompactConfig,
        load_model,
        save_checkpoint,
    )
    from synth.istft_decoder import ISTFTDecoder

    dec = ISTFTDecoder(16, 320, dim=32, hidden=48, n_layers=2)
    assert dec(torch.randn(3, 16, 7)).shape == (3, 1, 7 * 320)
    with pytest.raises(ValueError, match="multiple"):
        ISTFTDecoder(16, 321)
    with pytest.raises(ValueError, match="unknown decoder"):
        CompactCodecModel(CompactConfig(decoder="wavenet"))

    torch.manual_seed(0)
    small = CompactConfig(n_filters=4, dimension=16, lstm=0, n_codebooks=2, codebook_size=32)
    seanet = CompactCodecModel(small).eval()
    istft = seanet.with_decoder("istft").eval()
    assert isinstance(istft.decoder, ISTFTDecoder) and istft.config.decoder == "istft"
    save_checkpoint(tmp_path / "a.pt", seanet, half=True)
    save_checkpoint(tmp_path / "b.pt", istft, half=True)
    blob = torch.load(tmp_path / "b.pt", weights_only=True)
    assert not any(k.endswith(("embed_avg", "cluster_size")) for k in blob["state_dict"])
    a, b = CompactCodec.load(tmp_path / "a.pt"), CompactCodec.load(tmp_path / "b.pt")
    assert a.token_space == b.token_space  # same encoder and codebooks, other decoder
    wav = torch.from_numpy(np.random.default_rng(0).standard_normal(4000).astype(np.float32) * 0.1)
    codes = a.encode(wav)
    assert torch.equal(codes, b.encode(wav))
    assert b.decode(codes).shape[-1] == codes.shape[-1] * 320
    model, _ = load_model(tmp_path / "b.pt")  # EMA statistics restart consistent with the codewords
    for cb in model.codebooks:
        assert torch.allclose(cb.embed_avg / cb.cluster_size[:, None], cb.embed)
