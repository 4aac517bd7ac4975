"""The decoder's GAN term: discriminators and their losses (tuning with them: test_decoder_train)."""
from __future__ import annotations

import pytest
import torch

from synth.decoder_train import DecoderTuneConfig
from synth.discriminator import Discriminator, discriminator_loss, feature_loss, generator_loss


def test_every_sub_discriminator_scores_and_the_losses_meet_their_fixed_points():
    torch.manual_seed(0)
    d = Discriminator()
    wav = torch.randn(2, 1, 4001) * 0.1  # odd length: the period view pads
    scores = d(wav)
    assert len(scores) == 8
    assert all(s.shape[0] == 2 and len(f) >= 5 for s, f in scores)
    assert feature_loss(scores, scores).item() == 0.0
    ones = [(torch.ones_like(s), f) for s, f in scores]
    zeros = [(torch.zeros_like(s), f) for s, f in scores]
    assert generator_loss(ones).item() == 0.0 and generator_loss(zeros).item() == 1.0
    assert discriminator_loss(ones, zeros).item() == 0.0
    assert discriminator_loss(zeros, ones).item() == 2.0


def test_the_discriminator_learns_to_tell_a_voice_like_tone_from_noise():
    torch.manual_seed(0)
    t = torch.arange(4000) / 16000
    real = (torch.sin(2 * torch.pi * 150 * t) * 0.3).expand(4, 1, -1).clone()
    fake = torch.randn(4, 1, 4000) * 0.1
    d = Discriminator()
    opt = torch.optim.AdamW(d.parameters(), lr=1e-3, betas=(0.8, 0.99))
    losses = []
    for _ in range(15):
        loss = discriminator_loss(d(real), d(fake))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_the_adversarial_term_needs_real_audio_in_each_batch():
    with pytest.raises(ValueError, match="discriminator's real examples"):
        DecoderTuneConfig(pool_fraction=1.0, adversarial_weight=0.1)
