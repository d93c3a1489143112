"""Masked-language-model pretraining: the MLM task plugged into the shared loop.

    pretrain(PretrainConfig(shards=..., out=..., steps=...))

reads config -> shards -> model -> loop -> model folder, top to bottom:
- the shards (from `jaroberta pack`) bring their tokenizer; a model or checkpoint made
  with any other tokenizer (different fingerprint) is refused;
- the model is a preset sized to that tokenizer, any Hugging Face config file, or an
  existing model folder to continue from (`init_from`), always a transformers
  *ForMaskedLM with SDPA attention;
- the recipe (by default the one of the tokenizer's family, `model/families.py`) gives
  optimizer, schedule and masking, scaled to `steps`;
- every step reads one global batch, masks it afresh (model/masking.py) with a generator
  that is part of the checkpoint, and hands each process its rows;
- dev evaluation reports `dev_loss` and `dev_rows_perplexity`: the masked-token
  cross-entropy (and its exp) on the packed dev rows, fixed-seed masks at the run's mask
  rate (`model/perplexity.py`). Not the document perplexity of `jaroberta eval perplexity`
  (whole documents at 15%): the names say which is which.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForMaskedLM

from jaroberta.corpus.shards import TOKENIZER_DIR, ShardHeader, open_split
from jaroberta.errors import JarobertaError
from jaroberta.model.conventions import InputConventions
from jaroberta.model.families import Family, family_of_tokenizer
from jaroberta.model.grow import model_for_tokenizer
from jaroberta.model.integrity import LOAD_ERRORS, load_error
from jaroberta.model.loading import LoadedModel, check_model_files, check_model_folder
from jaroberta.model.masking import IGNORE_INDEX, NO_WORD, MaskingConfig, mask_batch
from jaroberta.model.perplexity import masked_nll
from jaroberta.model.presets import build_model, config_from_file, max_sequence_length, model_config
from jaroberta.model.recipes import Recipe, get_recipe
from jaroberta.model.saving import save_model
from jaroberta.text import JaTokenizer, load_tokenizer
from jaroberta.train.data import Batch, Cursor, ShuffledRows, read_rows
from jaroberta.train.distributed import Runtime
from jaroberta.train.loop import LoopConfig, StepBatch, TrainResult, train
from jaroberta.train.memory import MemoryEstimate, transformer_estimate
from jaroberta.train.objective import MaskedLMObjective, trim_padding
from jaroberta.train.sampler import LengthGroupedRows

log = logging.getLogger(__name__)


@dataclass
class PretrainConfig:
    """What to pretrain on and how the MLM task is set up (optimizer and loop: `LoopConfig`)."""

    shards: Path
    """Shard directory made by `jaroberta pack`."""
    preset: str = "tiny"
    """Model preset (see model/presets.py) when neither `model_config` nor `init_from` is given."""
    model_config: Path | None = None
    """A Hugging Face config.json to build the model from instead of a preset."""
    init_from: Path | None = None
    """A model folder to continue pretraining from (its tokenizer must be the shards', or extended into it)."""
    recipe: str | None = None
    """A seed recipe ('rinna', 'jmedroberta', 'bert'); None = the recipe of the tokenizer's family."""
    micro_batch: int = 16
    """Rows per forward pass on each process."""
    accumulation: int = 1
    """Micro-batches per optimizer step (global batch = micro_batch x accumulation x processes)."""
    mask_rate: float | None = None
    """Fraction of tokens masked; None = the recipe's (15%)."""
    whole_word: bool | None = None
    """Whole-word masking; None = the recipe's choice for the tokenizer's family."""
    eval_rows: int = 512
    """Dev rows evaluated (0 = all)."""
    eval_batch: int = 32
    """Windows per forward pass in evaluation."""
    eval_seed: int = 0
    """Seed of the fixed dev masks (runs with the same seed compare)."""
    seed: int | None = None
    """Seed of model init, data order and masks; None = the recipe's."""
    group_by_length: bool = False
    """Global batches of rows of similar length (train/sampler.py): less padding in the document layout."""

    def __post_init__(self) -> None:
        self.shards = Path(self.shards)
        if self.micro_batch < 1 or self.accumulation < 1:
            raise JarobertaError("--micro-batch and --accumulation must be >= 1")
        if self.model_config is not None and self.init_from is not None:
            raise JarobertaError("give --model-config or --init-from, not both")
        if self.eval_rows < 0 or self.eval_batch < 1:
            raise JarobertaError("--eval-rows must be >= 0 and --eval-batch >= 1")

    def to_dict(self) -> dict:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


def loop_config(recipe: Recipe, out: Path, steps: int, **overrides) -> LoopConfig:
    """The loop settings of a recipe scaled to `steps`; `overrides` (None values ignored) win."""
    values = dict(out=out, steps=steps, lr=recipe.lr, betas=recipe.betas, eps=recipe.eps, weight_decay=recipe.weight_decay,
                  clip=recipe.clip, warmup_steps=recipe.warmup_steps(steps), seed=recipe.seed)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return LoopConfig(**values)


@dataclass(frozen=True)
class PretrainPlan:
    """A `PretrainConfig` resolved once: the shards' header and tokenizer, their family, the recipe."""

    config: PretrainConfig
    header: ShardHeader
    """The shards' `shards.json`."""
    tokenizer: JaTokenizer
    """The tokenizer the shards were packed with."""
    family: Family
    """The family of that tokenizer."""
    recipe: Recipe
    """The named recipe, or the family's."""


def plan_pretraining(config: PretrainConfig) -> PretrainPlan:
    """Read the shards once and resolve the family and the recipe."""
    header = ShardHeader.load(config.shards)
    tokenizer = _shard_tokenizer(config.shards, header)
    family = family_of_tokenizer(header.tokenizer_family, getattr(tokenizer, "system_dict", None))
    recipe = get_recipe(config.recipe) if config.recipe else family.get_recipe()
    return PretrainPlan(config, header, tokenizer, family, recipe)


def steps_for_budget(model, plan: PretrainPlan, minutes: float, *, micro_batch: int, mask_rate: float,
                     limits: tuple[int, int]) -> int:
    """Optimizer steps of `model` (the run's shape, any weights) on rows of the shards' length that
    fill `minutes` on this machine, timed on a few steps of random rows; within `limits`."""
    header = plan.header
    objective = MaskedLMObjective(model, explicit_position_ids=plan.family.conventions.explicit_position_ids)
    optimizer = torch.optim.AdamW(model.parameters())
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(10, header.vocab_size, (micro_batch, header.seq_len), generator=generator)
    labels = torch.where(torch.rand(ids.shape, generator=generator) < mask_rate, ids, -100)
    lengths = torch.full((micro_batch,), header.seq_len)
    timings = []
    for _ in range(4):  # the first step pays for allocations: not counted
        started = time.perf_counter()
        objective(ids, labels, lengths).backward()
        optimizer.step()
        optimizer.zero_grad()
        timings.append(time.perf_counter() - started)
    per_step = sorted(timings[1:])[1] * 1.15  # median, plus evaluation and checkpoints
    steps = int(min(max(minutes * 60 / per_step, limits[0]), limits[1]))
    log.info("      %.2f s per step on this machine: %d steps fill %.1f minutes", per_step, steps, minutes)
    return steps


def pretrain(plan: PretrainPlan, loop: LoopConfig) -> TrainResult:
    """Pretrain a masked LM on packed shards; the model folder is `result.model_dir`.

    `loop` is usually `loop_config(plan.recipe, out, steps, ...)`: the recipe's optimizer and
    schedule scaled to `steps`, with the caller's overrides."""
    return train(MaskedLMTask(plan), loop)


@dataclass
class _Micro:
    """One micro-batch on its device."""

    ids: torch.Tensor
    labels: torch.Tensor
    lengths: torch.Tensor


class MaskedLMTask:
    """The MLM objective as a task of the shared loop (see train/loop.py for the interface)."""

    def __init__(self, plan: PretrainPlan):
        config, recipe = plan.config, plan.recipe
        self.config = config
        self.recipe = recipe
        self.header = plan.header
        self.tokenizer = plan.tokenizer
        self.conventions = InputConventions.from_dict(self.header.conventions)
        self.seed = recipe.seed if config.seed is None else config.seed
        self.masking = _masking(config, recipe, self.header)
        _warn_layout(recipe, self.header)
        torch.manual_seed(self.seed)  # model init does not depend on the rank or the run
        self.hf_model, self.growth = _build_model(config, self.header, self.tokenizer)
        self.model = MaskedLMObjective(self.hf_model, self.conventions.explicit_position_ids, self.conventions.position_start)
        self.train_rows = open_split(config.shards, "train", self.header)
        self.dev_rows = open_split(config.shards, "dev", self.header)
        self.stream: ShuffledRows | None = None
        self.generator = torch.Generator().manual_seed(self.seed)

    # -- the loop's interface ---------------------------------------------------------------
    def setup(self, runtime: Runtime) -> None:
        self.runtime = runtime
        rows_per_step = self.config.micro_batch * self.config.accumulation * runtime.world_size
        if len(self.train_rows) < rows_per_step:
            raise JarobertaError(
                f"{self.config.shards}: the train split has {len(self.train_rows)} rows, fewer than one global batch "
                f"({self.config.micro_batch} x {self.config.accumulation} x {runtime.world_size} processes = {rows_per_step}): "
                f"the corpus is too small; add text, or lower --micro-batch / --accumulation"
            )
        self.stream = self._stream(rows_per_step, Cursor())

    def next_batch(self) -> StepBatch:
        """The global batch, masked on CPU with the shared generator; this rank keeps its rows."""
        batch = next(self.stream)
        special = batch.words == NO_WORD  # specials and padding: never masked
        ids, labels = mask_batch(batch.ids, special, self.masking, self.mask_id, self.tokenizer.vocab_size,
                                 self.generator, word_ids=batch.words)
        per_rank = len(ids) // self.runtime.world_size
        start = self.runtime.rank * per_rank
        micro = self.config.micro_batch
        micro_batches = [self._micro(ids, labels, batch.lengths, s, s + micro) for s in range(start, start + per_rank, micro)]
        return StepBatch(micro_batches, tokens=batch.tokens)

    def loss(self, model: torch.nn.Module, micro: _Micro) -> tuple[torch.Tensor, torch.Tensor]:
        return model(micro.ids, micro.labels, micro.lengths), (micro.labels != IGNORE_INDEX).sum()

    def evaluate(self, model: torch.nn.Module) -> dict[str, float]:
        """Dev rows perplexity: masked-token cross-entropy on the packed dev rows at the run's mask rate."""
        lm = LoadedModel(model=self.hf_model, tokenizer=self.tokenizer, conventions=self.conventions, path=self.config.shards)
        nll, n = masked_nll(lm, self._dev_windows(lm), seed=self.config.eval_seed, rate=self.masking.rate,
                            batch_size=self.config.eval_batch)
        loss = nll / n
        return {"dev_loss": loss, "dev_rows_perplexity": math.exp(min(loss, 50.0)), "dev_masked": n}

    def save_model(self, directory: Path, meta: dict) -> None:
        provenance = {"shards": str(self.config.shards), "tokenizer_fingerprint": self.header.tokenizer_fingerprint,
                      "recipe": asdict(self.recipe) | {"masking": asdict(self.masking)}}
        if self.growth is not None:
            provenance["vocabulary_extension"] = self.growth.to_dict()
        save_model(directory, self.hf_model, self.tokenizer, self.conventions, {**meta, **provenance})

    def load_model(self, directory: Path) -> None:
        _check_fingerprint(directory, self.header, what="checkpoint")
        weights = _load_hf_model(directory)
        self.hf_model.load_state_dict(weights.state_dict())

    def state_dict(self) -> dict:
        return {"cursor": self.stream.cursor.to_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.stream = self._stream(self.stream.rows_per_step, Cursor(**state["cursor"]))
        self.generator.set_state(state["generator"])

    def describe(self) -> dict:
        return {"task": "mlm", **self.config.to_dict(), "seed": self.seed, "masking": asdict(self.masking),
                "model": {"type": self.hf_model.config.model_type, "parameters": sum(p.numel() for p in self.hf_model.parameters()),
                          "layers": self.hf_model.config.num_hidden_layers, "hidden": self.hf_model.config.hidden_size},
                "data": {"layout": self.header.layout, "seq_len": self.header.seq_len,
                           "train_rows": len(self.train_rows), "dev_rows": len(self.dev_rows),
                           "tokenizer_fingerprint": self.header.tokenizer_fingerprint}}

    def estimate_memory(self, precision: str) -> MemoryEstimate:
        return transformer_estimate(self.hf_model, self.hf_model.config, self.config.micro_batch, self.header.seq_len,
                                    precision, self.masking.rate)

    # -- helpers ----------------------------------------------------------------------------------
    @property
    def mask_id(self) -> int:
        return self.header.special_ids["mask"]

    def _stream(self, rows_per_step: int, cursor: Cursor) -> ShuffledRows:
        kind = LengthGroupedRows if self.config.group_by_length else ShuffledRows
        return kind(self.train_rows, rows_per_step, self.seed, cursor)

    def _micro(self, ids, labels, lengths, start: int, stop: int) -> _Micro:
        rows = slice(start, stop)
        # document layout: drop the columns that are padding in every row of this micro-batch
        trimmed_ids, trimmed_labels = trim_padding(ids[rows], labels[rows], lengths[rows])
        device = self.runtime.device
        return _Micro(trimmed_ids.to(device, non_blocking=True), trimmed_labels.to(device, non_blocking=True),
                      lengths[rows].to(device))

    def _dev_windows(self, lm):
        """Each dev row cut at its special tokens into documents, framed as inference frames them."""
        limit = len(self.dev_rows) if not self.config.eval_rows else min(self.config.eval_rows, len(self.dev_rows))
        width = lm.conventions.max_pieces
        for start in range(0, limit, 256):
            batch: Batch = read_rows(self.dev_rows, np.arange(start, min(start + 256, limit)))
            for ids, words in zip(batch.ids.tolist(), batch.words.tolist()):
                for run in _runs(ids, words):
                    yield lm.frame(run[:width])


def _runs(ids: list[int], words: list[int]) -> list[list[int]]:
    """Maximal runs of non-special tokens (documents of a `full` row; the document of a `document` row)."""
    runs, current = [], []
    for idx, word in zip(ids, words):
        if word == NO_WORD:
            if current:
                runs.append(current)
            current = []
        else:
            current.append(idx)
    if current:
        runs.append(current)
    return runs


# -- config -> model ------------------------------------------------------------------------------
def _shard_tokenizer(shards: Path, header: ShardHeader):
    tokenizer = load_tokenizer(shards / TOKENIZER_DIR)
    if tokenizer.fingerprint != header.tokenizer_fingerprint:
        raise JarobertaError(f"{shards / TOKENIZER_DIR} is not the tokenizer these shards were packed with "
                             f"(fingerprint differs from shards.json): re-run `jaroberta pack`")
    return tokenizer


def _check_fingerprint(model_dir: Path, header: ShardHeader, what: str) -> None:
    fingerprint = load_tokenizer(model_dir).fingerprint
    if fingerprint != header.tokenizer_fingerprint:
        raise JarobertaError(
            f"the {what} {model_dir} was made with a different tokenizer than the shards (fingerprint {fingerprint[:12]} "
            f"vs {header.tokenizer_fingerprint[:12]}): its token ids mean other words. Pack the corpus with that model's "
            f"tokenizer (`jaroberta pack CORPUS {model_dir} OUT`)"
        )


def _build_model(config: PretrainConfig, header: ShardHeader, tokenizer):
    """(the model, how it was grown to an extended tokenizer or None)."""
    growth = None
    if config.init_from is not None:
        # The shards' tokenizer is checked against the model's: the same, or one extended from it.
        model, growth = model_for_tokenizer(Path(config.init_from), tokenizer, _load_hf_model)
    else:
        if config.model_config is not None:
            hf_config = config_from_file(config.model_config, tokenizer.vocab_size, header.special_ids)
        else:
            hf_config = model_config(config.preset, tokenizer.vocab_size, header.special_ids, header.seq_len)
        model = build_model(hf_config)
    if max_sequence_length(model.config) < header.seq_len:
        raise JarobertaError(f"the model takes at most {max_sequence_length(model.config)} tokens but the shards have rows of "
                             f"{header.seq_len}: re-pack with a smaller --seq-len or raise max_position_embeddings")
    return model, growth


def _load_hf_model(directory: Path):
    weights = check_model_files(check_model_folder(directory))
    try:
        return AutoModelForMaskedLM.from_pretrained(directory, dtype=torch.float32, attn_implementation="sdpa")
    except LOAD_ERRORS as exc:
        raise load_error(weights, exc) from exc


def _masking(config: PretrainConfig, recipe: Recipe, header: ShardHeader) -> MaskingConfig:
    whole_word = config.whole_word
    if whole_word is None:
        whole_word = recipe.whole_word_for_mecab and header.tokenizer_family == "mecab-wordpiece"
    masking = replace(recipe.masking, whole_word=whole_word)
    if config.mask_rate is not None:
        try:
            masking = replace(masking, rate=config.mask_rate)
        except ValueError as exc:
            raise JarobertaError(f"--mask-rate: {exc}") from exc
    return masking


def _warn_layout(recipe: Recipe, header: ShardHeader) -> None:
    if recipe.layout != header.layout:
        log.info("note: the recipe's seed trained on the '%s' layout, these shards use '%s' (re-pack with --layout %s to match)",
                    recipe.layout, header.layout, recipe.layout)
