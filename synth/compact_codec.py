"""Backend `compact-16k`: a small EnCodec-architecture codec trained by VoxSeal.

Built from the encodec package's own modules (SEANet encoder and decoder,
residual vector quantiser); 16 kHz, hop 320 (50 Hz), 8 codebooks of 1024. The
decoder may instead be `synth/istft_decoder.py`'s (config `decoder="istft"`),
trained later for the same tokens by `voxseal train decoder --architecture istft`.
Three fixes for the package's training traps on CPU live here:

- `StableCodebook` replaces dead codes *after* the EMA update (the package does
  it before, so the update overwrites the replacement) and scales the dead-code
  threshold to the batch (the package's fixed threshold of 2 assumes ~5000
  frames per batch; ours has ~400);
- `kmeans_init_` computes distances by one matmul instead of the package's
  [N, C, D] broadcast, which takes minutes on CPU;
- `data_dependent_init_` rescales every weight-normed convolution on a real
  batch so activations start at unit variance (with default init the encoder
  gets ~1e-4 of the decoder's gradient and barely learns).
"""
from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn

from synth._encodec_compat import import_encodec
from synth.cell_search import keep_cell, key_spacing
from synth.codec import Codec, CodecError, Reading, _check_offsets, shifted_copies
from synth.fileio import atomic_open, sha256_file
from synth.istft_decoder import ISTFTDecoder
from synth.lean_encoder import fold_layers
from synth.mel import bands_below
from synth.mel_encoder import MelAnalysisEncoder

_encodec = import_encodec()
from encodec.modules import SEANetDecoder, SEANetEncoder  # noqa: E402
from encodec.quantization import ResidualVectorQuantizer  # noqa: E402
from encodec.quantization.core_vq import EuclideanCodebook  # noqa: E402

ASSET = Path(__file__).parent / "assets" / "compact16k.pt"
CHECKPOINT_ENV = "VOXSEAL_CODEC_CHECKPOINT"


def default_checkpoint() -> Path:
    """The compact codec every command loads unless given another: $VOXSEAL_CODEC_CHECKPOINT
    (to run the whole product on a measured alternative, e.g. benchmarks/results/mel-codec/),
    else the embedded one."""
    return Path(os.environ.get(CHECKPOINT_ENV) or ASSET)


def encoder_asset(name: str, checkpoint: str | os.PathLike | None = None) -> Path:
    """Where the verifier-side encoder `name` ("verifier" or a specialist of
    verify/specialists.py) is shipped beside a checkpoint: `<stem>.<name>.pt`."""
    path = Path(checkpoint) if checkpoint else default_checkpoint()
    return path.with_name(f"{path.stem}.{name}.pt")


VERIFIER_ASSET = encoder_asset("verifier", ASSET)
_VERIFIER_FORMAT = "voxseal-verifier-encoder-1"


@dataclass(frozen=True)
class CompactConfig:
    sample_rate: int = 16_000
    ratios: tuple[int, ...] = (8, 5, 4, 2)
    n_filters: int = 16
    dimension: int = 64
    lstm: int = 1
    n_codebooks: int = 8
    codebook_size: int = 1024
    dead_code_fraction: float = 0.05
    decoder: str = "seanet"  # or "istft" (synth/istft_decoder.py)
    encoder: str = "seanet"  # or "mel" (synth/mel_encoder.py: dimension = mel bands)
    analysis_n_fft: int = 1024  # the mel encoder's window
    robust_cutoff_hz: float = 0.0  # > 0 (mel encoder): codebook 1 reads a robust view (KeyedCodebook)
    robust_floor: float = 1.0  # that view's magnitude floor
    silence_gate: float | None = None  # frames quieter than this (view loudness) all take code 0
    # Rendering codes: residual codes searched so each quantised frame wins codebook 1's
    # cell by this many times the median squared distance between neighbouring keys
    # (synth/cell_search.py); 0 renders the codes as given. Checkpoints saved before it
    # existed take this default: it changes no code the encoder gives, only what decoding speaks.
    cell_margin: float = 1.0

    @property
    def hop_length(self) -> int:
        h = 1
        for r in self.ratios:
            h *= r
        return h


def _sq_dist(x: torch.Tensor, embed: torch.Tensor) -> torch.Tensor:
    """Squared distances [N, C] between x [N, D] and embed [C, D] by one matmul."""
    return x.pow(2).sum(1, keepdim=True) - 2 * x @ embed.t() + embed.pow(2).sum(1)[None]


class StableCodebook(EuclideanCodebook):
    """EuclideanCodebook with dead-code replacement that survives the EMA update."""

    def __init__(self, dim: int, codebook_size: int, decay: float = 0.99,
                 dead_code_fraction: float = 0.05) -> None:
        super().__init__(dim, codebook_size, kmeans_init=False, decay=decay,
                         threshold_ema_dead_code=0)
        self.dead_code_fraction = dead_code_fraction

    def expire_codes_(self, batch_samples: torch.Tensor) -> None:
        return  # the parent calls this before its EMA update; we replace after it

    def forward(self, x: torch.Tensor):
        quantize, embed_ind = super().forward(x)
        if self.training and self.dead_code_fraction > 0:
            flat = x.reshape(-1, x.shape[-1]).detach()
            expected = flat.shape[0] / self.codebook_size  # mean EMA count of a live code
            dead = self.cluster_size < self.dead_code_fraction * expected
            n_dead = int(dead.sum())
            if n_dead:
                pick = flat[torch.randint(0, flat.shape[0], (n_dead,))]
                pick = pick + 1e-3 * pick.std() * torch.randn_like(pick)
                self.embed.data[dead] = pick
                self.cluster_size.data[dead] = expected
                self.embed_avg.data[dead] = pick * expected
        return quantize, embed_ind

    gate = None  # no silence code (KeyedCodebook may have one)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Frames [N, D] -> [N, C] minus squared distances to the codewords: what assigns a
        frame (the nearest), what soft readings rank and re-encoding losses train on."""
        return -_sq_dist(x, self.embed)

    # What synth/cell_search.py reads: a frame's code is its view's nearest key. Here the
    # view is the frame and the keys are the codewords; KeyedCodebook has its own.
    def view(self, x: torch.Tensor) -> torch.Tensor:
        return x

    @property
    def key_vectors(self) -> torch.Tensor:
        return self.embed

    @property
    def first_key(self) -> int:
        return 0

    @torch.no_grad()
    def kmeans_init_(self, data: torch.Tensor, iters: int = 10) -> None:
        """k-means on data [N, D] with matmul distances; sets codewords and EMA state."""
        n = data.shape[0]
        means = data[torch.randperm(n)[: self.codebook_size]].clone()
        if means.shape[0] < self.codebook_size:
            extra = data[torch.randint(0, n, (self.codebook_size - means.shape[0],))]
            means = torch.cat([means, extra + 1e-3 * torch.randn_like(extra)])
        counts = torch.zeros(self.codebook_size)
        for _ in range(iters):
            assign = _sq_dist(data, means).argmin(1)
            counts = torch.bincount(assign, minlength=self.codebook_size).float()
            sums = torch.zeros_like(means).index_add_(0, assign, data)
            live = counts > 0
            means[live] = sums[live] / counts[live, None]
        self.embed.data.copy_(means)
        # EMA counts are per training batch (~400 frames): start them at that scale.
        self.cluster_size.data.copy_(counts / n * 400)
        self.embed_avg.data.copy_(means * self.cluster_size[:, None])
        self.inited.data.fill_(1.0)


class KeyedCodebook(StableCodebook):
    """A first codebook that assigns each frame by a noise-robust view of it (mel codec only).

    Frames z are normalised log-mels (synth/mel_encoder.py). The view keeps the bands
    below a cutoff and floors their magnitude, log(exp(l) + floor): telephone-band
    resampling and MP3 leave those bands, and noise 30 dB under speech stays under the
    floor. Codes are the nearest of `keys` [C, Dk] in that view; `embed` [C, D] holds
    each cluster's mean frame, so the residual stages quantise what the view leaves out.
    Measured on corpus audio (encode(x) against encode(edit(x)), 24 held-out clips,
    `benchmarks/mel_view_sweep.py`): full band, no floor 0.38 / 0.02 / 0.20 agreement
    after MP3 32k / resampling via 8 kHz / noise 30 dB; bands up to 3.5 kHz with floor 1:
    0.86 / 1.00 / 0.73 (benchmarks/results/mel-codec/).

    With a `gate`, frames whose loudness in the view's bands (log of their summed
    magnitudes) lies under it all take code 0, the silence code, and keys 1.. are
    fitted to the other frames only. Quiet frames are where the nearest key is least
    certain (decode -> re-encode agreement 0.56-0.59 on the quietest fifth against
    0.93-0.95 on the loudest, with 98 of 1024 keys crowded near the floor):
    one code for them is a decision a round trip or mild noise rarely flips
    (`benchmarks/results/mel-codec/silence-gate.txt`).
    """

    SILENCE = 0  # the gated frames' code
    GATE_SCALE = 4.0  # silence logit per unit of loudness under the gate (soft readings, losses)

    def __init__(self, dim: int, codebook_size: int, band_mask: torch.Tensor, floor: float,
                 gate: float | None = None) -> None:
        super().__init__(dim, codebook_size, dead_code_fraction=0.0)
        n = int(band_mask.sum())
        self.floor = floor
        self.gate = gate
        self.register_buffer("band_mask", band_mask.clone())
        self.register_buffer("band_mean", torch.zeros(dim))  # the encoder's normalisation
        self.register_buffer("band_std", torch.ones(dim))
        self.register_buffer("view_mean", torch.zeros(n))
        self.register_buffer("view_std", torch.ones(n))
        self.register_buffer("keys", torch.zeros(codebook_size, n))

    def _log_mag(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.band_std + self.band_mean)[:, self.band_mask]

    def view(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised frames [N, D] -> their robust view [N, Dk] (differentiable)."""
        log_mag = self._log_mag(x)
        floored = torch.logaddexp(log_mag, torch.full_like(log_mag, math.log(self.floor)))
        return (floored - self.view_mean) / self.view_std

    def loudness(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised frames [N, D] -> [N] log of the summed magnitudes of the view's bands."""
        return torch.logsumexp(self._log_mag(x), -1)

    @property
    def key_vectors(self) -> torch.Tensor:
        return self.keys

    @property
    def first_key(self) -> int:
        """Codes below this are not keyed: the silence code, where there is a gate."""
        return 0 if self.gate is None else self.SILENCE + 1

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        keyed = -_sq_dist(self.view(x), self.keys[self.first_key:])
        if self.gate is None:
            return keyed
        # The silence logit beats the best key exactly when the frame is under the gate,
        # by a margin that grows with the distance to it (a smooth target for the decoder).
        silence = keyed.max(-1).values + self.GATE_SCALE * (self.gate - self.loudness(x))
        return torch.cat([silence[:, None], keyed], -1)

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x).argmax(-1)

    @torch.no_grad()
    def kmeans_init_(self, data: torch.Tensor, iters: int = 10) -> None:
        """k-means of the views of data [N, D]; codewords are the clusters' mean frames.
        Set band_mean / band_std (the encoder's) first."""
        self.view_mean.zero_()
        self.view_std.fill_(1.0)
        keyed = data if self.gate is None else data[self.loudness(data) >= self.gate]
        if keyed.shape[0] == 0:
            raise ValueError(f"every frame is under the silence gate {self.gate}: lower it")
        v = self.view(keyed)  # un-normalised: the statistics come from it
        self.view_mean.copy_(v.mean(0))
        self.view_std.copy_(v.std(0).clamp_min(1e-3))
        plain = StableCodebook(int(self.band_mask.sum()), self.codebook_size - self.first_key)
        plain.kmeans_init_((v - self.view_mean) / self.view_std, iters)
        self.keys.zero_()  # a gated codebook's key 0 is never read (its logit is the gate's)
        self.keys[self.first_key:].copy_(plain.embed)
        assign = self.quantize(data)
        counts = torch.bincount(assign, minlength=self.codebook_size).float()
        sums = torch.zeros(self.codebook_size, data.shape[1]).index_add_(0, assign, data)
        self.embed.data.copy_(sums / counts.clamp_min(1)[:, None])
        self.cluster_size.data.copy_(counts / data.shape[0] * 400)
        self.embed_avg.data.copy_(self.embed * self.cluster_size[:, None])
        self.inited.data.fill_(1.0)


class CompactCodecModel(nn.Module):
    """SEANet encoder -> residual VQ -> SEANet decoder.

    forward(wav [B, 1, N]) -> (reconstruction [B, 1, N], codes [K, B, T],
    commitment penalty, pre-quantisation latents [B, D, T]).
    """

    def __init__(self, config: CompactConfig = CompactConfig()) -> None:
        super().__init__()
        self.config = config
        self._spacing: tuple[tuple, float] | None = None  # codebook 1's key spacing, for cell_margin()
        self.encoder = self.make_encoder()
        if config.decoder == "istft":
            self.decoder: nn.Module = ISTFTDecoder(config.dimension, config.hop_length)
        elif config.decoder == "seanet":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                self.decoder = SEANetDecoder(**self._seanet_kwargs())
        else:
            raise ValueError(f"unknown decoder {config.decoder!r}: use 'seanet' or 'istft'")
        self.quantizer = ResidualVectorQuantizer(
            dimension=config.dimension, n_q=config.n_codebooks, bins=config.codebook_size,
            kmeans_init=False, threshold_ema_dead_code=0)
        for layer in self.quantizer.vq.layers:
            layer._codebook = StableCodebook(config.dimension, config.codebook_size,
                                             dead_code_fraction=config.dead_code_fraction)
        if config.robust_cutoff_hz:
            if config.encoder != "mel":
                raise ValueError("robust_cutoff_hz needs the mel encoder (its frames are log-mel bands)")
            mask = bands_below(config.sample_rate, config.dimension, config.robust_cutoff_hz)
            self.quantizer.vq.layers[0]._codebook = KeyedCodebook(
                config.dimension, config.codebook_size, mask, config.robust_floor, config.silence_gate)
        elif config.silence_gate is not None:
            raise ValueError("silence_gate needs the robust view (robust_cutoff_hz > 0)")
        if config.cell_margin < 0:
            raise ValueError(f"cell_margin must be 0 (render the codes as given) or above, "
                             f"got {config.cell_margin}")

    def _seanet_kwargs(self) -> dict:
        c = self.config
        return dict(channels=1, dimension=c.dimension, n_filters=c.n_filters, ratios=list(c.ratios),
                    lstm=c.lstm)

    def make_encoder(self, copy_weights: bool = False) -> nn.Module:
        """A new encoder of this config (a copy of ours with `copy_weights`).

        Weight-normed modules cannot be deep-copied, hence a rebuild + state-dict load.
        """
        c = self.config
        if c.encoder == "mel":
            encoder: nn.Module = MelAnalysisEncoder(c.dimension, c.hop_length, c.analysis_n_fft,
                                                    c.sample_rate)
        elif c.encoder != "seanet":
            raise ValueError(f"unknown encoder {c.encoder!r}: use 'seanet' or 'mel'")
        else:
            encoder = self._seanet_encoder()
        if copy_weights:
            encoder.load_state_dict(self.encoder.state_dict())
        return encoder

    def _seanet_encoder(self) -> nn.Module:
        with warnings.catch_warnings():
            # encodec builds its convs with torch.nn.utils.weight_norm (deprecated, still correct)
            warnings.simplefilter("ignore", FutureWarning)
            return SEANetEncoder(**self._seanet_kwargs())

    def with_decoder(self, decoder: str) -> CompactCodecModel:
        """A model with this one's encoder and codebooks and a fresh `decoder`."""
        model = CompactCodecModel(replace(self.config, decoder=decoder))
        model.encoder.load_state_dict(self.encoder.state_dict())
        model.quantizer.load_state_dict(self.quantizer.state_dict())
        return model

    @property
    def codebooks(self) -> list[StableCodebook]:
        return [layer._codebook for layer in self.quantizer.vq.layers]

    def forward(self, wav: torch.Tensor):
        z = self.encoder(wav)
        q = self.quantizer(z, self.config.sample_rate)
        return self.decoder(q.quantized), q.codes, q.penalty, z

    def encode_codes(self, wav: torch.Tensor, encoder: nn.Module | None = None) -> torch.Tensor:
        """wav [B, 1, N] -> codes [B, K, T] (with `encoder` in place of the model's own)."""
        z = (encoder or self.encoder)(wav)
        return self.quantizer.encode(z, self.config.sample_rate).transpose(0, 1)

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [B, K, T] (K may be fewer than n_codebooks) -> wav [B, 1, N], rendered with
        the residual codes `keep_cells` gives (codebook 1 as given)."""
        return self.decoder(self.quantizer.decode(self.keep_cells(codes.transpose(0, 1))))

    def keep_cells(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes [K, B, T] with the residual stages re-searched where the quantised frame wins
        codebook 1's cell by less than `cell_margin` (synth/cell_search.py), so that what is
        spoken is read back as the codebook-1 code it was given; the search stays near the
        codes' own quantised frames."""
        margin = self.cell_margin()
        k, b, t = codes.shape
        if not margin or k == 1:
            return codes
        return keep_cell(self.codebooks[:k], codes.reshape(k, b * t), margin).reshape(k, b, t)

    def cell_margin(self) -> float:
        """`config.cell_margin` in codebook 1's logit units: times the median squared
        distance between a key and its nearest other key (computed once per set of keys)."""
        if not self.config.cell_margin:
            return 0.0
        keys = self.codebooks[0].key_vectors
        ident = (keys.data_ptr(), keys._version)
        if self._spacing is None or self._spacing[0] != ident:
            self._spacing = (ident, key_spacing(self.codebooks[0]))
        return self.config.cell_margin * self._spacing[1]

    @torch.no_grad()
    def data_dependent_init_(self, wav: torch.Tensor, out_std: float = 0.1) -> None:
        """Rescale each weight-normed conv so its output has unit std on `wav` [B, 1, N]."""
        convs = [m for m in self.modules()
                 if isinstance(m, nn.Conv1d | nn.ConvTranspose1d) and hasattr(m, "weight_g")]
        last = convs[-1]  # the decoder's output layer: waveform scale, not unit

        def hook(module, _inp, out):
            target = out_std if module is last else 1.0
            std = out.std().clamp_min(1e-6)
            scale = target / std
            module.weight_g.mul_(scale)
            if module.bias is not None:
                module.bias.mul_(scale)
            return out * scale

        handles = [m.register_forward_hook(hook) for m in convs]
        try:
            z = self.encoder(wav)
            self.decoder(z)
        finally:
            for h in handles:
                h.remove()

    @torch.no_grad()
    def init_codebooks_(self, latents: torch.Tensor) -> None:
        """k-means init of each RVQ stage on latents [N, D], on the running residual."""
        residual = latents.clone()
        for cb in self.codebooks:
            if isinstance(cb, KeyedCodebook):
                cb.band_mean.copy_(self.encoder.mean)
                cb.band_std.copy_(self.encoder.std)
            cb.kmeans_init_(residual)
            residual = residual - cb.embed[cb.quantize(residual)]


_EMA_STATE = ("._codebook.embed_avg", "._codebook.cluster_size")


def save_checkpoint(path: str | os.PathLike, model: CompactCodecModel, *, half: bool = False,
                    extra: dict | None = None, token_space: str | None = None) -> None:
    """Atomically save config + weights (fp16 for shipping when `half`).

    A shipped (`half`) file leaves out the codebooks' EMA statistics, which only
    codec training reads (it resumes from its own state file): 1 MB of the 8 MB
    budget. The token-space hash, taken before they are dropped, is stored with it;
    a decoder-only tune passes its base's (`token_space`), since the statistics it
    loaded were restarted, not trained.
    """
    state = {k: (v.half() if half and v.is_floating_point() else v)
             for k, v in model.state_dict().items()}
    token_space = token_space or token_space_sha256(state)
    if half:
        state = {k: v for k, v in state.items() if not k.endswith(_EMA_STATE)}
    blob = {"format": "voxseal-compact-codec-1", "config": asdict(model.config),
            "state_dict": state, "token_space": token_space, **(extra or {})}
    with atomic_open(path, "wb") as fh:
        torch.save(blob, fh)


def blob_token_space(blob: dict) -> str:
    """The token-space hash of a loaded checkpoint blob (stored, or computed for old files)."""
    return blob.get("token_space") or token_space_sha256(blob["state_dict"])


def token_space_sha256(state_dict: dict) -> str:
    """sha256 over the encoder and quantiser tensors as stored (fp16 in shipped files).

    A decoder-only tune (synth/decoder_train.py) keeps it: the codes mean the same.
    """
    import hashlib

    h = hashlib.sha256()
    for k in sorted(state_dict):
        if k.startswith(("encoder.", "quantizer.")):
            v = state_dict[k]
            h.update(k.encode() + str(v.dtype).encode() + str(tuple(v.shape)).encode())
            h.update(v.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes()
                     if v.numel() else b"")
    return h.hexdigest()


def load_model(path: str | os.PathLike) -> tuple[CompactCodecModel, dict]:
    path = Path(path)
    if not path.is_file():
        raise CodecError(f"codec checkpoint not found: {path}; train one with "
                         f"`voxseal train codec` or reinstall VoxSeal")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob.get("format") != "voxseal-compact-codec-1":
            raise ValueError("not a VoxSeal compact codec checkpoint")
        cfg = dict(blob["config"])
        cfg["ratios"] = tuple(cfg["ratios"])
        model = CompactCodecModel(CompactConfig(**cfg))
        state = {k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()}
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or any(not k.endswith(_EMA_STATE) for k in missing):
            raise ValueError(f"weights do not match the config ({len(missing)} missing, "
                             f"{len(unexpected)} unexpected)")
        if missing:  # a shipped file has no EMA statistics: restart them from the codewords
            with torch.no_grad():
                for cb in model.codebooks:
                    cb.embed_avg.copy_(cb.embed)
                    cb.cluster_size.fill_(1.0)
    except CodecError:
        raise
    except Exception as exc:
        raise CodecError(f"cannot load codec checkpoint {path}: {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    return model.eval(), blob


def save_verifier_encoder(path: str | os.PathLike, encoder: nn.Module, config: CompactConfig,
                          codec_sha256: str, extra: dict | None = None) -> None:
    """Atomically save a verifier-side encoder (fp16) bound to the codec it was tuned for."""
    state = {k: v.half() if v.is_floating_point() else v for k, v in encoder.state_dict().items()}
    blob = {"format": _VERIFIER_FORMAT, "config": asdict(config), "codec_sha256": codec_sha256,
            "state_dict": state, **(extra or {})}
    with atomic_open(path, "wb") as fh:
        torch.save(blob, fh)


def load_verifier_encoder(path: str | os.PathLike, model: CompactCodecModel,
                          codec_sha256: str | None) -> nn.Module:
    """A copy of `model`'s encoder with the verifier weights of `path`."""
    path = Path(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob.get("format") != _VERIFIER_FORMAT:
            raise ValueError("not a VoxSeal verifier encoder")
    except FileNotFoundError:
        raise CodecError(f"verifier encoder not found: {path}") from None
    except Exception as exc:
        raise CodecError(f"cannot load verifier encoder {path}: {type(exc).__name__}") from None
    if codec_sha256 and blob.get("codec_sha256") != codec_sha256:
        raise CodecError(f"verifier encoder {path} was tuned for another codec checkpoint; "
                         f"retrain it with `voxseal train verifier`")
    encoder = model.make_encoder()
    encoder.load_state_dict({k: v.float() if v.is_floating_point() else v
                             for k, v in blob["state_dict"].items()})
    return encoder.eval()


class CompactCodec(Codec):
    """The compact codec; with `encoder` given, encoding uses it instead of the model's own
    (the verifier-side encoder: tuned for re-encoding consistency, decoder untouched)."""

    name = "compact-16k"

    def __init__(self, model: CompactCodecModel, checkpoint_sha256: str | None = None,
                 encoder: nn.Module | None = None) -> None:
        self.model = model.eval()
        self.encoder = encoder
        c = model.config
        self.sample_rate = c.sample_rate
        self.frame_rate = c.sample_rate / c.hop_length
        self.n_codebooks = c.n_codebooks
        self.codebook_size = c.codebook_size
        self.checkpoint_sha256 = checkpoint_sha256
        self._folded: tuple[tuple, tuple] | None = None  # (weights' identity, (front, back))

    @classmethod
    def load(cls, checkpoint: str | os.PathLike | None = None,
             verifier_encoder: str | os.PathLike | bool | None = None) -> CompactCodec:
        """Load the codec; `verifier_encoder=True` uses the one shipped beside the
        checkpoint (`<stem>.verifier.pt`) when present, a path uses that file, None/False
        the codec's own encoder."""
        path = Path(checkpoint) if checkpoint else default_checkpoint()
        model, blob = load_model(path)
        sha = sha256_file(path)
        encoder = None
        if verifier_encoder is True:
            candidate = encoder_asset("verifier", path)
            if candidate.is_file():
                encoder = load_verifier_encoder(candidate, model, sha)
        elif verifier_encoder:
            encoder = load_verifier_encoder(verifier_encoder, model, sha)
        codec = cls(model, sha, encoder)
        codec._token_space = blob_token_space(blob)
        return codec

    def with_verifier_encoder(self, path: str | os.PathLike) -> CompactCodec:
        """This codec (same model and decoder, not a copy) encoding with the verifier-side
        encoder in `path`, which must have been tuned for this checkpoint."""
        codec = CompactCodec(self.model, self.checkpoint_sha256,
                             load_verifier_encoder(path, self.model, self.checkpoint_sha256))
        codec._token_space = self._token_space
        return codec

    def _encode(self, wav: torch.Tensor) -> torch.Tensor:
        hop = self.hop_length
        pad = (-wav.shape[-1]) % hop
        if pad:
            wav = torch.nn.functional.pad(wav, (0, pad))
        return self.model.encode_codes(wav[:, None, :], self.encoder)

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.model.decode_codes(codes)[:, 0, :]

    def offset_encoder(self, wav: torch.Tensor, max_offset: int, n_codebooks: int
                       ) -> Callable[[Sequence[int]], list[torch.Tensor]]:
        """Codec.offset_encoder sharing the encoder's full-rate layers between offsets.

        Everything before the encoder's last downsampling layer is a convolution stack
        with stride `step` (hop / last ratio = 40 samples): prepending o samples of
        silence, o a multiple of `step`, shifts its output by o / step frames. So the
        clip is analysed once with `max_offset` samples of silence in front, and each
        offset drops the frames it does not have and runs only the last, 1/8-rate
        layers (~4 % of the encoder's time) and the quantiser. Offsets that are not
        multiples of `step` fall back to a full encode.
        """
        read = self.offset_reader(wav, max_offset, n_codebooks, top=0)
        return lambda offsets: [r.codes for r in read(offsets)]

    def offset_reader(self, wav: torch.Tensor, max_offset: int, n_codebooks: int, top: int = 32
                      ) -> Callable[[Sequence[int]], list[Reading]]:
        """Codec.offset_reader on `offset_encoder`'s shared analysis. With one codebook
        (what the verifier reads), the codes come from the same distances as the top
        codewords: the quantiser's nearest codeword, computed once."""
        enc = self.encoder if self.encoder is not None else self.model.encoder
        if not isinstance(enc, SEANetEncoder):  # nothing to share: an STFT per offset is cheap
            return self._plain_reader(enc, wav, max_offset, n_codebooks, top)
        layers = enc.model
        split = max(i for i, m in enumerate(layers)
                    if hasattr(m, "conv") and hasattr(m.conv, "conv") and m.conv.conv.stride[0] > 1)
        step = self.hop_length // layers[split].conv.conv.stride[0]
        if max_offset % step:
            return super().offset_reader(wav, max_offset, n_codebooks, top)
        wav = torch.as_tensor(wav, dtype=torch.float32).reshape(-1)
        n, hop = wav.shape[0], self.hop_length
        width = max_offset + n + (-(max_offset + n)) % hop  # every offset's window, whole frames
        features: list[torch.Tensor] = []
        fallback = super().offset_reader(wav, max_offset, n_codebooks, top)
        front, back = self._fold(enc, split)

        @torch.inference_mode()
        def read(offsets: Sequence[int]) -> list[Reading]:
            _check_offsets(offsets, max_offset)
            if any(o % step for o in offsets):
                return fallback(offsets)
            if not features:
                # silence on both sides, so that the window of every offset fits
                x = torch.nn.functional.pad(wav, (max_offset, width - n))
                features.append(front(x[None, None]))
            h = features[0]
            # one batched pass of the last layers over all offsets: the LSTM steps through
            # time, so a batch of rows costs little more than one
            batch = torch.cat([h[..., (max_offset - o) // step:][..., : width // step] for o in offsets])
            z = back(batch)  # [B, D, T']
            return self._readings(z, [math.ceil((n + o) / hop) for o in offsets], n_codebooks, top)

        return read

    def _plain_reader(self, enc: nn.Module, wav: torch.Tensor, max_offset: int, n_codebooks: int,
                      top: int) -> Callable[[Sequence[int]], list[Reading]]:
        """offset_reader for an encoder with nothing to share between offsets (the mel
        analysis): one batched encode of the shifted copies, read as the SEANet path reads."""
        wav = torch.as_tensor(wav, dtype=torch.float32).reshape(-1)
        n, hop = wav.shape[0], self.hop_length

        @torch.inference_mode()
        def read(offsets: Sequence[int]) -> list[Reading]:
            _check_offsets(offsets, max_offset)
            z = enc(shifted_copies(wav, offsets, hop)[:, None])
            return self._readings(z, [math.ceil((n + o) / hop) for o in offsets], n_codebooks, top)

        return read

    def _readings(self, z: torch.Tensor, lengths: list[int], n_codebooks: int, top: int) -> list[Reading]:
        """Latents z [B, D, T'] of B offsets -> their Readings, each cut to its length. With one
        codebook the codes come from the same distances as the top codewords."""
        if top <= 0:
            codes = self.model.quantizer.vq.encode(z, n_q=n_codebooks)  # [K', B, T']
            return [Reading(codes[:, i, : t]) for i, t in enumerate(lengths)]
        b, d, frames = z.shape
        logits = self.model.codebooks[0].logits(z.transpose(1, 2).reshape(-1, d)).reshape(b, frames, -1)
        top_logits, top_tokens = logits.topk(top, dim=-1)  # [B, T', top], sorted
        if n_codebooks == 1:
            codes = top_tokens[..., 0][None]
        else:
            codes = self.model.quantizer.vq.encode(z, n_q=n_codebooks)
        return [Reading(codes[:, i, : t], top_tokens[i, : t], top_logits[i, : t])
                for i, t in enumerate(lengths)]

    def _fold(self, enc: nn.Module, split: int):
        """The encoder's layers before and after `split`, folded (synth/lean_encoder.py)
        once per set of weights: folding copies them, ~5 ms, and the verifier asks for an
        offset encoder several times per clip. In-place updates (an optimiser step) bump
        the parameters' versions, so weights trained further are folded again."""
        ident = (id(enc), split, tuple((p.data_ptr(), p._version) for p in enc.parameters()))
        if self._folded is None or self._folded[0] != ident:
            layers = enc.model
            self._folded = (ident, (fold_layers(layers[:split]), fold_layers(layers[split:])))
        return self._folded[1]

    def info(self) -> dict:
        return {**super().info(), "checkpoint_sha256": self.checkpoint_sha256,
                "token_space": self.token_space, "cell_margin": self.model.config.cell_margin,
                "verifier_encoder": self.encoder is not None}
