"""Masked-language-model pretraining: the MLM task plugged into the shared loop.

    pretrain(plan_pretraining(PretrainConfig(shards=..., out=..., steps=...)))

`plan_pretraining` decides every "None = the recipe's" once (the plan is saved whole into the
run's config.json); `pretrain` then reads plan -> shards -> model -> loop -> model folder:
- the shards (from `jaroberta pack`) bring their tokenizer; a model or checkpoint made
  with any other tokenizer (different fingerprint) is refused, unless the shards' tokenizer
  extends the model's (`jaroberta tokenizer extend`): then the model grows (`model/grow.py`);
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
from typing import Literal

import numpy as np
import torch
from transformers import AutoModelForMaskedLM

from jaroberta.core.outputs import claim_output
from jaroberta.core.runtime import processes
from jaroberta.corpus.shards import TOKENIZER_DIR, ShardHeader, open_split
from jaroberta.errors import JarobertaError
from jaroberta.model.conventions import InputConventions
from jaroberta.model.families import Family, family_of_tokenizer, get_recipe
from jaroberta.model.grow import model_for_tokenizer
from jaroberta.model.integrity import LOAD_ERRORS, load_error
from jaroberta.model.loading import LoadedModel, check_model_files, check_model_folder
from jaroberta.model.masking import IGNORE_INDEX, NO_WORD, MaskingConfig, mask_batch
from jaroberta.model.perplexity import masked_nll
from jaroberta.model.presets import build_model, config_from_file, max_sequence_length, model_config
from jaroberta.model.recipes import Recipe
from jaroberta.model.saving import save_model
from jaroberta.text import JaTokenizer, load_tokenizer
from jaroberta.train.data import Batch, Cursor, ShuffledRows, read_rows
from jaroberta.train.distributed import Runtime
from jaroberta.train.loop import LoopConfig, StepBatch, TrainResult, train
from jaroberta.train.memory import MemoryEstimate, transformer_estimate
from jaroberta.train.objective import MaskedLMObjective, trim_padding
from jaroberta.train.sampler import LengthGroupedRows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainConfig:
    """What `jaroberta pretrain` (and `jaroberta.pretrain`) is asked: None means "the recipe's",
    resolved once by `plan_pretraining`."""

    shards: Path
    """Shard folder made by `jaroberta pack`."""
    out: Path
    """Run folder: config.json, log.jsonl, loss.png, checkpoints/, model/."""
    steps: int
    """Optimizer steps."""
    preset: str = "tiny"
    """Model shape, sized to the shards' tokenizer."""
    model_config: Path | None = None
    """Build the model from any Hugging Face config.json instead of a preset."""
    init_from: Path | None = None
    """Continue pretraining a model folder or hub id (its tokenizer must be the shards', or extended into it)."""
    revision: str | None = None
    """Hub commit, branch or tag of init_from when it is a hub id."""
    recipe: str | None = None
    """Hyperparameters of a seed model ('rinna', 'jmedroberta', 'bert'); None = the recipe of the shards' family."""
    batch_size: int | None = None
    """Rows per optimizer step over all processes, a multiple of micro_batch x processes; gradient
    accumulation fills the rest; None = one micro-batch per process."""
    micro_batch: int = 16
    """Rows per forward pass per process."""
    lr: float | None = None
    """Peak learning rate; None = the recipe's."""
    warmup_steps: int | None = None
    """Linear warmup steps (then linear decay to 0); None = warmup_ratio of the steps."""
    warmup_ratio: float | None = None
    """Linear warmup as a share of the steps; None = the recipe's."""
    weight_decay: float | None = None
    """AdamW weight decay; None = the recipe's."""
    clip: float | None = None
    """Gradient-norm clipping, 0 = none; None = the recipe's."""
    mask_rate: float | None = None
    """Fraction of tokens masked; None = the recipe's (0.15)."""
    whole_word: bool | None = None
    """Whole-word masking; None = the recipe's choice for the shards' tokenizer (on for MeCab with the jmedroberta recipe)."""
    seed: int | None = None
    """Seed of model init, data order, masks and dropout; None = the recipe's."""
    group_by_length: bool = False
    """Batch rows of similar length together: training pays for real tokens, not padding (document
    layout); the order stays fixed by the seed and resumable."""
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """auto = bf16 on GPUs that have it, fp16 on other GPUs, fp32 on CPU."""
    device: str = "auto"
    """auto, cpu or cuda; auto = cuda when available, else cpu; under torchrun LOCAL_RANK picks the GPU."""
    compile: bool = False
    """torch.compile the model (a slow first step, faster after)."""
    eval_every: int = 0
    """Dev evaluation every N steps, 0 = at the end only."""
    eval_limit: int = 512
    """Evaluate at most N dev rows, 0 = all."""
    eval_batch: int = 32
    """Rows per forward pass in evaluation."""
    mask_seed: int = 0
    """Seed of the fixed dev masks (runs with the same seed compare; 0 as `jaroberta eval perplexity`)."""
    save_every: int = 0
    """Checkpoint every N steps, 0 = at the end only."""
    keep_checkpoints: int = 2
    """Newest checkpoints kept."""
    log_every: int = 10
    """Train line in log.jsonl every N steps."""
    patience: int = 0
    """Stop after N evaluations without a better dev loss, 0 = never."""
    resume: bool = False
    """Continue the run in `out` from its newest checkpoint."""
    overwrite: bool = False
    """Replace an earlier pretraining run in `out` (files it did not write are kept)."""
    collective_timeout_s: float = 600.0
    """torchrun: seconds a process waits for the others before the run stops with the lost rank
    named; must exceed rank 0's evaluation time."""
    progress: bool = True
    """Show a progress bar (rank 0)."""
    license: str | None = None
    """License of the model card written with the model (an SPDX id); None = the corpus's."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "shards", Path(self.shards))
        object.__setattr__(self, "out", Path(self.out))
        if self.micro_batch < 1:
            raise JarobertaError(f"micro_batch must be >= 1, got {self.micro_batch}")
        if self.model_config is not None and self.init_from is not None:
            raise JarobertaError("give model_config or init_from, not both")
        if self.eval_limit < 0 or self.eval_batch < 1:
            raise JarobertaError("eval_limit must be >= 0 and eval_batch >= 1")
        if self.warmup_steps is not None and self.warmup_ratio is not None:
            raise JarobertaError("give warmup_steps or warmup_ratio, not both")

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
    """A `PretrainConfig` resolved once: every "None = the recipe's" decided, saved whole into
    the run's config.json, and the only thing the task and the loop read afterwards."""

    config: PretrainConfig
    header: ShardHeader
    """The shards' `shards.json`."""
    tokenizer: JaTokenizer
    """The tokenizer the shards were packed with."""
    family: Family
    """The family of that tokenizer."""
    recipe: Recipe
    """The named recipe, or the family's."""
    masking: MaskingConfig
    """The recipe's masking with the config's rate and whole-word choice."""
    accumulation: int
    """Micro-batches per optimizer step on each process (batch_size / (micro_batch x processes))."""
    world_size: int
    """Processes the plan was made for."""
    loop: LoopConfig
    """The recipe's optimizer and schedule scaled to the steps, with the config's overrides."""

    @property
    def seed(self) -> int:
        return self.loop.seed

    def to_dict(self) -> dict:
        """The config with every value the plan decided filled in (what config.json records)."""
        loop = self.loop
        decided = {"recipe": self.config.recipe or self.family.recipe, "lr": loop.lr, "warmup_steps": loop.warmup_steps,
                   "warmup_ratio": None, "weight_decay": loop.weight_decay, "clip": loop.clip, "seed": self.seed,
                   "mask_rate": self.masking.rate, "whole_word": self.masking.whole_word,
                   "batch_size": self.config.micro_batch * self.accumulation * self.world_size}
        return {**self.config.to_dict(), **decided, "accumulation": self.accumulation, "masking": asdict(self.masking)}


def plan_pretraining(config: PretrainConfig, world_size: int | None = None) -> PretrainPlan:
    """Read the shards once and resolve the family, the recipe, the masking, the batch and the
    loop (`world_size`: processes, default torchrun's)."""
    header = ShardHeader.load(config.shards)
    tokenizer = _shard_tokenizer(config.shards, header)
    family = family_of_tokenizer(header.tokenizer_kind, getattr(tokenizer, "system_dict", None))
    recipe = get_recipe(config.recipe) if config.recipe else family.get_recipe()
    world_size = processes().world_size if world_size is None else world_size
    warmup_steps = config.warmup_steps
    if config.warmup_ratio is not None:
        warmup_steps = round(config.steps * config.warmup_ratio)
    loop = loop_config(recipe, config.out, config.steps, lr=config.lr, warmup_steps=warmup_steps,
                       weight_decay=config.weight_decay, clip=config.clip, seed=config.seed,
                       precision=config.precision, device=config.device, compile=config.compile,
                       eval_every=config.eval_every, save_every=config.save_every,
                       keep_checkpoints=config.keep_checkpoints, log_every=config.log_every,
                       patience=config.patience, resume=config.resume, overwrite=config.overwrite,
                       collective_timeout_s=config.collective_timeout_s, progress=config.progress)
    return PretrainPlan(config, header, tokenizer, family, recipe, _masking(config, recipe, header),
                        _accumulation(config.batch_size, config.micro_batch, world_size), world_size, loop)


def _accumulation(batch_size: int | None, micro_batch: int, world_size: int) -> int:
    if batch_size is None:
        return 1
    per_step = micro_batch * world_size
    if batch_size < per_step or batch_size % per_step:
        raise JarobertaError(f"batch_size {batch_size} must be a multiple of micro_batch {micro_batch} x "
                             f"{world_size} process(es) = {per_step}")
    return batch_size // per_step


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


def pretrain(plan: PretrainPlan) -> TrainResult:
    """Pretrain a masked LM on packed shards, as planned; the model folder is `result.model_dir`."""
    if processes().is_main:  # before any work: OUT is new, empty, or an earlier pretraining run
        claim_output(plan.loop.out, "pretrain", overwrite=plan.loop.overwrite, resume=plan.loop.resume)
    return train(MaskedLMTask(plan), plan.loop)


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
        self.plan = plan
        self.config = config
        self.recipe = recipe
        self.header = plan.header
        self.tokenizer = plan.tokenizer
        self.conventions = InputConventions.from_dict(self.header.conventions)
        self.seed = plan.seed
        self.masking = plan.masking
        self.accumulation = plan.accumulation
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
        rows_per_step = self.config.micro_batch * self.accumulation * runtime.world_size
        if len(self.train_rows) < rows_per_step:
            raise JarobertaError(
                f"{self.config.shards}: the train split has {len(self.train_rows)} rows, fewer than one global batch "
                f"({self.config.micro_batch} x {self.accumulation} x {runtime.world_size} processes = {rows_per_step}): "
                f"the corpus is too small; add text, or lower micro_batch / batch_size"
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
        nll, n = masked_nll(lm, self._dev_windows(lm), seed=self.config.mask_seed, rate=self.masking.rate,
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
        return {"task": "mlm", **self.plan.to_dict(),
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
        limit = len(self.dev_rows) if not self.config.eval_limit else min(self.config.eval_limit, len(self.dev_rows))
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
                             f"{header.seq_len}: re-pack with a smaller max_length or raise max_position_embeddings")
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
        whole_word = recipe.whole_word_for_mecab and header.tokenizer_kind == "mecab-wordpiece"
    masking = replace(recipe.masking, whole_word=whole_word)
    if config.mask_rate is not None:
        try:
            masking = replace(masking, rate=config.mask_rate)
        except ValueError as exc:
            raise JarobertaError(f"mask_rate: {exc}") from exc
    return masking


def _warn_layout(recipe: Recipe, header: ShardHeader) -> None:
    if recipe.layout != header.layout:
        log.info("note: the recipe's seed trained on the '%s' layout, these shards use '%s' (re-pack with --layout %s to match)",
                    recipe.layout, header.layout, recipe.layout)
