"""The train/dev split: decided by each document's own digest, never by order or chance.

A document goes to dev when its 64-bit digest falls below `dev_fraction * 2**64`: the digest
(BLAKE2b) of its raw lines as read from the input, before any cleaning rule, so a change to
the cleaning (a line joined, a sentence dropped) keeps every document in its split and a dev
set stays the same documents. The same document lands in the same split on every run, with
any number of workers or shards, on any machine. Where that leaves dev empty (a small
corpus), the train document with the smallest digest moves to dev: still deterministic.
"""

from __future__ import annotations

from jaroberta.errors import JarobertaError

_SPACE = 1 << 64


def dev_threshold(dev_fraction: float) -> int:
    """Digests below this go to dev."""
    if not 0.0 < dev_fraction < 1.0:
        raise JarobertaError(f"dev_fraction must be between 0 and 1 (exclusive), got {dev_fraction}")
    return int(dev_fraction * _SPACE)


def split_of(document_digest: int, threshold: int) -> str:
    """'dev' or 'train' for a document digest."""
    return "dev" if document_digest < threshold else "train"
