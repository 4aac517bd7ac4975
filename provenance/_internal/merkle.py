"""RFC 6962 Merkle tree hashing, proofs and proof verification.

Storage is abstracted as a `NodeSource`: the hash of every *perfect, aligned* subtree
(level L, index i covers leaves [i*2^L, (i+1)*2^L)). Appending a leaf completes at
most log2(n) such nodes, and every subtree RFC 6962 recursion asks for decomposes into
O(log n) of them, so roots and proofs cost O(log^2 n) lookups instead of O(n) hashing.
Verification follows RFC 9162 section 2.1.3.2 / 2.1.4.2 (the bit-walking forms), which
is deliberately a different algorithm from the recursive one that builds the proofs.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class NodeSource(Protocol):
    def node(self, level: int, index: int) -> bytes: ...


def _split(n: int) -> int:
    """Largest power of two strictly smaller than n (n >= 2): RFC 6962's split point."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_root(nodes: NodeSource, start: int, end: int) -> bytes:
    n = end - start
    if n <= 0:
        raise ValueError("empty subtree")
    if n & (n - 1) == 0 and start % n == 0:
        return nodes.node(n.bit_length() - 1, start // n)
    k = _split(n)
    return node_hash(subtree_root(nodes, start, start + k), subtree_root(nodes, start + k, end))


def root(nodes: NodeSource, size: int) -> bytes:
    return EMPTY_ROOT if size == 0 else subtree_root(nodes, 0, size)


def completed_nodes(nodes: NodeSource, index: int, leaf: bytes) -> list[tuple[int, int, bytes]]:
    """The (level, index, hash) nodes that appending `leaf` at `index` completes, leaf first."""
    out = [(0, index, leaf)]
    level, i, cur = 0, index, leaf
    while i & 1:
        cur = node_hash(nodes.node(level, i - 1), cur)
        level, i = level + 1, i >> 1
        out.append((level, i, cur))
    return out


def inclusion_proof(nodes: NodeSource, index: int, size: int) -> list[bytes]:
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    proof: list[bytes] = []
    start, end, m = 0, size, index
    # Walk down RFC 6962's PATH recursion, collecting siblings top-down, then reverse.
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            proof.append(subtree_root(nodes, start + k, end))
            end = start + k
        else:
            proof.append(subtree_root(nodes, start, start + k))
            start, m = start + k, m - k
    proof.reverse()
    return proof


def consistency_proof(nodes: NodeSource, old_size: int, new_size: int) -> list[bytes]:
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size == 0 or old_size == new_size:
        return []
    proof: list[bytes] = []
    start, end, m, complete = 0, new_size, old_size, True
    # RFC 6962 SUBPROOF(m, D[start:end], complete), unrolled.
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            proof.append(subtree_root(nodes, start + k, end))
            end = start + k
        else:
            proof.append(subtree_root(nodes, start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        proof.append(subtree_root(nodes, start, end))
    proof.reverse()
    return proof


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == expected_root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        # Every tree extends the empty one; there is nothing to prove.
        return not proof and old_root == EMPTY_ROOT
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


class MemoryNodes:
    """A NodeSource over leaf hashes held in memory (used to re-derive a stored tree)."""

    def __init__(self, leaves: Sequence[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for h in leaves:
            self.append(h)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, leaf: bytes) -> None:
        for level, i, h in completed_nodes(self, self.size, leaf):
            if level == len(self._levels):
                self._levels.append([])
            assert len(self._levels[level]) == i
            self._levels[level].append(h)

    def node(self, level: int, index: int) -> bytes:
        return self._levels[level][index]

    def levels(self) -> list[list[bytes]]:
        return self._levels
