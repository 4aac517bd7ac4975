"""Local CA and signer certificates for C2PA, and the checks C2PA would otherwise fail on.

c2pa-rs refuses (at signing time, with a terse message) a self-signed leaf, a leaf
without an extended key usage or without an authority key identifier, and an expired
leaf. We check the same things first so
the user gets a sentence that says what to fix.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT_DAYS = 3650
SIGNER_DAYS = 365
# Backdating covers clock skew between the signing host and verifiers.
_BACKDATE = dt.timedelta(hours=1)
# EKUs c2pa-rs accepts for claim signing with default settings (measured: emailProtection;
# documentSigning needs extra trust config, so it is accepted on import but not issued).
_C2PA_EKU = x509.ObjectIdentifier("1.3.6.1.4.1.62558.2.1")
ACCEPTED_EKUS = {
    ExtendedKeyUsageOID.EMAIL_PROTECTION,
    x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36"),  # documentSigning
    _C2PA_EKU,
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "VoxSeal"),
        ]
    )


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def cert_sha256(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def signer_id(cert: x509.Certificate) -> str:
    return cert_sha256(cert)[:16]


def make_root(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + dt.timedelta(days=ROOT_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_signer(
    root_key: ec.EllipticCurvePrivateKey,
    root_cert: x509.Certificate,
    common_name: str,
    days: int = SIGNER_DAYS,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    not_after = min(now + dt.timedelta(days=days), root_cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(root_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    return key, cert


def load_certs(data: str | bytes, what: str) -> list[x509.Certificate]:
    """Parse a PEM bundle; ValueError with a readable message when it holds none."""
    raw = data.encode("ascii", "replace") if isinstance(data, str) else data
    try:
        certs = x509.load_pem_x509_certificates(raw)
    except ValueError:
        raise ValueError(f"{what} is not a PEM certificate bundle") from None
    if not certs:
        raise ValueError(f"{what} holds no certificate")
    return certs


def alg_for_key(public_key) -> str:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}.get(
            public_key.curve.name, ""
        ) or _unsupported(f"EC curve {public_key.curve.name}")
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "ED25519"
    if isinstance(public_key, rsa.RSAPublicKey):
        return "PS256"
    return _unsupported(type(public_key).__name__)


def _unsupported(what: str) -> str:
    raise ValueError(f"unsupported signing key type: {what}")


def leaf_problems(leaf: x509.Certificate, at: dt.datetime | None = None) -> list[str]:
    """Why C2PA would refuse this certificate as a claim signer (empty list: none known)."""
    at = at or _now()
    problems = []
    if leaf.issuer == leaf.subject:
        problems.append("the signer certificate is self-signed (C2PA needs a CA-issued one)")
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if not ACCEPTED_EKUS.intersection(eku):
            problems.append(
                "the signer certificate's extended key usage allows none of "
                "emailProtection, documentSigning or the C2PA claim-signing EKU"
            )
    except x509.ExtensionNotFound:
        problems.append("the signer certificate has no extended key usage (C2PA requires one)")
    try:
        leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except x509.ExtensionNotFound:
        # Measured: c2pa-rs rejects such a leaf with "the certificate is invalid".
        problems.append("the signer certificate has no authority key identifier "
                        "(C2PA requires one)")
    try:
        bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
        if bc.ca:
            problems.append("the signer certificate is a CA certificate")
    except x509.ExtensionNotFound:
        pass
    if at < leaf.not_valid_before_utc:
        problems.append(f"the signer certificate is not valid before {leaf.not_valid_before_utc}")
    if at > leaf.not_valid_after_utc:
        problems.append(f"the signer certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
    return problems


@dataclass(frozen=True)
class CertSummary:
    subject: str
    issuer: str
    not_before: str
    not_after: str
    sha256: str


def summary(cert: x509.Certificate) -> CertSummary:
    return CertSummary(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=cert.not_valid_after_utc.isoformat(),
        sha256=cert_sha256(cert),
    )
