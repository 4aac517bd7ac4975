"""Value types of the provenance API: what goes into a manifest and what comes back."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import rfc8785

from provenance.errors import InvalidInputError

SOFT_BINDING_ALG = "org.voxseal.watermark.v1"
GENERATION_LABEL = "org.voxseal.generation"
GENERATION_SCHEMA = "org.voxseal.generation/1"
PAYLOAD_BITS = 32

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX16 = re.compile(r"[0-9a-f]{16}")


def utc_now() -> str:
    """Current time as UTC ISO 8601 with a Z suffix (the form every record uses)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def text_sha256(text: str) -> str:
    """SHA-256 of the UTF-8 bytes of `text`, exactly as given (no normalisation)."""
    return sha256_hex(text.encode("utf-8"))


def payload_hex(payload: int) -> str:
    """The soft-binding value of a payload: 8 lowercase hex characters."""
    check_payload(payload)
    return f"{payload:08x}"


def check_payload(payload: object) -> int:
    if isinstance(payload, bool) or not isinstance(payload, int):
        raise InvalidInputError(f"a watermark payload is an int, not {type(payload).__name__}")
    if not 0 <= payload < 1 << PAYLOAD_BITS:
        raise InvalidInputError(f"watermark payload {payload} does not fit in {PAYLOAD_BITS} bits")
    return payload


def check_sha256(value: object, what: str) -> str:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise InvalidInputError(f"{what} must be 64 lowercase hex characters (a SHA-256)")
    return value


def _check_text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{what} must be a non-empty string")
    return value


def _check_utc(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInputError("created must be an ISO 8601 UTC timestamp string")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(f"created is not ISO 8601: {value!r}") from None
    if parsed.utcoffset() != dt.timedelta(0):
        raise InvalidInputError(f"created must be in UTC: {value!r}")
    return value


@dataclass(frozen=True, kw_only=True)
class GenerationInfo:
    """Everything a manifest records about one generation. Never holds a secret.

    `text` is included in the manifest only when set (opt-in); `text_sha256` always is.
    `watermarked=False` marks evaluation output made with `--no-watermark`: the manifest
    says so explicitly and carries no soft binding (there is no watermark to bind to).
    """

    model_name: str
    model_version: str
    checkpoint_sha256: str
    codec_id: str
    watermark_scheme: str
    watermark_params: Mapping[str, Any] = field(default_factory=dict)
    key_id: str | None
    text_sha256: str
    voice_prompt_sha256: str | None = None
    consent_reference: str | None = None
    seed: int | None = None
    created: str = field(default_factory=utc_now)
    watermarked: bool = True
    payload: int | None = None
    text: str | None = None

    def validate(self) -> None:
        """Raise InvalidInputError naming the first field that is wrong."""
        for name in ("model_name", "model_version", "codec_id", "watermark_scheme"):
            _check_text(getattr(self, name), name)
        check_sha256(self.checkpoint_sha256, "checkpoint_sha256")
        check_sha256(self.text_sha256, "text_sha256")
        if not isinstance(self.watermark_params, Mapping):
            raise InvalidInputError("watermark_params must be a mapping")
        try:
            # Large ints would be silently rounded by JSON readers; rfc8785 refuses them.
            rfc8785.dumps(dict(self.watermark_params))
        except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"watermark_params is not canonical JSON: {exc}") from None
        if not isinstance(self.watermarked, bool):
            raise InvalidInputError("watermarked must be True or False")
        if self.watermarked:
            if self.payload is None:
                raise InvalidInputError("a watermarked generation needs its payload")
            check_payload(self.payload)
            if self.key_id is None or not _HEX16.fullmatch(str(self.key_id)):
                raise InvalidInputError("key_id must be the 16-hex-character watermark key id")
        else:
            if self.payload is not None:
                raise InvalidInputError("an unwatermarked generation carries no payload")
            if self.key_id is not None and not _HEX16.fullmatch(str(self.key_id)):
                raise InvalidInputError("key_id must be the 16-hex-character watermark key id")
        if self.voice_prompt_sha256 is not None:
            check_sha256(self.voice_prompt_sha256, "voice_prompt_sha256")
            if not self.consent_reference:
                raise InvalidInputError("a voice prompt needs a consent reference")
        if self.consent_reference is not None:
            _check_text(self.consent_reference, "consent_reference")
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0
        ):
            raise InvalidInputError("seed must be a non-negative int")
        _check_utc(self.created)
        if self.text is not None:
            if not isinstance(self.text, str):
                raise InvalidInputError("text must be a string")
            if text_sha256(self.text) != self.text_sha256:
                raise InvalidInputError("text_sha256 is not the SHA-256 of text")

    def to_assertion(self) -> dict[str, Any]:
        """The `org.voxseal.generation` assertion body (flat, same names as the fields)."""
        body: dict[str, Any] = {
            "schema": GENERATION_SCHEMA,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "checkpoint_sha256": self.checkpoint_sha256,
            "codec_id": self.codec_id,
            "watermarked": self.watermarked,
            "watermark_scheme": self.watermark_scheme,
            "watermark_params": dict(self.watermark_params),
            "key_id": self.key_id,
            "payload": self.payload,
            "text_sha256": self.text_sha256,
            "voice_prompt_sha256": self.voice_prompt_sha256,
            "consent_reference": self.consent_reference,
            # Seeds are often 64-bit: a string keeps them exact in every JSON reader.
            "seed": None if self.seed is None else str(self.seed),
            "created": self.created,
        }
        if self.text is not None:
            body["text"] = self.text
        return body

    @classmethod
    def from_assertion(cls, body: Mapping[str, Any]) -> GenerationInfo:
        try:
            seed = body.get("seed")
            return cls(
                model_name=body["model_name"],
                model_version=body["model_version"],
                checkpoint_sha256=body["checkpoint_sha256"],
                codec_id=body["codec_id"],
                watermark_scheme=body["watermark_scheme"],
                watermark_params=dict(body.get("watermark_params") or {}),
                key_id=body.get("key_id"),
                text_sha256=body["text_sha256"],
                voice_prompt_sha256=body.get("voice_prompt_sha256"),
                consent_reference=body.get("consent_reference"),
                seed=None if seed is None else int(seed),
                created=body["created"],
                watermarked=bool(body["watermarked"]),
                payload=body.get("payload"),
                text=body.get("text"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"not a VoxSeal generation assertion: {exc}") from None


class SoftBinding(NamedTuple):
    alg: str
    value: str


@dataclass(frozen=True)
class PublishedRecord:
    """What `publish` did: where the manifest went and where the registry/log hold it."""

    manifest_id: str
    payload: int | None
    file_sha256: str
    pcm_sha256: str
    log_index: int
    tree_size: int
    signer_id: str
    path: str
    sidecar_path: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ManifestReport:
    """The outcome of validating a file's C2PA manifest. Only `trusted` is success.

    `state` is c2pa's validation state: "Trusted" (intact and chained to a given trust
    anchor), "Valid" (intact, but the signer is not trusted), "Invalid" (something was
    altered: see `errors`), or None when no manifest was found.
    """

    path: str
    found: bool
    state: str | None
    manifest_id: str | None = None
    soft_binding: SoftBinding | None = None
    generation: dict[str, Any] | None = None
    errors: tuple[str, ...] = ()
    source: str | None = None
    signer: dict[str, Any] | None = None
    anchors_given: bool = False
    policy_errors: tuple[str, ...] = ()
    detail: str | None = None
    store: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def trusted(self) -> bool:
        return (
            self.found and self.state == "Trusted" and not self.errors and not self.policy_errors
        )

    @property
    def payload(self) -> int | None:
        if self.soft_binding is None or self.soft_binding.alg != SOFT_BINDING_ALG:
            return None
        try:
            return int(self.soft_binding.value, 16)
        except ValueError:
            return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "found": self.found,
            "state": self.state,
            "trusted": self.trusted,
            "manifest_id": self.manifest_id,
            "source": self.source,
            "soft_binding": None if self.soft_binding is None else self.soft_binding._asdict(),
            "generation": self.generation,
            "signer": self.signer,
            "errors": list(self.errors),
            "policy_errors": list(self.policy_errors),
            "anchors_given": self.anchors_given,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class RegistryRecord:
    """One registry row: a manifest and the keys it can be found by."""

    manifest_id: str
    payload: int | None
    file_sha256: str
    pcm_sha256: str
    format: str
    signer_id: str
    created: str
    log_index: int
    generation: dict[str, Any]
    manifest_store: bytes = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        del d["manifest_store"]
        d["manifest_store_sha256"] = sha256_hex(self.manifest_store)
        d["soft_binding"] = (
            None if self.payload is None
            else {"alg": SOFT_BINDING_ALG, "value": payload_hex(self.payload)}
        )
        return d


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head: the C2SP checkpoint body plus the signed note carrying it."""

    origin: str
    size: int
    root: bytes
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "size": self.size,
            "root": self.root.hex(),
            "root_b64": base64.b64encode(self.root).decode(),
            "note": self.note,
        }


@dataclass(frozen=True)
class LogEntry:
    index: int
    data: bytes
    record: dict[str, Any]
    leaf_hash: bytes

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "leaf_hash": self.leaf_hash.hex(), "record": self.record}


@dataclass(frozen=True)
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: bytes
    hashes: tuple[bytes, ...]
    root: bytes

    def verify(self) -> bool:
        from provenance._internal import merkle

        return merkle.verify_inclusion(
            self.leaf_hash, self.index, self.tree_size, self.hashes, self.root
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "tree_size": self.tree_size,
            "leaf_hash": self.leaf_hash.hex(),
            "hashes": [h.hex() for h in self.hashes],
            "root": self.root.hex(),
        }


@dataclass(frozen=True)
class ConsistencyProof:
    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    hashes: tuple[bytes, ...]

    def verify(self) -> bool:
        from provenance._internal import merkle

        return merkle.verify_consistency(
            self.old_size, self.new_size, self.old_root, self.new_root, self.hashes
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "old_size": self.old_size,
            "new_size": self.new_size,
            "old_root": self.old_root.hex(),
            "new_root": self.new_root.hex(),
            "hashes": [h.hex() for h in self.hashes],
        }


@dataclass(frozen=True)
class LogVerification:
    """A successful `TransparencyLog.verify`: what was checked."""

    size: int
    root: bytes
    entries_checked: int
    manifests_checked: int
    checkpoints_checked: int
    consistent_with: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["root"] = self.root.hex()
        return d


@dataclass(frozen=True)
class KeyInfo:
    """One key of the home as `keys list` shows it (never the key material)."""

    kind: str
    key_id: str
    status: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "key_id": self.key_id, "status": self.status, **self.detail}
