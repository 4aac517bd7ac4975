"""Backend `encodec-24k`: Meta's pretrained EnCodec 24 kHz through the encodec package.

The weights cannot be downloaded by VoxSeal (no model hub); they are used
wherever they already are: a path given explicitly (or VOXSEAL_ENCODEC_CHECKPOINT),
or the torch hub cache where `EncodecModel.encodec_model_24khz()` keeps them.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from synth._encodec_compat import import_encodec
from synth.codec import Codec, CodecError

CHECKPOINT_NAME = "encodec_24khz-d7cc33bc.th"
BANDWIDTH_KBPS = 6.0  # 8 codebooks at 75 Hz, the setting VALL-E uses


def hub_checkpoint_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / CHECKPOINT_NAME


def find_checkpoint(checkpoint: str | os.PathLike | None = None) -> Path:
    candidates = [checkpoint, os.environ.get("VOXSEAL_ENCODEC_CHECKPOINT"), hub_checkpoint_path()]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    if checkpoint:
        raise CodecError(f"EnCodec checkpoint not found: {checkpoint}")
    raise CodecError(
        f"pretrained EnCodec 24 kHz weights not found; put {CHECKPOINT_NAME} in "
        f"{hub_checkpoint_path().parent} or pass its path (--codec-checkpoint or "
        f"VOXSEAL_ENCODEC_CHECKPOINT)")


class Encodec24Codec(Codec):
    name = "encodec-24k"
    sample_rate = 24_000
    frame_rate = 75.0
    codebook_size = 1024

    def __init__(self, model) -> None:
        self.model = model.eval()
        self.model.set_target_bandwidth(BANDWIDTH_KBPS)
        self.n_codebooks = self.model.quantizer.get_num_quantizers_for_bandwidth(
            self.model.frame_rate, BANDWIDTH_KBPS)

    @classmethod
    def load(cls, checkpoint: str | os.PathLike | None = None,
             verify_checksum: bool = True) -> Encodec24Codec:
        """Load the pretrained model.

        With `verify_checksum` (the default) loading goes through the package's
        own `encodec_model_24khz(repository=...)`, which checks the file's
        SHA-256 prefix against its name; a file under another name is refused.
        """
        encodec = import_encodec()
        path = find_checkpoint(checkpoint)
        try:
            if verify_checksum:
                if path.name != CHECKPOINT_NAME:
                    raise CodecError(f"EnCodec checkpoint must be named {CHECKPOINT_NAME} "
                                     f"(its checksum is checked against the name): {path}")
                model = encodec.EncodecModel.encodec_model_24khz(repository=path.parent)
            else:
                model = encodec.EncodecModel.encodec_model_24khz(pretrained=False)
                model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except CodecError:
            raise
        except Exception as exc:
            raise CodecError(f"cannot load EnCodec checkpoint {path}: "
                             f"{type(exc).__name__}: {exc}") from None
        return cls(model)

    def _encode(self, wav: torch.Tensor) -> torch.Tensor:
        frames = self.model.encode(wav[:, None, :])
        return torch.cat([codes for codes, _ in frames], dim=-1)

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.model.decode([(codes, None)])[:, 0, :]
