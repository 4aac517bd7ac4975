"""Signers: every C2PA signature goes through a callback, so the key can live anywhere.

`CallbackSigner` pairs a certificate chain with a function `sign(data) -> signature`.
A KMS or HSM implements that function (ECDSA signatures may be DER, as most KMSs
return them, or raw r||s); the local default wraps a private key loaded from the home.
"""
from __future__ import annotations

from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from provenance._internal import pki
from provenance.errors import KeyFileError, SignerError


class CallbackSigner:
    """A certificate chain (leaf first) and the callback that signs with the leaf's key."""

    def __init__(
        self,
        sign: Callable[[bytes], bytes],
        certificate_chain_pem: str,
        *,
        alg: str | None = None,
        trust_anchor_pem: str | None = None,
    ) -> None:
        try:
            self.chain = pki.load_certs(certificate_chain_pem, "the signer certificate chain")
            self.alg = alg or pki.alg_for_key(self.chain[0].public_key())
        except ValueError as exc:
            raise SignerError(str(exc)) from None
        if self.alg not in {"ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "ED25519"}:
            raise SignerError(f"unsupported C2PA signing algorithm {self.alg!r}")
        self._sign = sign
        self.chain_pem = "".join(pki.pem(c) for c in self.chain)
        # The anchor the chain leads to, when it is not already in the home's bundle.
        self.trust_anchor_pem = trust_anchor_pem

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def signer_id(self) -> str:
        """First 16 hex characters of the SHA-256 of the leaf certificate (DER)."""
        return pki.signer_id(self.leaf)

    def sign(self, data: bytes) -> bytes:
        return self._sign(data)

    def problems(self) -> list[str]:
        """Reasons C2PA would refuse this leaf right now (empty when none are known)."""
        return pki.leaf_problems(self.leaf)

    @classmethod
    def from_private_key(
        cls, key: object, certificate_chain_pem: str, *, trust_anchor_pem: str | None = None
    ) -> CallbackSigner:
        """A signer over an in-process private key (the local, file-backed case)."""
        if isinstance(key, ec.EllipticCurvePrivateKey):
            digest = {256: hashes.SHA256, 384: hashes.SHA384, 521: hashes.SHA512}.get(
                key.curve.key_size
            )
            if digest is None:
                raise SignerError(f"unsupported EC curve {key.curve.name}")

            def sign(data: bytes) -> bytes:
                return key.sign(data, ec.ECDSA(digest()))
        elif isinstance(key, ed25519.Ed25519PrivateKey):

            def sign(data: bytes) -> bytes:
                return key.sign(data)
        elif isinstance(key, rsa.RSAPrivateKey):

            def sign(data: bytes) -> bytes:
                return key.sign(
                    data,
                    padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                    hashes.SHA256(),
                )
        else:
            raise SignerError(f"unsupported private key type {type(key).__name__}")
        signer = cls(sign, certificate_chain_pem, trust_anchor_pem=trust_anchor_pem)
        if not _same_public_key(key, signer.leaf):
            raise SignerError("the private key does not belong to the signer certificate")
        return signer

    def __repr__(self) -> str:
        return f"CallbackSigner(signer_id={self.signer_id!r}, alg={self.alg!r})"


def _same_public_key(key: object, cert: x509.Certificate) -> bool:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    fmt = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return key.public_key().public_bytes(*fmt) == cert.public_key().public_bytes(*fmt)  # type: ignore[attr-defined]


def load_private_key(data: bytes, what: str) -> PrivateKeyTypes:
    """Parse an unencrypted PEM private key; KeyFileError naming `what` otherwise."""
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyFileError(f"{what} is encrypted; VoxSeal reads unencrypted 0600 keys "
                           "(use a CallbackSigner for keys held elsewhere)") from None
    except (ValueError, UnicodeDecodeError):
        raise KeyFileError(f"{what} is not a readable PEM private key (corrupt?)") from None
