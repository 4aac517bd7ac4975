"""RFC 6962 tree, proofs and C2SP signed notes, checked against published test vectors
and against a naive implementation written here straight from the RFC's definitions
(used only in tests, shares no code with provenance._internal.merkle)."""
from __future__ import annotations

import base64
import hashlib
from functools import cache

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from provenance._internal import merkle
from provenance._internal import signed_note as sn

# --- the independent reference: RFC 6962 section 2.1, verbatim recursion -------------


def _h(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def ref_mth(d: tuple[bytes, ...]) -> bytes:
    n = len(d)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + d[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return _h(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: tuple[bytes, ...]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: tuple[bytes, ...], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def ref_proof(m: int, d: tuple[bytes, ...]) -> list[bytes]:
    return ref_subproof(m, d, True) if 0 < m < len(d) else []


class RefTree:
    """Memoised reference over a fixed list of entries (for large trees in other tests)."""

    def __init__(self, entries: list[bytes]) -> None:
        self.d = list(entries)

        @cache
        def mth(a: int, b: int) -> bytes:
            n = b - a
            if n == 1:
                return _h(b"\x00" + self.d[a])
            k = 1
            while k * 2 < n:
                k *= 2
            return _h(b"\x01" + mth(a, a + k) + mth(a + k, b))

        self.mth = mth

    def root(self, n: int) -> bytes:
        return _h(b"") if n == 0 else self.mth(0, n)

    def path(self, m: int, a: int, b: int) -> list[bytes]:
        n = b - a
        if n == 1:
            return []
        k = 1
        while k * 2 < n:
            k *= 2
        if m < k:
            return self.path(m, a, a + k) + [self.mth(a + k, b)]
        return self.path(m - k, a + k, b) + [self.mth(a, a + k)]


# --- published vectors (Certificate Transparency / transparency-dev merkle testonly) --

ENTRIES = [bytes.fromhex(x) for x in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
H96 = "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
H5F = "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"
H6B = "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"
HBC = "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"
HCA = "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"
HD3 = "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"
H0E = "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"
H6E = ROOTS[1]
HFA = ROOTS[2]
# (leaf index 0-based, tree size, path)
INCLUSION = [
    (0, 1, []), (0, 8, [H96, H5F, H6B]), (5, 8, [HBC, HCA, HD3]), (2, 3, [HFA]),
    (1, 5, [H6E, H5F, HBC]),
]
# (old size, new size, proof)
CONSISTENCY = [
    (1, 1, []), (1, 8, [H96, H5F, H6B]), (6, 8, [H0E, HCA, HD3]), (2, 5, [H5F, HBC]),
    (2, 8, [H5F, H6B]),
]


def _nodes(entries) -> merkle.MemoryNodes:
    return merkle.MemoryNodes([merkle.leaf_hash(e) for e in entries])


def test_roots_match_rfc6962_vectors():
    nodes = _nodes(ENTRIES)
    for size, want in enumerate(ROOTS):
        assert merkle.root(nodes, size).hex() == want
        assert ref_mth(tuple(ENTRIES[:size])).hex() == want  # the reference agrees too


@pytest.mark.parametrize("index,size,path", INCLUSION)
def test_inclusion_proofs_match_vectors(index, size, path):
    nodes = _nodes(ENTRIES)
    got = merkle.inclusion_proof(nodes, index, size)
    assert [h.hex() for h in got] == path
    assert ref_path(index, tuple(ENTRIES[:size])) == got
    root = bytes.fromhex(ROOTS[size])
    assert merkle.verify_inclusion(merkle.leaf_hash(ENTRIES[index]), index, size, got, root)


@pytest.mark.parametrize("old,new,proof", CONSISTENCY)
def test_consistency_proofs_match_vectors(old, new, proof):
    nodes = _nodes(ENTRIES)
    got = merkle.consistency_proof(nodes, old, new)
    assert [h.hex() for h in got] == proof
    assert ref_proof(old, tuple(ENTRIES[:new])) == got
    assert merkle.verify_consistency(
        old, new, bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new]), got
    )


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=6), min_size=1, max_size=70), st.data())
def test_proofs_agree_with_reference_and_reject_tampering(entries, data):
    n = len(entries)
    d = tuple(entries)
    nodes = _nodes(entries)
    root = merkle.root(nodes, n)
    assert root == ref_mth(d)
    m = data.draw(st.integers(0, n - 1))
    path = merkle.inclusion_proof(nodes, m, n)
    assert path == ref_path(m, d)
    leaf = merkle.leaf_hash(entries[m])
    assert merkle.verify_inclusion(leaf, m, n, path, root)
    assert not merkle.verify_inclusion(merkle.leaf_hash(entries[m] + b"x"), m, n, path, root)
    if path:
        bad = list(path)
        bad[data.draw(st.integers(0, len(bad) - 1))] = b"\x00" * 32
        assert not merkle.verify_inclusion(leaf, m, n, bad, root)
        assert not merkle.verify_inclusion(leaf, m, n, path[:-1], root)
    old = data.draw(st.integers(1, n))
    proof = merkle.consistency_proof(nodes, old, n)
    assert proof == ref_proof(old, d)
    old_root = merkle.root(nodes, old)
    assert merkle.verify_consistency(old, n, old_root, root, proof)
    if old < n:
        assert not merkle.verify_consistency(old, n, _h(b"forged"), root, proof)
        assert not merkle.verify_consistency(old, n, old_root, _h(b"forged"), proof)
        if proof:
            assert not merkle.verify_consistency(old, n, old_root, root, proof[:-1])


def test_appended_nodes_equal_reference_at_every_size():
    entries = [bytes([i, i * 3 % 256]) for i in range(67)]
    ref = RefTree(entries)
    nodes = merkle.MemoryNodes()
    for i, e in enumerate(entries):
        nodes.append(merkle.leaf_hash(e))
        assert merkle.root(nodes, i + 1) == ref.root(i + 1)


def test_out_of_range_proofs_are_refused():
    nodes = _nodes(ENTRIES)
    with pytest.raises(ValueError):
        merkle.inclusion_proof(nodes, 8, 8)
    with pytest.raises(ValueError):
        merkle.consistency_proof(nodes, 5, 4)
    assert not merkle.verify_inclusion(merkle.leaf_hash(b""), 3, 3, [], merkle.EMPTY_ROOT)
    assert not merkle.verify_consistency(5, 4, b"", b"", [])


# --- signed notes ---------------------------------------------------------------------


def _key_with_plus_in_b64() -> Ed25519PrivateKey:
    # Verifier keys are base64: make sure one containing '+' parses (a real bug source).
    while True:
        k = Ed25519PrivateKey.generate()
        if "+" in sn.verifier_key("example.com/log", k.public_key()).split("+", 2)[2]:
            return k


def test_signed_note_round_trip_and_tamper():
    key = _key_with_plus_in_b64()
    name = "example.com/log"
    vkey = sn.parse_verifier_key(sn.verifier_key(name, key.public_key()))
    text = sn.checkpoint_text(name, 8, bytes.fromhex(ROOTS[8]))
    note = sn.sign_note(text, name, key)
    assert note.startswith(text + "\n\u2014 " + name + " ")
    assert sn.open_note(note, [vkey]) == text
    body = sn.parse_checkpoint_text(text)
    assert (body.origin, body.size, body.root.hex()) == (name, 8, ROOTS[8])
    # Signature blob is key hash (4 bytes) + 64-byte Ed25519 signature.
    blob = base64.b64decode(note.rsplit(" ", 1)[1])
    assert len(blob) == 68 and blob[:4] == vkey.hash
    with pytest.raises(sn.NoteError):
        sn.open_note(note.replace("\n8\n", "\n9\n"), [vkey])  # edited size
    other = sn.parse_verifier_key(sn.verifier_key(name, Ed25519PrivateKey.generate().public_key()))
    with pytest.raises(sn.NoteError):
        sn.open_note(note, [other])  # unknown signer
    with pytest.raises(sn.NoteError):
        sn.parse_verifier_key(sn.verifier_key(name, key.public_key()).replace(name, "evil.org/x"))


def test_key_hash_follows_c2sp_definition():
    key = Ed25519PrivateKey.generate()
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    want = hashlib.sha256(b"log.example\n\x01" + raw).digest()[:4]
    assert sn.key_hash("log.example", key.public_key()) == want
