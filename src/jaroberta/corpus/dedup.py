"""Exact and near-duplicate filters over the whole corpus (main process).

Exact dedup remembers 8-byte digests, not strings: `HashSet` keeps them in sorted uint64
arrays, so memory is 8 bytes per distinct sentence or document (briefly ~1.5x while its
largest arrays merge). 1 GB of Japanese text is about 10 M sentences: ~80 MB.
With 64-bit digests, the chance that any two of 10 M distinct sentences collide (and one
is wrongly dropped) is about 3e-6.

The near-duplicate filter (`--near-dup THRESHOLD`) uses MinHash signatures over character
5-grams of each document, indexed by datasketch's MinHashLSH; the LSH index grows by roughly num_perm * 8 bytes per
document kept, so it is off by default.

`DedupFilters.keep` decides a chunk (which documents and sentences stay, and why the others
go) without writing anything; `corpus/build.py` writes what it keeps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jaroberta.deps import require


class HashSet:
    """A set of uint64 digests with batched, vectorised membership tests.

    Sorted arrays whose sizes fall geometrically (a log-structured merge): each batch
    becomes a new small array, and the last two merge while the older is at most twice the
    newer. So there are about log2(n / batch) arrays to search, every digest is copied
    O(log n) times in all, and memory is 8 bytes per digest plus, while the largest two
    merge, the merged copy and Timsort's buffer (about 1.5x the set, briefly).
    """

    def __init__(self) -> None:
        self._levels: list[np.ndarray] = []

    def __len__(self) -> int:
        return sum(len(level) for level in self._levels)

    @property
    def nbytes(self) -> int:
        return sum(level.nbytes for level in self._levels)

    def add(self, digests: np.ndarray) -> np.ndarray:
        """Add a batch; returns a mask of the entries seen for the first time (in batch order)."""
        fresh = np.zeros(len(digests), dtype=bool)
        if not len(digests):
            return fresh
        unique, first = np.unique(digests, return_index=True)
        seen = np.zeros(len(unique), dtype=bool)
        for level in self._levels:
            seen |= _contains(level, unique)
        fresh[first[~seen]] = True
        if not seen.all():
            self._levels.append(unique[~seen])
            self._compact()
        return fresh

    def snapshot(self) -> list[np.ndarray]:
        """The set now, for `restore`: a list of the level arrays, which are never changed in place."""
        return list(self._levels)

    def restore(self, snapshot: list[np.ndarray]) -> None:
        self._levels = list(snapshot)

    def array(self) -> np.ndarray:
        """All digests, sorted."""
        while len(self._levels) > 1:
            self._merge_last_two()
        return self._levels[0] if self._levels else np.empty(0, dtype=np.uint64)

    def _compact(self) -> None:
        while len(self._levels) > 1 and len(self._levels[-2]) <= 2 * len(self._levels[-1]):
            self._merge_last_two()

    def _merge_last_two(self) -> None:
        newer, older = self._levels.pop(), self._levels.pop()
        merged = np.concatenate([older, newer])
        del newer, older  # free the inputs before sorting: the peak is the merged copy + Timsort's buffer
        merged.sort(kind="stable")  # Timsort merges the two sorted runs in linear time
        self._levels.append(merged)


def _contains(sorted_array: np.ndarray, values: np.ndarray) -> np.ndarray:
    at = np.searchsorted(sorted_array, values)
    at[at == len(sorted_array)] = 0
    return sorted_array[at] == values


def digests(raw: bytes) -> np.ndarray:
    """Concatenated 8-byte digests as a uint64 array (little-endian on every machine)."""
    return np.frombuffer(raw, dtype="<u8").astype(np.uint64, copy=False)


class NearDuplicates:
    """MinHash LSH over character 5-grams: drops a document similar to one already kept.

    Signatures are computed here with numpy (datasketch hashes each shingle in a Python
    call, too slow for a corpus): 5-grams are hashed by a polynomial over their code points,
    then permuted with the usual (a * h + b) mod (2^61 - 1) family and reduced to the
    minimum per permutation. datasketch's MinHashLSH indexes the signatures.
    """

    SHINGLE = 5
    _PRIME = np.uint64((1 << 61) - 1)
    _SLICE = 4096  # shingles per step: bounds the (num_perm, slice) temporary to 2 MB

    def __init__(self, threshold: float, num_perm: int = 64):
        datasketch = require("datasketch", "the near-duplicate filter (--near-dup)")
        self.threshold = threshold
        self.num_perm = num_perm
        self._minhash = datasketch.MinHash
        self._lsh = datasketch.MinHashLSH(threshold=threshold, num_perm=num_perm)
        self._next = 0
        # datasketch >= 2 needs the hashing scheme of signatures rebuilt from their values
        self._scheme = getattr(datasketch.MinHash(num_perm=num_perm, seed=1), "scheme", None)
        generator = np.random.default_rng(1)  # fixed: signatures must agree across processes and runs
        self._a = generator.integers(1, 1 << 32, num_perm, dtype=np.uint64)[:, None]
        self._b = generator.integers(0, 1 << 32, num_perm, dtype=np.uint64)[:, None]

    def signature(self, sentences: list[str]) -> np.ndarray:
        """MinHash values of one document (computed in workers)."""
        codes = np.frombuffer("".join(sentences).encode("utf-32-le"), dtype="<u4").astype(np.uint64)
        if len(codes) < self.SHINGLE:
            codes = np.concatenate([codes, np.zeros(self.SHINGLE - len(codes), dtype=np.uint64)])
        count = len(codes) - self.SHINGLE + 1
        shingles = np.zeros(count, dtype=np.uint64)
        with np.errstate(over="ignore"):  # wrap-around is part of the hash
            for k in range(self.SHINGLE):
                shingles = shingles * np.uint64(1_000_003) + codes[k : k + count]
        shingles = np.unique(shingles & np.uint64(0xFFFFFFFF))
        signature = np.full(self.num_perm, np.iinfo(np.uint64).max, dtype=np.uint64)
        for start in range(0, len(shingles), self._SLICE):
            part = shingles[None, start : start + self._SLICE]
            # a, h < 2^32 and b < 2^32, so a * h + b < 2^64: no overflow before the modulus
            permuted = (self._a * part + self._b) % self._PRIME
            np.minimum(signature, permuted.min(axis=1), out=signature)
        return signature & np.uint64(0xFFFFFFFF)

    def is_duplicate(self, hashvalues: np.ndarray) -> bool:
        """True where a similar document was kept before; otherwise remember this one."""
        minhash = self._minhash(num_perm=self.num_perm, seed=1, hashvalues=hashvalues, scheme=self._scheme)
        if self._lsh.query(minhash):
            return True
        self._lsh.insert(str(self._next), minhash, check_duplication=False)
        self._next += 1
        return False

    @property
    def inserted(self) -> int:
        """Documents remembered so far."""
        return self._next

    def forget_since(self, inserted: int) -> None:
        """Forget the documents remembered after the first `inserted` ones."""
        for key in range(inserted, self._next):
            self._lsh.remove(str(key))
        self._next = inserted

    def __getstate__(self):  # workers only compute signatures: ship the settings, not the index
        return {"num_perm": self.num_perm, "threshold": self.threshold}

    def __setstate__(self, state):
        self.__init__(state["threshold"], state["num_perm"])


@dataclass
class Kept:
    """What the dedup filters decided for one cleaned chunk: which documents and sentences stay,
    why each dropped document went, and what the filters now remember (for the resume state)."""

    documents: np.ndarray
    """Per document: kept (after exact and near-duplicate dedup)."""
    dropped: dict[int, str]
    """Dropped document index -> the rule that dropped it ('document_dedup' or 'near_dedup')."""
    sentences: np.ndarray
    """Per sentence of the chunk (documents in order): kept by sentence dedup (True in dropped documents too)."""
    remembered: dict[str, np.ndarray]
    """Dedup kind ('sentences', 'documents', 'signatures') -> the values this chunk added to its filter."""


class DedupFilters:
    """The whole corpus's dedup state, in corpus order: exact documents, near-duplicates, exact sentences."""

    def __init__(self, documents: bool, sentences: bool, near: NearDuplicates | None):
        self.documents = HashSet() if documents else None
        self.sentences = HashSet() if sentences else None
        self.near = near

    def snapshot(self) -> tuple:
        """The state now, to go back to (`restore`) when an input is read again; cheap."""
        return (self.documents.snapshot() if self.documents is not None else None,
                self.sentences.snapshot() if self.sentences is not None else None,
                self.near.inserted if self.near is not None else 0)

    def restore(self, snapshot: tuple) -> None:
        documents, sentences, inserted = snapshot
        if self.documents is not None:
            self.documents.restore(documents)
        if self.sentences is not None:
            self.sentences.restore(sentences)
        if self.near is not None:
            self.near.forget_since(inserted)

    def remember(self, kind: str, values: np.ndarray) -> None:
        """Reload what a finished input added (a resumed build): `values` as `Kept.remembered` gave them."""
        if kind == "signatures":
            if self.near is not None:
                for signature in values.reshape(-1, self.near.num_perm):
                    self.near.is_duplicate(signature)
            return
        seen = self.documents if kind == "documents" else self.sentences
        if seen is not None:
            seen.add(values)

    def keep(self, document_digests: np.ndarray, sentence_digests: np.ndarray, lengths: list[int],
             signatures: list[np.ndarray] | None) -> Kept:
        """Decide one chunk: a document seen before (exactly, then nearly) is dropped whole; in the
        documents kept, a sentence seen before is dropped. Updates the filters; writes nothing."""
        count = len(document_digests)
        remembered: dict[str, np.ndarray] = {}
        keep = self.documents.add(document_digests) if self.documents is not None else np.ones(count, dtype=bool)
        # every digest the set took, near-duplicates included: a resumed build reloads exactly this
        remembered["documents"] = document_digests[keep]
        dropped = {int(i): "document_dedup" for i in np.flatnonzero(~keep)}
        if self.near is not None:
            added = []
            for i in np.flatnonzero(keep):
                if self.near.is_duplicate(signatures[i]):
                    keep[i] = False
                    dropped[int(i)] = "near_dedup"
                else:
                    added.append(signatures[i])
            remembered["signatures"] = np.concatenate(added) if added else np.empty(0, dtype=np.uint64)
        sentences = np.ones(len(sentence_digests), dtype=bool)
        if self.sentences is not None and count:
            wanted = np.repeat(keep, lengths)
            sentences[wanted] = self.sentences.add(sentence_digests[wanted])
            remembered["sentences"] = sentence_digests[wanted & sentences]
        return Kept(documents=keep, dropped=dropped, sentences=sentences, remembered=remembered)
