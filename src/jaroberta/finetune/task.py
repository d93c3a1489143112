"""`FinetuneTask`: a fine-tuning run as the one training loop sees it (`jaroberta.train.loop.Task`).

The loop owns optimizer, schedule, precision, torchrun, evaluation and checkpoints; this object
says what a batch is, what the loss is (the kind's), what the dev metrics are and how the model
folder is written. `evaluate_rows` scores a model on encoded rows (dev, and test after training).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from jaroberta.errors import JarobertaError
from jaroberta.finetune.kinds.base import FINETUNE_META_KEY, Row, TaskKind, decode_all, forward_rows, head_names
from jaroberta.model.loading import LoadedModel
from jaroberta.model.saving import save_model
from jaroberta.train.data import Cursor, ShuffledRows
from jaroberta.train.distributed import Runtime
from jaroberta.train.loop import StepBatch
from jaroberta.train.memory import transformer_estimate

log = logging.getLogger(__name__)


@dataclass
class Batching:
    """How a global batch is cut."""

    batch_size: int
    """Examples per optimizer step, over all processes."""
    micro_batch: int
    """Examples per forward pass on one process."""
    eval_batch: int
    """Examples per forward pass when evaluating."""
    seed: int
    """Seed of the example order."""


class _Rows:
    """Just enough of a shard split for `ShuffledRows`: a length."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n


class FinetuneTask:
    """Fine-tuning of one model on rows encoded by its kind."""

    def __init__(self, kind: TaskKind, lm: "LoadedModel", labels: list[str], train: list[Row], dev_examples: list, dev: list[Row],
                 batching: Batching, description: dict):
        self.kind = kind
        self.lm = lm
        self.model = lm.model
        self.labels = labels
        self.train_rows = train
        self.dev_examples = dev_examples
        self.dev_rows = dev
        self.batching = batching
        self.description = description
        self.order = ShuffledRows(_Rows(len(train)), batching.batch_size, batching.seed)
        self.runtime: "Runtime | None" = None
        self.accumulation = 1

    # -- the loop's interface ------------------------------------------------------------
    def setup(self, runtime: "Runtime") -> None:
        self.runtime = runtime
        per_process, rest = divmod(self.batching.batch_size, runtime.world_size)
        if rest or per_process % self.batching.micro_batch:
            raise JarobertaError(
                f"--batch-size {self.batching.batch_size} must split into {runtime.world_size} process(es) x "
                f"micro-batches of --micro-batch {self.batching.micro_batch}; choose sizes that divide"
            )
        self.accumulation = per_process // self.batching.micro_batch

    def next_batch(self) -> StepBatch:
        # Every process draws the same global batch from one (seed, epoch) permutation (the pretraining
        # order code) and keeps its slice: the gradient does not depend on the number of processes.
        indices = self.order.next_indices()
        rank, world = (self.runtime.rank, self.runtime.world_size) if self.runtime else (0, 1)
        per_process = len(indices) // world
        mine = indices[rank * per_process : (rank + 1) * per_process]
        size = self.batching.micro_batch
        micro = [[self.train_rows[i] for i in mine[start : start + size]] for start in range(0, len(mine), size)]
        return StepBatch(micro_batches=micro, tokens=sum(self.train_rows[i].length for i in indices))

    def loss(self, model: torch.nn.Module, micro: list[Row]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.kind.loss(model(**self.kind.batch_inputs(self.lm, micro)), micro)

    def evaluate(self, model: torch.nn.Module) -> dict[str, float]:
        """Dev loss and the kind's metrics, prefixed `dev_`."""
        scores = evaluate_rows(self.kind, model, self.lm, self.labels, self.dev_examples, self.dev_rows, self.batching.eval_batch)
        return {f"dev_{name}": value for name, value in scores.items()}

    def save_model(self, directory: Path, meta: dict) -> None:
        save_model(directory, self.model, self.lm.tokenizer, self.lm.conventions,
                   {**meta, FINETUNE_META_KEY: self.head_description()})

    def load_model(self, directory: Path) -> None:
        state = load_file(str(Path(directory) / "model.safetensors"))
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        # save_pretrained leaves out weights tied to others; anything else missing is a broken checkpoint.
        tied = set(getattr(self.model, "all_tied_weights_keys", {}) or {})
        if unexpected or set(missing) - tied:
            raise JarobertaError(f"{directory}: weights do not match the model (missing {sorted(set(missing) - tied)[:3]}, "
                                 f"unexpected {sorted(unexpected)[:3]})")

    def state_dict(self) -> dict:
        return {"cursor": self.order.cursor.to_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.order = ShuffledRows(_Rows(len(self.train_rows)), self.batching.batch_size, self.batching.seed,
                                  Cursor(**state["cursor"]))

    def describe(self) -> dict:
        return self.description

    def estimate_memory(self, precision: str):
        longest = max(row.length for row in self.train_rows)
        # No vocabulary projection here: the head is (hidden x labels).
        return transformer_estimate(self.model, self.model.config, self.batching.micro_batch, longest, precision,
                                    predicted_fraction=0.0)

    # -- ours ------------------------------------------------------------------------------
    def head_description(self) -> dict:
        """The meta's `finetune` entry: what `load_finetuned` and `jaroberta predict` read back."""
        return self.kind.head(self.labels)


def evaluate_rows(kind: TaskKind, model: torch.nn.Module, lm: "LoadedModel", labels: list[str], examples: list,
                  rows: list[Row], batch_size: int, what: str = "evaluating") -> dict[str, float]:
    """Mean loss and the kind's metrics of `model` on examples and their encoded rows."""
    return evaluate_with_predictions(kind, model, lm, labels, examples, rows, batch_size, what)[0]


def evaluate_with_predictions(kind: TaskKind, model: torch.nn.Module, lm: "LoadedModel", labels: list[str], examples: list,
                              rows: list[Row], batch_size: int, what: str = "evaluating") -> tuple[dict[str, float], list[dict]]:
    """(mean loss and the kind's metrics, one prediction per example) of `model` on encoded rows."""
    forward = forward_rows(kind, model, lm, rows, batch_size, what)
    predictions = decode_all(kind, examples, rows, forward.outputs, head_names(lm.model))
    return {"loss": forward.mean_loss, **kind.score(examples, predictions, labels)}, predictions
