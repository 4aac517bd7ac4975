"""Minimal pure-torch stand-in for `torchaudio`, just enough for Resemble Perth.

No torchaudio release loads beside torch 2.13 CPU, and `resemble-perth` imports
`torchaudio.transforms.{Spectrogram, InverseSpectrogram, TimeStretch}`. This package
reimplements those (and the functional ops under them) on `torch.stft` / `torch.istft`
with torchaudio's defaults and semantics. Nothing else of torchaudio is provided.
Put `scripts/perth_shim` on PYTHONPATH only in the separate Perth venv (see README.md).
"""
from . import functional, transforms

__all__ = ["functional", "transforms"]
