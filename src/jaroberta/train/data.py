"""Batches from packed shards: deterministic shuffling, a resumable cursor, rank slices.

Every step reads one *global* batch (micro-batch x accumulation x processes rows) in an
order fixed by (seed, epoch). Every process reads and masks the whole global batch with
the same generator, then keeps its own slices: masks therefore do not depend on the
number of processes, which is what makes 2 processes reproduce 1 process exactly.
Reading a few more rows from a memory map costs far less than the model's forward pass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from jaroberta.corpus.shards import NO_WORD_STORED, SplitArrays
from jaroberta.model.masking import NO_WORD


@dataclass
class Cursor:
    """Where the data stream stands: saved in the training state for exact resume."""

    epoch: int = 0
    """Passes started over the training rows."""
    position: int = 0
    """Rows of this epoch's permutation already used."""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Batch:
    """Rows of token ids with what masking needs; tensors (B, T)."""

    ids: torch.Tensor
    """Token ids (int64)."""
    words: torch.Tensor
    """Word index within the row, NO_WORD (-1) at specials and padding."""
    lengths: torch.Tensor
    """(B,) real tokens per row."""

    def rows(self, start: int, stop: int) -> "Batch":
        return Batch(self.ids[start:stop], self.words[start:stop], self.lengths[start:stop])

    @property
    def tokens(self) -> int:
        return int(self.lengths.sum())


class ShuffledRows:
    """An endless stream of global batches over one split, in a (seed, epoch) order."""

    def __init__(self, arrays: SplitArrays, rows_per_step: int, seed: int, cursor: Cursor | None = None):
        self.arrays = arrays
        self.rows_per_step = rows_per_step
        self.seed = seed
        self.cursor = cursor or Cursor()
        self._order = self._permutation(self.cursor.epoch)

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.arrays))

    def next_indices(self) -> np.ndarray:
        """Row indices of the next global batch (a batch may straddle two epochs)."""
        taken: list[np.ndarray] = []
        needed = self.rows_per_step
        while needed:
            if self.cursor.position >= len(self._order):
                self.cursor = Cursor(self.cursor.epoch + 1, 0)
                self._order = self._permutation(self.cursor.epoch)
            chunk = self._order[self.cursor.position : self.cursor.position + needed]
            taken.append(chunk)
            self.cursor = Cursor(self.cursor.epoch, self.cursor.position + len(chunk))
            needed -= len(chunk)
        return np.concatenate(taken)

    def __next__(self) -> Batch:
        return read_rows(self.arrays, np.sort(self.next_indices()))

    def __iter__(self):
        return self


def read_rows(arrays: SplitArrays, indices: np.ndarray) -> Batch:
    """Copy rows out of the memory maps into tensors."""
    ids = torch.from_numpy(arrays.ids[indices].astype(np.int64))
    stored_words = arrays.words[indices]
    words = torch.from_numpy(np.where(stored_words == NO_WORD_STORED, NO_WORD, stored_words.astype(np.int64)))
    lengths = torch.from_numpy(arrays.lengths[indices].astype(np.int64))
    return Batch(ids, words, lengths)
