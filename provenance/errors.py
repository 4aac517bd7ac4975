"""Typed errors of the provenance package (part of its API).

Every error carries an integer `exit_code`: the `voxseal` CLI prints the message as one
line and exits with that code, so each failure kind is distinguishable by scripts.
The codes are stable; `voxseal manifest verify --help` documents them.
"""
from __future__ import annotations


class ProvenanceError(Exception):
    """Base class of every error the provenance package raises on bad input or state."""

    exit_code: int = 1


class HomeNotFoundError(ProvenanceError):
    """The VoxSeal home does not exist (run `voxseal init`)."""

    exit_code = 10


class HomeIncompleteError(ProvenanceError):
    """The home exists but parts are missing; refusing to paper over lost keys or records."""

    exit_code = 11


class KeyFileError(ProvenanceError):
    """A key or certificate file is missing, unreadable or corrupt."""

    exit_code = 12


class SignerError(ProvenanceError):
    """No usable signer: none active, retired, expired, refused by C2PA, or the callback failed."""

    exit_code = 13


class DatabaseError(ProvenanceError):
    """The registry database is missing, corrupt, of another schema, or stayed busy."""

    exit_code = 14


class LogIntegrityError(ProvenanceError):
    """The transparency log failed verification (altered/deleted record, bad proof or note)."""

    exit_code = 15


class NotFoundError(ProvenanceError):
    """No registry record or log entry with that identifier."""

    exit_code = 16


class PayloadConflictError(ProvenanceError):
    """The watermark payload is already bound to another manifest (or none could be allocated)."""

    exit_code = 17


class InvalidInputError(ProvenanceError):
    """An argument is malformed (a hash that is not hex, a payload out of range, ...)."""

    exit_code = 18


class AudioFileError(ProvenanceError):
    """The audio file is missing, unreadable, or not WAV/MP3/FLAC."""

    exit_code = 19


class NoManifestError(ProvenanceError):
    """The file carries no C2PA manifest (embedded or sidecar)."""

    exit_code = 20


class ManifestInvalidError(ProvenanceError):
    """The manifest is present but failed validation (tampered audio, assertion or signature)."""

    exit_code = 21


class ManifestUntrustedError(ProvenanceError):
    """The manifest is intact but its signer does not chain to the trust anchors given."""

    exit_code = 22


class TrustAnchorError(ProvenanceError):
    """No trust anchors were given, or the PEM could not be read as certificates."""

    exit_code = 23


class PolicyError(ProvenanceError):
    """A trusted manifest did not satisfy the verification policy."""

    exit_code = 24


class ExportError(ProvenanceError):
    """The manifest could not be exported in the requested form."""

    exit_code = 25


__all__ = [
    "AudioFileError",
    "DatabaseError",
    "ExportError",
    "HomeIncompleteError",
    "HomeNotFoundError",
    "InvalidInputError",
    "KeyFileError",
    "LogIntegrityError",
    "ManifestInvalidError",
    "ManifestUntrustedError",
    "NoManifestError",
    "NotFoundError",
    "PayloadConflictError",
    "PolicyError",
    "ProvenanceError",
    "SignerError",
    "TrustAnchorError",
]
