"""Verification policies: what a *trusted* manifest must also say to be accepted.

C2PA's "Trusted" answers "who signed this and is it intact". A policy answers "is it
the record I expected": a VoxSeal generation, a given payload, a given signer. Policies
only run on trusted manifests; their violations make `ManifestReport.trusted` False.
"""
from __future__ import annotations

from typing import Protocol

from provenance.errors import InvalidInputError
from provenance.models import GenerationInfo, ManifestReport


class Policy(Protocol):
    def violations(self, report: ManifestReport) -> list[str]: ...


class AllOf:
    def __init__(self, *policies: Policy) -> None:
        self.policies = policies

    def violations(self, report: ManifestReport) -> list[str]:
        return [v for p in self.policies for v in p.violations(report)]


class RequireGeneration:
    """The manifest carries a well-formed `org.voxseal.generation` assertion."""

    def violations(self, report: ManifestReport) -> list[str]:
        if report.generation is None:
            return ["no org.voxseal.generation assertion"]
        try:
            GenerationInfo.from_assertion(report.generation).validate()
        except InvalidInputError as exc:
            return [f"malformed generation assertion: {exc}"]
        if report.generation.get("watermarked") and report.payload is None:
            return ["watermarked generation without a VoxSeal soft binding"]
        return []


class ExpectPayload:
    """The soft binding carries exactly this watermark payload."""

    def __init__(self, payload: int) -> None:
        self.payload = payload

    def violations(self, report: ManifestReport) -> list[str]:
        if report.payload != self.payload:
            got = "none" if report.payload is None else f"{report.payload:08x}"
            return [f"payload is {got}, expected {self.payload:08x}"]
        return []


class ExpectSigner:
    """The claim was signed by a certificate with this common name."""

    def __init__(self, common_name: str) -> None:
        self.common_name = common_name

    def violations(self, report: ManifestReport) -> list[str]:
        got = (report.signer or {}).get("common_name")
        if got != self.common_name:
            return [f"signed by {got!r}, expected {self.common_name!r}"]
        return []
