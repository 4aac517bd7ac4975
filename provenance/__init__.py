"""Signed provenance for VoxSeal generations: C2PA manifests, a registry, a transparency log.

The public face is small; the mechanisms live in `provenance._internal`::

    home = init_home()                              # keys, CA, registry, log
    payload = allocate_payload(home)                # watermark payload to embed
    rec = publish(home, "a.wav", info, samples, sr) # sign + register + log
    report = verify_manifest("a.wav", home.trust_anchors_pem())
    report.trusted                                  # only "Trusted" is success
    with home.registry() as reg: reg.resolve_payload(payload)
    with home.log() as log: log.verify()

Errors are typed (`provenance.errors`) and carry the CLI exit code.
"""
from provenance.errors import (
    AudioFileError,
    DatabaseError,
    ExportError,
    HomeIncompleteError,
    HomeNotFoundError,
    InvalidInputError,
    KeyFileError,
    LogIntegrityError,
    ManifestInvalidError,
    ManifestUntrustedError,
    NoManifestError,
    NotFoundError,
    PayloadConflictError,
    PolicyError,
    ProvenanceError,
    SignerError,
    TrustAnchorError,
)
from provenance.home import InitResult, VoxSealHome, init_home, initialise, open_home
from provenance.keys import (
    import_signer,
    list_keys,
    load_active_signer,
    new_signer,
    retire_signer,
    trust_anchor_pem,
)
from provenance.log import TransparencyLog, canonical_json, verify_consistency, verify_inclusion
from provenance.manifest import (
    export_manifest,
    pcm_sha256,
    publish,
    require_trusted,
    verify_manifest,
)
from provenance.models import (
    GENERATION_LABEL,
    SOFT_BINDING_ALG,
    Checkpoint,
    ConsistencyProof,
    GenerationInfo,
    InclusionProof,
    KeyInfo,
    LogEntry,
    LogVerification,
    ManifestReport,
    PublishedRecord,
    RegistryRecord,
    SoftBinding,
    payload_hex,
    text_sha256,
)
from provenance.policy import AllOf, ExpectPayload, ExpectSigner, Policy, RequireGeneration
from provenance.registry import Registry, allocate_payload, open_registry
from provenance.signing import CallbackSigner

__all__ = [
    "GENERATION_LABEL",
    "SOFT_BINDING_ALG",
    "AllOf",
    "AudioFileError",
    "CallbackSigner",
    "Checkpoint",
    "ConsistencyProof",
    "DatabaseError",
    "ExpectPayload",
    "ExpectSigner",
    "ExportError",
    "GenerationInfo",
    "HomeIncompleteError",
    "HomeNotFoundError",
    "InclusionProof",
    "InitResult",
    "InvalidInputError",
    "KeyFileError",
    "KeyInfo",
    "LogEntry",
    "LogIntegrityError",
    "LogVerification",
    "ManifestInvalidError",
    "ManifestReport",
    "ManifestUntrustedError",
    "NoManifestError",
    "NotFoundError",
    "PayloadConflictError",
    "Policy",
    "PolicyError",
    "ProvenanceError",
    "PublishedRecord",
    "Registry",
    "RegistryRecord",
    "RequireGeneration",
    "SignerError",
    "SoftBinding",
    "TransparencyLog",
    "TrustAnchorError",
    "VoxSealHome",
    "allocate_payload",
    "canonical_json",
    "export_manifest",
    "import_signer",
    "init_home",
    "initialise",
    "list_keys",
    "load_active_signer",
    "new_signer",
    "open_home",
    "open_registry",
    "payload_hex",
    "pcm_sha256",
    "publish",
    "require_trusted",
    "retire_signer",
    "text_sha256",
    "trust_anchor_pem",
    "verify_consistency",
    "verify_inclusion",
    "verify_manifest",
]
