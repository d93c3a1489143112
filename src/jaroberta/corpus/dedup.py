"""Exact and near-duplicate filters over the whole corpus (main process).

Exact dedup remembers 8-byte digests, not strings: `HashSet` keeps them in sorted uint64
arrays (a large one plus a small one that absorbs each batch), so memory is 8 bytes per
distinct sentence or document, twice that for a moment while the small array is merged
into the large one. 1 GB of Japanese text is about 10 M sentences: ~80 MB.
With 64-bit digests, the chance that any two of 10 M distinct sentences collide (and one
is wrongly dropped) is about 3e-6.

The near-duplicate filter (`--near-dup THRESHOLD`) uses datasketch's MinHash LSH over
character 5-grams of each document; the LSH index grows by roughly num_perm * 8 bytes per
document kept, so it is off by default.
"""

from __future__ import annotations

import numpy as np

from jaroberta.deps import require

_MIN_MERGE = 1 << 16


class HashSet:
    """A set of uint64 digests with batched, vectorised membership tests."""

    def __init__(self) -> None:
        self._large = np.empty(0, dtype=np.uint64)
        self._small = np.empty(0, dtype=np.uint64)

    def __len__(self) -> int:
        return len(self._large) + len(self._small)

    @property
    def nbytes(self) -> int:
        return self._large.nbytes + self._small.nbytes

    def add(self, digests: np.ndarray) -> np.ndarray:
        """Add a batch; returns a mask of the entries seen for the first time (in batch order)."""
        fresh = np.zeros(len(digests), dtype=bool)
        if not len(digests):
            return fresh
        unique, first = np.unique(digests, return_index=True)
        new = ~(_contains(self._large, unique) | _contains(self._small, unique))
        fresh[first[new]] = True
        self._small = _merge(self._small, unique[new])
        if len(self._small) > max(_MIN_MERGE, len(self._large) // 8):
            self._large, self._small = _merge(self._large, self._small), np.empty(0, dtype=np.uint64)
        return fresh

    def array(self) -> np.ndarray:
        """All digests, sorted (to save with a finished input)."""
        return _merge(self._large, self._small)


def _contains(sorted_array: np.ndarray, values: np.ndarray) -> np.ndarray:
    if not len(sorted_array):
        return np.zeros(len(values), dtype=bool)
    at = np.searchsorted(sorted_array, values)
    at[at == len(sorted_array)] = 0
    return sorted_array[at] == values


def _merge(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # Timsort ("stable") finds the two sorted runs and merges them in linear time.
    if not len(b):
        return a
    if not len(a):
        return b
    return np.sort(np.concatenate([a, b]), kind="stable")


def digests(raw: bytes) -> np.ndarray:
    """Concatenated 8-byte digests as a uint64 array (little-endian on every machine)."""
    return np.frombuffer(raw, dtype="<u8").astype(np.uint64, copy=False)


class NearDuplicates:
    """MinHash LSH over character 5-grams: drops a document similar to one already kept."""

    SHINGLE = 5

    def __init__(self, threshold: float, num_perm: int = 64):
        datasketch = require("datasketch", "the near-duplicate filter (--near-dup)")
        self.threshold = threshold
        self.num_perm = num_perm
        self._minhash = datasketch.MinHash
        self._lsh = datasketch.MinHashLSH(threshold=threshold, num_perm=num_perm)
        self._next = 0
        # datasketch >= 2 needs the hashing scheme of signatures rebuilt from their values
        self._scheme = getattr(datasketch.MinHash(num_perm=num_perm, seed=1), "scheme", None)

    def signature(self, sentences: list[str]) -> np.ndarray:
        """MinHash values of one document (computed in workers)."""
        text = "".join(sentences)
        shingles = {text[i : i + self.SHINGLE].encode("utf-8") for i in range(max(1, len(text) - self.SHINGLE + 1))}
        minhash = self._minhash(num_perm=self.num_perm, seed=1)
        minhash.update_batch(list(shingles))
        return minhash.hashvalues

    def is_duplicate(self, hashvalues: np.ndarray) -> bool:
        """True where a similar document was kept before; otherwise remember this one."""
        minhash = self._minhash(num_perm=self.num_perm, seed=1, hashvalues=hashvalues, scheme=self._scheme)
        if self._lsh.query(minhash):
            return True
        self._lsh.insert(str(self._next), minhash, check_duplication=False)
        self._next += 1
        return False

    def __getstate__(self):  # workers only compute signatures: ship the settings, not the index
        return {"num_perm": self.num_perm, "threshold": self.threshold}

    def __setstate__(self, state):
        self.__init__(state["threshold"], state["num_perm"])
