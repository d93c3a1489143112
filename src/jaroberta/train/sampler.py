"""Length-grouped global batches: training pays for real tokens, not for padding.

In the document layout (rinna: one document per row, padded to seq_len) most rows are
short and a few are long. Each micro-batch is trimmed to its longest row
(`objective.trim_padding`), so one long document among 16 short ones makes all 16 pay
for its length. Grouping rows of similar length into the same batches removes most of
that padding.

The order is still a pure function of (seed, epoch), like `ShuffledRows`: each epoch's
permutation is cut into *groups* of `group_batches` global batches; inside a group the
rows are sorted by length (longest first) and cut into global batches, and the order of
those batches is shuffled with the same (seed, epoch) generator. A cursor (epoch,
position in that order) therefore resumes exactly, and every process computes the same
order. Inside a global batch the rows stay sorted, so each micro-batch holds rows of
nearly equal length; the processes of a torchrun take consecutive slices of it, so the
first rank gets the longest rows, but one global batch spans a narrow band of lengths
(1/group_batches of the sorted group), which keeps the ranks' steps close in time. The
order does not depend on the number of processes: N processes still train the model one
process trains with the same global batch.

Batches are not a uniform sample any more (a step sees documents of one length class),
but every row is still seen once per epoch, and the loss of a step is the summed
masked-token cross-entropy divided by the global count: the same per-token weighting as
unsorted batches. Bench: BENCHMARKS.md compares dev loss per real token.
"""

from __future__ import annotations

import numpy as np

from jaroberta.corpus.shards import SplitArrays
from jaroberta.train.data import Batch, Cursor, ShuffledRows, read_rows

GROUP_BATCHES = 64
"""Global batches sorted together: more = less padding, but longer runs of similar lengths."""


class LengthGroupedRows(ShuffledRows):
    """`ShuffledRows` whose global batches hold rows of similar length (see the module docstring)."""

    def __init__(self, arrays: SplitArrays, rows_per_step: int, seed: int, cursor: Cursor | None = None,
                 group_batches: int = GROUP_BATCHES):
        if group_batches < 1:
            raise ValueError(f"group_batches must be >= 1, got {group_batches}")
        self.lengths = np.asarray(arrays.lengths, dtype=np.int64)  # read once: sorted every epoch
        self.group_batches = group_batches
        super().__init__(arrays, rows_per_step, seed, cursor)

    def _permutation(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.arrays))
        group = self.rows_per_step * self.group_batches
        batches: list[np.ndarray] = []
        for start in range(0, len(order), group):
            chunk = order[start : start + group]
            # Longest first; ties keep the random order (stable sort): deterministic.
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            full = len(chunk) // self.rows_per_step * self.rows_per_step
            cut = [chunk[i : i + self.rows_per_step] for i in range(0, full, self.rows_per_step)]
            batches.extend(cut[i] for i in rng.permutation(len(cut)))
            if full < len(chunk):  # the epoch's short remainder stays last: later batches keep their alignment
                batches.append(chunk[full:])
        return np.concatenate(batches) if batches else order

    def __next__(self) -> Batch:
        indices = self.next_indices()
        # Sorted inside the batch too (a batch straddling two epochs mixes two groups), so
        # consecutive micro-batches, and the rows of each, have similar lengths.
        return read_rows(self.arrays, indices[np.argsort(-self.lengths[indices], kind="stable")])

