"""Rendering codes so that codebook 1's decision survives (synth/cell_search.py)."""
from __future__ import annotations

from dataclasses import asdict, replace

import pytest
import torch

from synth.cell_search import cell_margin, keep_cell, key_spacing
from synth.compact_codec import CompactCodecModel, CompactConfig, StableCodebook, load_model, save_checkpoint


def _stack(dim: int = 8, size: int = 64, stages: int = 4, seed: int = 0):
    """Residual codebooks k-means-fitted on Gaussian frames, and held-out frames."""
    torch.manual_seed(seed)
    data = torch.randn(4000, dim)
    books, residual = [], data.clone()
    for _ in range(stages):
        cb = StableCodebook(dim, size)
        cb.kmeans_init_(residual)
        residual = residual - cb.embed[cb.logits(residual).argmax(-1)]
        books.append(cb)
    return books, torch.randn(500, dim)


def _greedy(books, x: torch.Tensor) -> torch.Tensor:
    codes, residual = [], x.clone()
    for cb in books:
        c = cb.logits(residual).argmax(-1)
        codes.append(c)
        residual = residual - cb.embed[c]
    return torch.stack(codes)


def _quantised(books, codes: torch.Tensor) -> torch.Tensor:
    return sum(cb.embed[c] for cb, c in zip(books, codes, strict=True))


def test_the_search_keeps_codebook_one_and_widens_every_frames_margin():
    books, x = _stack()
    greedy = _greedy(books, x)
    margin = 0.5 * key_spacing(books[0])
    kept = keep_cell(books, greedy, margin)
    assert torch.equal(kept[0], greedy[0])
    before = cell_margin(books[0], _quantised(books, greedy), greedy[0])
    after = cell_margin(books[0], _quantised(books, kept), kept[0])
    assert bool((before < 0).any()), "greedy residuals must leave some frames in another cell"
    assert bool((after >= before - 1e-4).all())  # never worse than greedy
    assert float((after > 0).float().mean()) == 1.0
    assert float((after >= margin - 1e-4).float().mean()) > 0.9
    # frames that already won their cell by the margin are left exactly as they were
    wide = before >= margin
    assert bool(wide.any()) and torch.equal(kept[:, wide], greedy[:, wide])
    # and the residual stages still reproduce the frame: far nearer than codebook 1 alone
    coarse = (x - books[0].embed[greedy[0]]).pow(2).sum(-1).mean()
    assert float((x - _quantised(books, kept)).pow(2).sum(-1).mean()) < 0.5 * float(coarse)


def test_bad_margins_and_mismatched_shapes_are_refused():
    books, x = _stack(stages=2)
    codes = _greedy(books, x)
    with pytest.raises(ValueError, match="margin must be above 0"):
        keep_cell(books, codes, 0.0)
    with pytest.raises(ValueError, match="one row per codebook"):
        keep_cell(books, codes[:1], 1.0)
    with pytest.raises(ValueError, match="cell_margin must be 0"):
        CompactCodecModel(CompactConfig(cell_margin=-1.0))


def test_gated_frames_are_left_to_the_gate():
    from synth.compact_codec import KeyedCodebook
    from synth.mel import bands_below

    torch.manual_seed(0)
    cb1 = KeyedCodebook(20, 16, bands_below(16_000, 20, 3500), floor=1.0, gate=0.0)
    loud, quiet = torch.randn(300, 20) + 3.0, torch.randn(300, 20) - 6.0
    frames = torch.cat([loud, quiet])
    cb1.kmeans_init_(frames)
    cb2 = StableCodebook(20, 16)
    cb2.kmeans_init_(frames - cb1.embed[cb1.quantize(frames)])
    first = cb1.quantize(frames)
    codes = torch.stack([first, cb2.logits(frames - cb1.embed[first]).argmax(-1)])
    kept = keep_cell([cb1, cb2], codes, 0.5 * key_spacing(cb1))
    silent = codes[0] == KeyedCodebook.SILENCE
    assert bool(silent[300:].all()) and torch.equal(kept[:, silent], codes[:, silent])
    assert torch.equal(kept[0], codes[0])


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = CompactCodecModel(CompactConfig(decoder="istft"))
    with torch.no_grad():
        m.init_codebooks_(torch.randn(3000, m.config.dimension))
    return m.eval()


def test_rendering_changes_only_residual_codes_and_lands_frames_in_their_cells(model):
    torch.manual_seed(1)
    codes = torch.stack([torch.randint(0, 1024, (2, 30)) for _ in range(8)])  # [K, B, T]
    kept = model.keep_cells(codes)
    assert torch.equal(kept[0], codes[0]) and not torch.equal(kept, codes)
    q = model.quantizer.decode(kept).transpose(1, 2).reshape(60, -1)
    assert bool((cell_margin(model.codebooks[0], q, kept[0].reshape(-1)) > 0).all())
    with torch.no_grad():
        spoken = model.decode_codes(codes.transpose(0, 1))
        plain = replace(model.config, cell_margin=0.0)
        model.config, config = plain, model.config
        try:
            assert torch.equal(model.keep_cells(codes), codes)  # margin 0: codes as given
            unsearched = model.decode_codes(codes.transpose(0, 1))
        finally:
            model.config = config
    assert spoken.shape == unsearched.shape and not torch.allclose(spoken, unsearched)
    # one codebook has no residual stages to search
    assert torch.equal(model.keep_cells(codes[:1]), codes[:1])


def test_checkpoints_saved_before_the_margin_take_the_default(model, tmp_path):
    path = tmp_path / "old.pt"
    save_checkpoint(path, model, half=True)
    blob = torch.load(path, weights_only=True)
    assert blob["config"]["cell_margin"] == CompactConfig().cell_margin > 0
    del blob["config"]["cell_margin"]
    torch.save(blob, path)
    loaded, _ = load_model(path)
    assert loaded.config.cell_margin == CompactConfig().cell_margin
    assert asdict(loaded.config) == asdict(replace(model.config))


def test_the_margin_is_part_of_an_evaluation_clips_recipe(model):
    from synth.compact_codec import CompactCodec
    from verify.eval_clips import _rendering

    assert _rendering(CompactCodec(model)) == {"cell_margin": model.config.cell_margin}
    plain = CompactCodecModel(replace(model.config, cell_margin=0.0))
    assert _rendering(CompactCodec(plain)) == {}
    assert _rendering(object()) == {}  # a codec that says nothing of its rendering
