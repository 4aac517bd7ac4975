"""Everything that touches c2pa-python: format sniffing, building, signing, reading.

c2pa is imported lazily: registry and log commands never need it, and loading its
native library costs time on every CLI start.
"""
from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from provenance.errors import SignerError

MIME = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac"}
TRAINED_ALGORITHMIC_MEDIA = (
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
)
# JUMBF superbox type and the C2PA manifest-store UUID (ISO 19566-5, C2PA spec 11.1).
_JUMB = b"jumb"
_C2PA_STORE_UUID = bytes.fromhex("6332706100110010800000aa00389b71")


def _skip_id3(data: bytes) -> int:
    """Offset just past any leading ID3v2 tags (MP3 and C2PA-carrying FLAC start with one)."""
    pos = 0
    while data[pos : pos + 3] == b"ID3" and len(data) >= pos + 10:
        size = 0
        for b in data[pos + 6 : pos + 10]:
            size = (size << 7) | (b & 0x7F)
        footer = 10 if data[pos + 5] & 0x10 else 0
        pos += 10 + size + footer
    return pos


def _mpeg_sync(data: bytes, start: int, window: int = 4096) -> bool:
    """An MPEG audio frame header (11 sync bits) within `window` bytes of `start`."""
    end = min(len(data) - 1, start + window)
    i = data.find(b"\xff", start, end)
    while 0 <= i < end:
        if data[i + 1] & 0xE0 == 0xE0:
            return True
        i = data.find(b"\xff", i + 1, end)
    return False


def sniff_format(data: bytes) -> str | None:
    """"wav", "flac" or "mp3" from the bytes (extensions lie), else None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    pos = _skip_id3(data)
    if data[pos : pos + 4] == b"fLaC":
        return "flac"
    # Right at the start, or (after an ID3 tag, which may be padded) within a few KiB.
    if _mpeg_sync(data, pos, window=1 if pos == 0 else 4096):
        return "mp3"
    return None


def extract_store(data: bytes) -> bytes | None:
    """The embedded C2PA manifest store (a JUMBF superbox), found by its UUID; else None."""
    start = 0
    while True:
        i = data.find(_JUMB, start)
        if i < 4:
            if i < 0:
                return None
            start = i + 1
            continue
        size = int.from_bytes(data[i - 4 : i], "big")
        # The first child is the description box: size(4) "jumd" uuid(16) toggles(1) label
        desc = data[i + 4 : i + 4 + 8 + 16 + 6]
        if (
            desc[4:8] == b"jumd"
            and desc[8:24] == _C2PA_STORE_UUID
            and desc[25:30] == b"c2pa\x00"
            and 8 < size <= len(data) - (i - 4)
        ):
            return data[i - 4 : i - 4 + size]
        start = i + 1


def _c2pa():
    import c2pa  # noqa: PLC0415  (lazy: see module docstring)

    return c2pa


def build_definition(
    *,
    title: str,
    mime: str,
    generation: dict[str, Any],
    soft_binding: tuple[str, str] | None,
    software: tuple[str, str],
    when: str,
    generation_label: str,
) -> dict[str, Any]:
    actions: list[dict[str, Any]] = [
        {
            "action": "c2pa.created",
            "when": when,
            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
            "softwareAgent": {"name": software[0], "version": software[1]},
        }
    ]
    assertions: list[dict[str, Any]] = []
    if soft_binding is not None:
        # c2pa-rs refuses c2pa.watermarked without a soft binding, and a soft binding
        # without a watermark would be a lie: the two come and go together.
        actions.append({"action": "c2pa.watermarked", "when": when})
        assertions.append(
            {
                "label": "c2pa.soft-binding",
                "data": {
                    "alg": soft_binding[0],
                    "blocks": [{"scope": {}, "value": soft_binding[1]}],
                },
            }
        )
    assertions.insert(0, {"label": "c2pa.actions", "data": {"actions": actions}})
    assertions.append({"label": generation_label, "data": generation})
    return {
        "claim_generator_info": [{"name": software[0], "version": software[1]}],
        "title": title,
        "format": mime,
        "assertions": assertions,
    }


@dataclass(frozen=True)
class SignResult:
    asset: bytes  # the signed file (equal to the input when not embedding)
    store: bytes  # the manifest store (JUMBF) bytes, i.e. the sidecar .c2pa content


def sign(
    definition: dict[str, Any],
    mime: str,
    data: bytes,
    *,
    callback: Callable[[bytes], bytes],
    alg: str,
    chain_pem: str,
    embed: bool,
) -> SignResult:
    c2pa = _c2pa()
    failure: list[BaseException] = []

    def guarded(payload: bytes) -> bytes:
        # c2pa-python turns a callback exception into a logged error and a generic
        # signing failure. Keep the exception for our message, and answer with empty
        # bytes (which c2pa refuses quietly) so nothing extra lands on stderr.
        try:
            sig = callback(payload)
        except Exception as exc:
            failure.append(exc)
            return b""
        if not isinstance(sig, bytes | bytearray) or not sig:
            failure.append(TypeError("the signing callback must return non-empty bytes"))
            return b""
        return bytes(sig)

    try:
        signer = c2pa.Signer.from_callback(guarded, getattr(c2pa.C2paSigningAlg, alg), chain_pem)
        try:
            builder = c2pa.Builder(definition)
            if not embed:
                builder.set_no_embed()
            out = io.BytesIO()
            store = builder.sign(signer, mime, io.BytesIO(data), out)
        finally:
            signer.close()
    except c2pa.C2paError as exc:
        if failure:
            raise SignerError(f"the signing callback failed: {failure[0]}") from None
        raise SignerError(f"C2PA refused to sign: {_first_line(exc)}") from None
    return SignResult(out.getvalue() if embed else data, store)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return " ".join(t.strip() for t in text[:2]) if text else type(exc).__name__


@dataclass(frozen=True)
class ReadResult:
    found: bool
    state: str | None
    store: dict[str, Any] | None
    failures: tuple[str, ...]
    detail: str | None


def read(
    mime: str, data: bytes, *, anchors_pem: str | None, manifest_data: bytes | None = None
) -> ReadResult:
    """Validate. Never trusts the Reader to raise: the state is what decides."""
    c2pa = _c2pa()
    settings: dict[str, Any] = {"verify": {"verify_trust": True}}
    if anchors_pem:
        settings["trust"] = {"user_anchors": anchors_pem}
    try:
        ctx = c2pa.Context.from_dict(settings)
    except c2pa.C2paError as exc:
        raise ValueError(f"trust anchors rejected by c2pa: {_first_line(exc)}") from None
    try:
        try:
            reader = c2pa.Reader(mime, io.BytesIO(data), manifest_data, context=ctx)
        except c2pa.C2paError.ManifestNotFound:
            return ReadResult(False, None, None, (), None)
        except c2pa.C2paError as exc:
            # A store so damaged it cannot be parsed is tampering, not absence.
            return ReadResult(
                True, "Invalid", None, ("voxseal.manifest.unreadable",), _first_line(exc)
            )
        with reader:
            try:
                store = json.loads(reader.json())
            except (c2pa.C2paError, ValueError) as exc:
                return ReadResult(
                    True, "Invalid", None, ("voxseal.manifest.unreadable",), _first_line(exc)
                )
    finally:
        ctx.close()
    results = store.get("validation_results") or {}
    failures = [f.get("code", "?") for f in (results.get("activeManifest") or {}).get(
        "failure", []
    )]
    # The flat `validation_status` list holds failures only (ingredients' too): keep all.
    for st in store.get("validation_status") or []:
        code = st.get("code")
        if code and code not in failures:
            failures.append(code)
    return ReadResult(True, store.get("validation_state"), store, tuple(failures), None)
