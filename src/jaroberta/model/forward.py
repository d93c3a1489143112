"""Batched forward passes shared by fill-mask, scoring and embeddings.

Two speed habits live here, once:
- length-bucketed batches: inputs are sorted by length and cut into batches, so a batch
  pads to nearly its own length instead of the longest input of the whole run; results
  are put back in the caller's order;
- the masked-LM head runs only at the queried positions (`LoadedModel.logits_at`): the
  (hidden x vocab) decoder is skipped for every other token.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from jaroberta.model.loading import LoadedModel
from jaroberta.core.progress import progress_bar


def length_buckets(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices into `lengths`, longest first, cut into batches of at most `batch_size`."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def progress(batches: list, what: str):
    # disable=None: a bar on a terminal, silence in logs and tests.
    return progress_bar(batches, desc=what, unit="batch", disable=None if len(batches) > 1 else True, leave=False)


def query_logits(
    lm: LoadedModel,
    sequences: Sequence[list[int]],
    queries: Sequence[Sequence[int]],
    *,
    batch_size: int,
    what: str = "predicting",
) -> Iterator[tuple[int, torch.Tensor]]:
    """For each framed sequence i, the logits (len(queries[i]), V) at its queried positions.

    Yields (i, logits) batch by batch in length order, not input order: callers reduce
    each distribution at once (top-k, gather) instead of keeping N x V floats around.
    """
    batches = length_buckets([len(s) for s in sequences], batch_size)
    with torch.inference_mode():
        for batch_ids in progress(batches, what):
            inputs = lm.batch_inputs([sequences[i] for i in batch_ids])
            rows = [row for row, i in enumerate(batch_ids) for _ in queries[i]]
            cols = [col for i in batch_ids for col in queries[i]]
            logits = lm.logits_at(inputs, torch.tensor(rows, device=lm.device), torch.tensor(cols, device=lm.device))
            start = 0
            for i in batch_ids:
                n = len(queries[i])
                yield i, logits[start : start + n].float()  # (n, V)
                start += n


def token_log_probs(
    lm: LoadedModel,
    sequences: Sequence[list[int]],
    positions: Sequence[int],
    token_ids: Sequence[int],
    *,
    batch_size: int,
    what: str = "scoring",
) -> list[float]:
    """log P(token_ids[i] at positions[i] | sequences[i]) for every i, in input order."""
    out = [0.0] * len(sequences)
    queries = [[p] for p in positions]
    for i, logits in query_logits(lm, sequences, queries, batch_size=batch_size, what=what):
        out[i] = float(torch.log_softmax(logits[0], dim=-1)[token_ids[i]])
    return out


def hidden_states(
    lm: LoadedModel, sequences: Sequence[list[int]], *, batch_size: int, what: str = "encoding"
) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
    """(indices, hidden (B, T, H), attention_mask (B, T)) per length-bucketed batch."""
    batches = length_buckets([len(s) for s in sequences], batch_size)
    with torch.inference_mode():
        for batch_ids in progress(batches, what):
            inputs = lm.batch_inputs([sequences[i] for i in batch_ids])
            yield batch_ids, lm.hidden_states(inputs).float(), inputs["attention_mask"]
