"""The codec interface every backend implements, and the loader that picks one.

A codec turns 1-channel audio into K parallel streams of discrete tokens at a
fixed frame rate and back:

    encode(wav: FloatTensor[B, N] or [N]) -> LongTensor[B, K, T] (or [K, T] for 1-D input)
    decode(codes: LongTensor[B, K, T] or [K, T]) -> FloatTensor[B, N] (or [N])
"""
from __future__ import annotations

import abc
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch


class CodecError(Exception):
    """A codec cannot be loaded or used; the message says what to do."""

    exit_code = 5


@dataclass(frozen=True)
class Reading:
    """One encode of a clip, with how sure the encoder was of the first codebook.

    Attributes:
        codes: long [K, T].
        top_tokens: long [T, M] codebook 0's M nearest codewords per frame, nearest first
            (codes[0] == top_tokens[:, 0]), or None where the backend does not say.
        top_logits: float [T, M] their logits: minus their squared distances to the
            encoder's output (what the verifier encoders were trained on as logits).
    """

    codes: torch.Tensor
    top_tokens: torch.Tensor | None = None
    top_logits: torch.Tensor | None = None


class Codec(abc.ABC):
    """Abstract codec: sample rate, frame rate, K codebooks of a fixed size."""

    name: str
    sample_rate: int
    frame_rate: float
    n_codebooks: int
    codebook_size: int

    @property
    def hop_length(self) -> int:
        return int(round(self.sample_rate / self.frame_rate))

    @abc.abstractmethod
    def _encode(self, wav: torch.Tensor) -> torch.Tensor:
        """wav [B, N] float -> codes [B, K, T] long."""

    @abc.abstractmethod
    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [B, K, T] long -> wav [B, N] float."""

    @torch.inference_mode()
    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        wav = torch.as_tensor(wav, dtype=torch.float32)
        single = wav.dim() == 1
        if wav.dim() not in (1, 2):
            raise CodecError(f"encode expects audio of shape [N] or [B, N], got {list(wav.shape)}")
        if wav.shape[-1] == 0:
            raise CodecError("cannot encode empty audio")
        codes = self._encode(wav[None] if single else wav)
        return codes[0] if single else codes

    @torch.inference_mode()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        codes = torch.as_tensor(codes, dtype=torch.long)
        single = codes.dim() == 2
        if codes.dim() not in (2, 3):
            raise CodecError(f"decode expects codes of shape [K, T] or [B, K, T], "
                             f"got {list(codes.shape)}")
        if codes.shape[-2] > self.n_codebooks or codes.shape[-2] < 1:
            raise CodecError(f"codes have {codes.shape[-2]} codebooks; this codec has "
                             f"{self.n_codebooks}")
        if codes.numel() and (codes.min() < 0 or codes.max() >= self.codebook_size):
            raise CodecError(f"code values must lie in [0, {self.codebook_size})")
        wav = self._decode(codes[None] if single else codes)
        return wav[0] if single else wav

    def offset_encoder(self, wav: torch.Tensor, max_offset: int, n_codebooks: int
                       ) -> Callable[[Sequence[int]], list[torch.Tensor]]:
        """encode(offsets) -> codes [n_codebooks, T_o] of `wav` [N] with o samples of silence
        prepended, one per offset o in [0, max_offset]; T_o = ceil((N + o) / hop).

        The verifier's sub-frame alignment search calls this; a backend may share the
        encoder's work between offsets (the compact codec does). Default: one batched
        encode per call.
        """
        wav = torch.as_tensor(wav, dtype=torch.float32)
        n = wav.shape[-1]

        def encode(offsets: Sequence[int]) -> list[torch.Tensor]:
            _check_offsets(offsets, max_offset)
            codes = self.encode(shifted_copies(wav, offsets))
            return [codes[i, :n_codebooks, : math.ceil((n + o) / self.hop_length)]
                    for i, o in enumerate(offsets)]

        return encode

    def offset_reader(self, wav: torch.Tensor, max_offset: int, n_codebooks: int, top: int = 32
                      ) -> Callable[[Sequence[int]], list[Reading]]:
        """`offset_encoder`, each encode a `Reading` with codebook 0's `top` nearest codewords
        (the soft reading of watermark/soft.py). Default: codes only (top_tokens None)."""
        encode = Codec.offset_encoder(self, wav, max_offset, n_codebooks)  # not an override's
        return lambda offsets: [Reading(c) for c in encode(offsets)]

    def codewords(self, k: int):
        """Codewords of codebook k as a float array [codebook_size, D].

        Both backends wrap an encodec-style model whose residual VQ keeps one
        EuclideanCodebook per stage.
        """
        return self.model.quantizer.vq.layers[k]._codebook.embed.detach().numpy().copy()

    @property
    def token_space(self) -> str | None:
        """Identifies what the codes mean (encoder + codebooks): models trained on this
        codec's tokens stay valid across checkpoints that share it. Default: the checkpoint."""
        return getattr(self, "_token_space", None) or getattr(self, "checkpoint_sha256", None)

    def info(self) -> dict:
        return {"name": self.name, "sample_rate": self.sample_rate, "frame_rate": self.frame_rate,
                "n_codebooks": self.n_codebooks, "codebook_size": self.codebook_size}


def shifted_copies(wav: torch.Tensor, offsets: Sequence[int], multiple: int = 1) -> torch.Tensor:
    """wav [N] -> [len(offsets), L]: row i is wav after offsets[i] samples of silence, all
    rows zero-padded to one length L >= N + max(offsets), a multiple of `multiple`."""
    n = wav.shape[-1]
    width = n + max(offsets)
    batch = torch.zeros(len(offsets), width + (-width) % multiple)
    for i, o in enumerate(offsets):
        batch[i, o: o + n] = wav
    return batch


def _check_offsets(offsets: Sequence[int], max_offset: int) -> None:
    if not offsets or any(not 0 <= o <= max_offset for o in offsets):
        raise CodecError(f"offsets must be given and lie in [0, {max_offset}], got {list(offsets)}")


CODECS = ("compact-16k", "encodec-24k")
DEFAULT_CODEC = "compact-16k"


def load_codec(name: str | None = None, checkpoint: str | os.PathLike | None = None,
               *, verifier: bool = False) -> Codec:
    """Load a codec backend by name (default: the embedded compact-16k).

    With `verifier`, encoding uses the verifier-side encoder shipped beside the
    checkpoint when there is one (compact-16k only); decoding never changes.
    """
    name = name or os.environ.get("VOXSEAL_CODEC") or DEFAULT_CODEC
    if name == "compact-16k":
        from synth.compact_codec import CompactCodec

        return CompactCodec.load(checkpoint, verifier_encoder=verifier or None)
    if name == "encodec-24k":
        from synth.encodec24 import Encodec24Codec

        return Encodec24Codec.load(checkpoint)
    raise CodecError(f"unknown codec {name!r}; choose one of: {', '.join(CODECS)}")


def load_specialist_codecs(names: Sequence[str], name: str | None = None,
                           checkpoint: str | os.PathLike | None = None) -> dict[str, Codec]:
    """The codec with each specialist verifier-side encoder of `names` shipped beside
    its checkpoint (`<stem>.<specialist>.pt`, verify/specialists.py), by specialist
    name; empty for encodec-24k or where none is shipped."""
    name = name or os.environ.get("VOXSEAL_CODEC") or DEFAULT_CODEC
    if name != "compact-16k":
        return {}
    from synth.compact_codec import CompactCodec, encoder_asset

    paths = {s: encoder_asset(s, checkpoint) for s in names}
    paths = {s: p for s, p in paths.items() if p.is_file()}
    if not paths:
        return {}
    base = CompactCodec.load(checkpoint)  # one model for all: only their encoders differ
    return {s: base.with_verifier_encoder(p) for s, p in paths.items()}
