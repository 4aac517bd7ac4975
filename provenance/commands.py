"""CLI commands of the provenance package: init, keys, manifest, log, registry.

Errors are raised as typed `ProvenanceError`s; `cli.main` prints them as one line and
exits with their code (table in `voxseal manifest verify --help`).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import click

from provenance import keys as keys_api
from provenance.errors import (
    AudioFileError,
    DatabaseError,
    ExportError,
    HomeNotFoundError,
    InvalidInputError,
    NotFoundError,
    TrustAnchorError,
)
from provenance.home import ENV_VAR, initialise, open_home
from provenance.manifest import export_manifest, require_trusted, verify_manifest
from provenance.models import ManifestReport
from provenance.policy import AllOf, ExpectPayload, Policy, RequireGeneration
from synth.fileio import atomic_write_bytes, atomic_write_text

EXIT_CODES = """\b
Exit codes (all voxseal provenance commands):
  0   success (verify: the manifest is Trusted and intact)
  2   usage error (bad option or argument)
  10  no VoxSeal home: run `voxseal init` (or set VOXSEAL_HOME)
  11  the home is incomplete (a key or the database is missing)
  12  a key or certificate file is missing or corrupt
  13  no usable signer (none active, expired, or refused by C2PA)
  14  the registry database is missing, corrupt or busy
  15  the transparency log failed verification
  16  no such manifest id or log entry
  17  watermark payload conflict
  18  malformed argument (hash, payload, id)
  19  FILE is missing, unreadable, or not WAV/MP3/FLAC
  20  no C2PA manifest in FILE (embedded or sidecar)
  21  INVALID manifest: audio, an assertion or the signature was altered
  22  intact but UNTRUSTED: the signer does not chain to the trust anchors
  23  no trust anchors given, or the --trust PEM is unreadable
  24  trusted, but fails --expect-payload / --require-generation
  25  export failed
  70  internal error (a bug; VOXSEAL_DEBUG=1 shows the traceback)
"""


def _emit(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def _kv(pairs: list[tuple[str, Any]]) -> None:
    width = max(len(k) for k, _ in pairs)
    for k, v in pairs:
        click.echo(f"{k.ljust(width)}  {v}")


def _anchors(trust: Path | None, *, required: bool) -> str | None:
    """PEM from --trust, else the home's bundle, else None (or an error when required)."""
    if trust is not None:
        try:
            return trust.read_text("ascii")
        except FileNotFoundError:
            raise TrustAnchorError(f"trust anchor file not found: {trust}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TrustAnchorError(f"cannot read trust anchor file {trust}: {exc}") from None
    try:
        return open_home().trust_anchors_pem()
    except HomeNotFoundError:
        if required:
            raise TrustAnchorError(
                "no trust anchors: pass --trust ROOT.pem (the output of `voxseal keys "
                f"trust-anchor` on the signing host), or set {ENV_VAR} to a home"
            ) from None
        return None


_file_arg = click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
_trust_opt = click.option(
    "--trust", type=click.Path(path_type=Path, dir_okay=False), default=None, metavar="PEM",
    help="Trust anchors (PEM bundle). Default: the trust bundle of the VoxSeal home.",
)
_json_opt = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


# -- init -------------------------------------------------------------------------------


@click.command("init")
@click.option("--force", is_flag=True,
              help="Replace the watermark key, CA and signer (old files are moved to "
                   "keys/replaced-<time>/, the old root stays trusted).")
@_json_opt
def init_cmd(force: bool, as_json: bool) -> None:
    """Create the VoxSeal home: keys, local CA, registry and log.

    The home is $VOXSEAL_HOME (default ~/.voxseal). Running it again on a complete
    home changes nothing. If a key is missing or corrupt it stops without writing
    anything, because a silently regenerated key would orphan earlier watermarks
    and manifests; `--force` replaces the keys but never the registry or the log.

    \b
    Creates (directories 0700, secrets 0600):
      keys/watermark.key      the watermark key
      keys/ca/root.pem|key    local root CA (ES256, 10 years)
      keys/signers/<id>/      C2PA signer issued by the root (1 year)
      keys/log.key            Ed25519 key that signs log checkpoints
      registry.db             the registry and the transparency log
    """
    result = initialise(force=force)
    if as_json:
        _emit({"home": str(result.home.path), "created": result.created,
               "replaced": result.replaced,
               "backup_dir": None if result.backup_dir is None else str(result.backup_dir)})
        return
    if not result.created:
        click.echo(f"VoxSeal home at {result.home.path} is already initialised; nothing changed.")
        return
    click.echo(f"VoxSeal home at {result.home.path}")
    for item in result.created:
        click.echo(f"  created   {item}")
    for item in result.replaced:
        click.echo(f"  replaced  {item} (moved to {result.backup_dir})")
    click.echo("Verifiers trust: `voxseal keys trust-anchor > voxseal-root.pem`")


# -- keys -------------------------------------------------------------------------------


@click.group("keys")
def keys_group() -> None:
    """Watermark, signing and log keys of the home.

    \b
      voxseal keys list                 what keys exist and which signer is active
      voxseal keys new                  rotate: issue a new signer, retire the old
      voxseal keys retire ID            stop signing with a signer
      voxseal keys trust-anchor         the root certificate PEM verifiers trust
      voxseal keys import --cert C --key K --anchor R   use an external PKI
    """


@keys_group.command("list")
@_json_opt
def keys_list(as_json: bool) -> None:
    """List keys (ids and status only, never key material)."""
    infos = keys_api.list_keys(open_home())
    if as_json:
        _emit([k.to_dict() for k in infos])
        return
    for k in infos:
        extra = k.detail.get("subject") or k.detail.get("origin") or k.detail.get("error") or ""
        until = f" until {k.detail['not_after'][:10]}" if k.detail.get("not_after") else ""
        click.echo(f"{k.kind:<10} {k.key_id:<17} {k.status:<10} {extra}{until}")


@keys_group.command("new")
@click.option("--days", type=int, default=365, show_default=True,
              help="Validity of the new signer certificate.")
@_json_opt
def keys_new(days: int, as_json: bool) -> None:
    """Issue a new ES256 signer from the local CA and make it the active one.

    The previously active signer is retired: it signs nothing more, and everything
    it signed stays verifiable (same root). The rotation is recorded in the log.
    """
    info = keys_api.new_signer(open_home(), days=days)
    if as_json:
        _emit(info.to_dict())
    else:
        click.echo(f"new active signer {info.key_id} ({info.detail['subject']}, until "
                   f"{info.detail['not_after'][:10]})")


@keys_group.command("retire")
@click.argument("signer_id")
@_json_opt
def keys_retire(signer_id: str, as_json: bool) -> None:
    """Retire signer SIGNER_ID (from `keys list`). Publishing then needs `keys new`."""
    info = keys_api.retire_signer(open_home(), signer_id)
    if as_json:
        _emit(info.to_dict())
    else:
        click.echo(f"retired signer {info.key_id}")


@keys_group.command("trust-anchor")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Write the PEM to this file instead of stdout.")
def keys_trust_anchor(output: Path | None) -> None:
    """Print the root certificate PEM that verifiers must trust.

    Give it to whoever verifies your files: `voxseal manifest verify FILE --trust
    root.pem`. It contains only public certificates (the local root, plus any roots
    imported with `keys import --anchor`).
    """
    pem = keys_api.trust_anchor_pem(open_home())
    if output is None:
        click.echo(pem, nl=False)
        return
    try:
        atomic_write_text(output, pem, perms=0o644)
    except OSError as exc:
        raise ExportError(f"cannot write {output}: {exc}") from None
    click.echo(f"wrote {output}")


@keys_group.command("import")
@click.option("--cert", "cert_path", required=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Signer certificate chain, PEM, leaf first.")
@click.option("--key", "key_path", required=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="The leaf's private key, unencrypted PEM (it is stored 0600).")
@click.option("--anchor", "anchor_path", default=None,
              type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Root certificate of that PKI, added to the trust bundle.")
@_json_opt
def keys_import(cert_path: Path, key_path: Path, anchor_path: Path | None, as_json: bool) -> None:
    """Import a signer from an external PKI and make it active.

    The leaf must be CA-issued, within its validity, with an EKU C2PA accepts
    (emailProtection, documentSigning or the C2PA claim-signing EKU). A test manifest
    is signed and must validate as Trusted before anything is stored. For keys that
    must stay in a KMS/HSM, use the Python API (`provenance.CallbackSigner`).
    """
    info = keys_api.import_signer(
        open_home(),
        cert_path.read_text("ascii", "replace"),
        key_path.read_bytes(),
        anchor_path.read_text("ascii", "replace") if anchor_path else None,
    )
    if as_json:
        _emit(info.to_dict())
    else:
        click.echo(f"imported signer {info.key_id} ({info.detail['subject']}); now active")


# -- manifest -------------------------------------------------------------------------


@click.group("manifest")
def manifest_group() -> None:
    """Read, export and verify the C2PA manifest of a WAV/MP3/FLAC file.

    \b
      voxseal manifest show a.wav [--json]
      voxseal manifest verify a.wav --trust root.pem     exit 0 only if Trusted
      voxseal manifest export a.wav --format c2pa -o a.c2pa
    """


def _print_report(r: ManifestReport) -> None:
    if not r.found:
        click.echo(f"{r.path}: no C2PA manifest")
        return
    g = r.generation or {}
    s = r.signer or {}
    verdict = "TRUSTED" if r.trusted else (r.state or "?").upper()
    if r.state == "Valid" and not r.trusted:
        verdict = "VALID (signer not trusted)"
    elif r.policy_errors:
        verdict = "TRUSTED, but fails the policy"
    pairs: list[tuple[str, Any]] = [
        ("file", r.path),
        ("verdict", verdict),
        ("manifest", f"{r.manifest_id} ({r.source})"),
        ("signer", f"{s.get('common_name', '?')} (issuer {s.get('issuer', '?')}, "
                   f"{s.get('alg', '?')})"),
    ]
    if r.soft_binding:
        pairs.append(("soft binding", f"{r.soft_binding.alg} = {r.soft_binding.value}"))
    if g:
        pairs += [
            ("model", f"{g.get('model_name')} {g.get('model_version')} "
                      f"(checkpoint {str(g.get('checkpoint_sha256'))[:16]}...)"),
            ("codec", g.get("codec_id")),
            ("watermarked", "yes" if g.get("watermarked") else "NO (evaluation output)"),
            ("watermark", f"{g.get('watermark_scheme')} key {g.get('key_id')} "
                          f"params {json.dumps(g.get('watermark_params'), sort_keys=True)}"),
            ("text sha256", g.get("text_sha256")),
            ("voice prompt", f"{g.get('voice_prompt_sha256')} consent "
                             f"{g.get('consent_reference')}"),
            ("seed", g.get("seed")),
            ("created", g.get("created")),
        ]
        if "text" in g:
            pairs.append(("text", g["text"]))
    if r.errors:
        pairs.append(("failures", ", ".join(r.errors)))
    if r.policy_errors:
        pairs.append(("policy", "; ".join(r.policy_errors)))
    if r.detail:
        pairs.append(("detail", r.detail))
    _kv(pairs)


@manifest_group.command("show")
@_file_arg
@_trust_opt
@click.option("--sidecar", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Read the manifest from this .c2pa file instead.")
@_json_opt
def manifest_show(file: Path, trust: Path | None, sidecar: Path | None, as_json: bool) -> None:
    """Show what the manifest of FILE records and its validation state.

    Informational: exits 0 whenever a manifest is found, even an invalid one (use
    `manifest verify` as the gate). Exit 20 when there is none.
    """
    report = verify_manifest(file, _anchors(trust, required=False), sidecar=sidecar)
    if as_json:
        _emit(report.to_dict())
    else:
        _print_report(report)
    if not report.found:
        require_trusted(report)


@manifest_group.command("export")
@_file_arg
@click.option("--format", "fmt", type=click.Choice(["json", "c2pa"]), required=True,
              help="json: the validation report and the full manifest store as JSON; "
                   "c2pa: the binary manifest store, usable as a sidecar.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Output file (written atomically).")
@_trust_opt
def manifest_export(file: Path, fmt: str, output: Path, trust: Path | None) -> None:
    """Export the manifest of FILE as JSON or as a sidecar `.c2pa` store."""
    out = export_manifest(file, fmt, output, _anchors(trust, required=False))
    click.echo(f"wrote {out}")


def _parse_payload(text: str) -> int:
    try:
        value = int(text, 16)
    except ValueError:
        raise InvalidInputError(f"payload must be hex (8 characters), not {text!r}") from None
    if not 0 <= value < 1 << 32:
        raise InvalidInputError("payload must fit in 32 bits")
    return value


@manifest_group.command("verify", epilog=EXIT_CODES)
@_file_arg
@_trust_opt
@click.option("--sidecar", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Validate against this .c2pa manifest store (default: embedded, then "
                   "FILE's stem + .c2pa).")
@click.option("--expect-payload", default=None, metavar="HEX",
              help="Also require the watermark soft binding to carry this payload.")
@click.option("--require-generation", is_flag=True,
              help="Also require a well-formed org.voxseal.generation assertion.")
@_json_opt
def manifest_verify(
    file: Path, trust: Path | None, sidecar: Path | None, expect_payload: str | None,
    require_generation: bool, as_json: bool,
) -> None:
    """Verify FILE's C2PA manifest: exit 0 only if it is Trusted and intact.

    "Trusted" means every hash matches the audio and the claim, and the signing
    certificate chains to one of the trust anchors (--trust, default: this home's
    bundle). A manifest that is intact but signed by someone else's certificate is
    "Valid" and FAILS here (22); any alteration is "Invalid" and fails (21).
    """
    policies: list[Policy] = []
    if expect_payload is not None:
        policies.append(ExpectPayload(_parse_payload(expect_payload)))
    if require_generation:
        policies.append(RequireGeneration())
    report = verify_manifest(
        file, _anchors(trust, required=True), sidecar=sidecar,
        policy=AllOf(*policies) if policies else None,
    )
    if as_json:
        _emit(report.to_dict())
    elif report.found:
        _print_report(report)
    require_trusted(report)


# -- log --------------------------------------------------------------------------------


@click.group("log")
def log_group() -> None:
    """The append-only transparency log (RFC 6962 Merkle tree, signed checkpoints).

    \b
      voxseal log head > saved.txt      the latest signed checkpoint (keep it)
      voxseal log prove ID              inclusion proof of a record (index or manifest id)
      voxseal log verify --checkpoint saved.txt
                                        recheck everything, and prove the log only
                                        grew since the saved checkpoint
    """


@log_group.command("head")
@_json_opt
def log_head(as_json: bool) -> None:
    """Print the latest signed checkpoint (a C2SP signed note).

    Save it somewhere the log's operator cannot change; `log verify --checkpoint`
    later proves that nothing before it was deleted or rewritten.
    """
    with open_home().log() as log:
        cp = log.head()
        vkeys = log.verifier_keys()
    if as_json:
        _emit(cp.to_dict() | {"verifier_keys": vkeys})
    else:
        click.echo(cp.note, nl=False)


@log_group.command("prove")
@click.argument("entry_id")
@_json_opt
def log_prove(entry_id: str, as_json: bool) -> None:
    """Inclusion proof of ENTRY_ID (a log index or a manifest id) in the latest checkpoint.

    The proof is checked before it is printed; the output carries the signed
    checkpoint so a third party can check both the signature and the path.
    """
    with open_home().log() as log:
        index = int(entry_id) if entry_id.isdigit() else log.index_of(entry_id)
        head = log.head()
        proof = log.prove_inclusion(index, head.size)
        entry = log.entry(index)
    if not proof.verify() or proof.root != head.root:
        raise AssertionError("freshly built inclusion proof does not verify")
    doc = {"entry": entry.to_dict(), "proof": proof.to_dict(), "checkpoint": head.note}
    if as_json:
        _emit(doc)
        return
    _kv([
        ("entry", index),
        ("record", json.dumps(entry.record, sort_keys=True)),
        ("leaf hash", proof.leaf_hash.hex()),
        ("tree size", proof.tree_size),
        ("root", proof.root.hex()),
    ] + [(f"path[{i}]", h.hex()) for i, h in enumerate(proof.hashes)])
    click.echo("checkpoint:")
    click.echo(head.note, nl=False)


@log_group.command("verify")
@click.option("--checkpoint", "checkpoint_path", default=None,
              type=click.Path(path_type=Path, dir_okay=False),
              help="A checkpoint saved earlier (`voxseal log head`): prove consistency.")
@_json_opt
def log_verify(checkpoint_path: Path | None, as_json: bool) -> None:
    """Recompute the log from its records and check every hash, checkpoint and link.

    Fails (15) if a record was altered or deleted, a stored tree node or signed
    checkpoint disagrees with the records, a registry row has no matching log entry
    (or the reverse), or the consistency proof from --checkpoint does not verify.
    """
    note = None
    if checkpoint_path is not None:
        try:
            note = checkpoint_path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"cannot read checkpoint {checkpoint_path}: {exc}") from None
    home = open_home()
    store = home.open_store()
    try:
        integrity = store.quick_check()
    finally:
        store.close()
    if integrity != "ok":
        raise DatabaseError(f"registry database fails its integrity check: {integrity}")
    with home.log() as log:
        result = log.verify(note)
    if as_json:
        _emit(result.to_dict())
        return
    msg = (f"log OK: {result.entries_checked} entries, root {result.root.hex()}, "
           f"{result.manifests_checked} manifests, {result.checkpoints_checked} checkpoints")
    if result.consistent_with is not None:
        msg += f"; consistent with the saved checkpoint of size {result.consistent_with}"
    click.echo(msg)


# -- registry ---------------------------------------------------------------------------


@click.group("registry")
def registry_group() -> None:
    """Find manifests by watermark payload, file hash, PCM hash or id.

    \b
      voxseal registry lookup --payload 1a2b3c4d
      voxseal registry lookup --file a.wav        (by file SHA-256)
      voxseal registry get urn:c2pa:...           the full record
    """


@registry_group.command("lookup")
@click.option("--payload", default=None, metavar="HEX", help="Watermark payload (soft binding).")
@click.option("--file", "file_path", default=None,
              type=click.Path(path_type=Path, dir_okay=False), help="Match this file's SHA-256.")
@click.option("--sha256", default=None, metavar="HEX", help="File SHA-256.")
@click.option("--pcm-sha256", default=None, metavar="HEX",
              help="SHA-256 of the decoded PCM (int16 LE, mono).")
@_json_opt
def registry_lookup(payload: str | None, file_path: Path | None, sha256: str | None,
                    pcm_sha256: str | None, as_json: bool) -> None:
    """Manifest ids matching exactly one key; exit 16 when nothing matches."""
    given = [x for x in (payload, file_path, sha256, pcm_sha256) if x is not None]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --payload, --file, --sha256, --pcm-sha256")
    with open_home().registry() as reg:
        if payload is not None:
            ids = reg.resolve_payload(_parse_payload(payload))
        elif pcm_sha256 is not None:
            ids = reg.match_pcm_sha256(pcm_sha256.lower())
        else:
            if file_path is not None:
                try:
                    sha256 = hashlib.sha256(file_path.read_bytes()).hexdigest()
                except OSError as exc:
                    raise AudioFileError(f"cannot read {file_path}: {exc.strerror}") from None
            assert sha256 is not None
            ids = reg.match_file_sha256(sha256.lower())
    if as_json:
        _emit({"matches": [{"manifestId": i} for i in ids]})
    else:
        for i in ids:
            click.echo(i)
    if not ids:
        raise NotFoundError("no matching manifest in the registry")


@registry_group.command("get")
@click.argument("manifest_id")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also write the manifest store (.c2pa) to this file.")
@_json_opt
def registry_get(manifest_id: str, output: Path | None, as_json: bool) -> None:
    """The registry record of MANIFEST_ID (and its manifest store with -o)."""
    with open_home().registry() as reg:
        rec = reg.get_manifest(manifest_id)
    if output is not None:
        try:
            atomic_write_bytes(output, rec.manifest_store)
        except OSError as exc:
            raise ExportError(f"cannot write {output}: {exc}") from None
    if as_json:
        _emit(rec.to_dict())
    else:
        _kv([(k, json.dumps(v, sort_keys=True) if isinstance(v, dict) else v)
             for k, v in rec.to_dict().items()])


COMMANDS = [init_cmd, keys_group, manifest_group, log_group, registry_group]

__all__ = ["COMMANDS", "EXIT_CODES"]
