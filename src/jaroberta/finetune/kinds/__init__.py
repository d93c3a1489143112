"""The registry of fine-tuning kinds: `KINDS` by name, `kind_for_training` and `kind_of_head`.

Each kind is one module implementing the `TaskKind` protocol (`base.py`): `classify.py`,
`pair.py` (with `sequence.py`, what the two share), `ner.py`, `qa.py` (extractive QA) and
`choice.py` (multiple choice). Adding a kind: write its
module, add its class to `_REGISTERED` below.
"""

from __future__ import annotations

from jaroberta.errors import JarobertaError
from jaroberta.finetune.kinds.base import TaskKind
from jaroberta.finetune.kinds.choice import ChoiceKind
from jaroberta.finetune.kinds.classify import ClassifyKind
from jaroberta.finetune.kinds.ner import NerKind
from jaroberta.finetune.kinds.pair import PairKind
from jaroberta.finetune.kinds.qa import QAKind

_REGISTERED: tuple[type, ...] = (ClassifyKind, NerKind, PairKind, QAKind, ChoiceKind)

KINDS: dict[str, type] = {kind.name: kind for kind in _REGISTERED}
"""Kind classes by name (`jaroberta finetune NAME`, the `task` of a fine-tuned model's meta)."""


def kind_class(name: str) -> type:
    """The kind registered as `name`."""
    if name not in KINDS:
        raise JarobertaError(f"unknown fine-tuning task {name!r}; choose one of {sorted(KINDS)}")
    return KINDS[name]


def kind_for_training(name: str, objective: str = "auto", train: list = (), **settings) -> TaskKind:
    """The kind of a run, its objective resolved from the training examples when 'auto'; `settings`:
    the kind's own (`TaskKind.settings`)."""
    return kind_class(name).for_training(objective, list(train), **settings)


def kind_of_head(head: dict) -> TaskKind:
    """The kind of a saved fine-tuned model, from its meta's `finetune` entry."""
    return kind_class(head["task"]).from_head(head)
