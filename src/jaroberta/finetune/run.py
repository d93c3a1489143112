"""`finetune(FinetuneConfig(...))`: one fine-tuning run on the one training loop, with its results.

Start at `finetune()`: read the data, build the pretrained encoder under the kind's transformers
head, encode the rows, train with `train.loop.train` (early stopping on dev, best model kept),
reload the best model as users will and score dev and test into `results.json` / `results.md`.
What differs between kinds is the kind's (`finetune/kinds/`).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import transformers

from jaroberta.core.outputs import claim_output, record_output
from jaroberta.core.runtime import processes
from jaroberta.errors import JarobertaError
from jaroberta.finetune.datasets import load_dataset
from jaroberta.finetune.finetuned import load_finetuned
from jaroberta.finetune.kinds import KINDS, kind_class, kind_for_training
from jaroberta.finetune.kinds.base import OBJECTIVES, TaskKind, piece_budget
from jaroberta.finetune.squad import MAX_ANSWER_PIECES, STRIDE, WORD_BOUNDARY_CHOICES, qa_tokenizer
from jaroberta.finetune.task import Batching, FinetuneTask, evaluate_with_predictions
from jaroberta.model.card import write_card
from jaroberta.model.loading import LoadedModel, load
from jaroberta.train.loop import LoopConfig, LoopSettings, train

log = logging.getLogger(__name__)

INITS = ("pretrained", "random")
RESULTS_JSON = "results.json"
RESULTS_TABLE = "results.md"


def finetune_loop(**settings) -> LoopSettings:
    """The loop settings of a fine-tuning run: lr 5e-5 and seed 42 unless given (RoBERTa's
    fine-tuning betas (0.9, 0.98) and clipping 1.0 are the loop's own defaults)."""
    return LoopSettings(**{"lr": 5e-5, "seed": 42, **settings})


@dataclass
class FinetuneConfig:
    """Everything that decides a fine-tuning run."""

    task: str
    """The kind of task: a name of `finetune.kinds.KINDS` ('classify', 'ner', 'pair', 'qa', 'choice')."""
    model: Path
    """Pretrained model folder (jaroberta's, or rinna's / JMedRoBERTa's Hugging Face layout)."""
    out: Path
    """Run directory: logs, checkpoints, `best/` (the fine-tuned model), results."""
    train: Path | None = None
    """Training data file (not with `dataset`)."""
    dev: Path | None = None
    """Dev data for early stopping; None: the last `dev_fraction` of the training file."""
    test: Path | None = None
    """Test data scored once with the best model (optional)."""
    dataset: str | None = None
    """A built-in dataset instead of files: 'hironsan' (NER)."""
    labels: tuple[str, ...] = ()
    """Declared label set (classes, or NER entity types); empty: taken from the data, train and dev must agree."""
    objective: str = "auto"
    """Pairs: 'classification' (JNLI-like), 'regression' (JSTS-like) or 'auto' (regression when every label is a score)."""
    join: str = ""
    """CoNLL: string put between tokens to rebuild the text ('' for Japanese)."""
    init: str = "pretrained"
    """'pretrained' weights, or 'random': the same architecture from random initialisation (a baseline)."""
    epochs: float = 5.0
    """Passes over the training data (ignored when `steps` is set)."""
    steps: int | None = None
    """Optimizer steps (overrides `epochs`)."""
    batch_size: int = 32
    """Examples per optimizer step over all processes."""
    micro_batch: int | None = None
    """Examples per forward pass per process (default: the batch over the processes); accumulation fills the rest."""
    warmup_ratio: float = 0.1
    """Warmup as a share of all steps (linear, then linear decay to 0)."""
    warmup_steps: int | None = None
    """Warmup steps; when set, instead of `warmup_ratio`."""
    eval_every: int | None = None
    """Evaluate on dev every this many steps (default: once per epoch)."""
    patience: int = 3
    """Stop after this many evaluations without a better dev metric (0: never stop early)."""
    metric: str | None = None
    """Dev metric for early stopping and the best model (default: accuracy, entity_f1 or pearson)."""
    max_length: int | None = None
    """Longest framed input (special tokens included); default: the model's conventions."""
    dev_fraction: float = 0.1
    """Share of the training examples held out as dev when no dev file is given."""
    score_before: bool = True
    """Score dev once before training too (what the untrained head starts from; one more pass over dev)."""
    train_limit: int | None = None
    """Train on the first N training examples only (a quick run on a CPU); None: all of them."""
    word_boundaries: str | None = None
    """SentencePiece models: 'mecab' keeps every piece inside a MeCab word (QA answers then start and end on
    pieces far more often); saved with the tokenizer, so predict uses the same. None: the tokenizer as it is."""
    stride: int = STRIDE
    """QA: a new window every this many context pieces when a context does not fit one input (run_squad's doc_stride)."""
    max_answer_length: int = MAX_ANSWER_PIECES
    """QA: longest answer predicted, in pieces (run_squad's max_answer_length)."""
    user_dicts: tuple[Path, ...] = ()
    """MeCab user dictionaries the tokenizer needs (JMedRoBERTa layout)."""
    loop: LoopSettings = field(default_factory=finetune_loop)
    """Optimizer, precision, device, seed (also of the head and the example order), checkpoints:
    the training loop's own settings, with fine-tuning's defaults (`finetune_loop`)."""

    def __post_init__(self) -> None:
        self.model, self.out = Path(self.model), Path(self.out)
        for name in ("train", "dev", "test"):
            if getattr(self, name) is not None:
                setattr(self, name, Path(getattr(self, name)))
        self.labels = tuple(self.labels)
        self.user_dicts = tuple(Path(p) for p in self.user_dicts)
        if self.task not in KINDS:
            raise JarobertaError(f"unknown fine-tuning task {self.task!r}; choose one of {sorted(KINDS)}")
        if (self.train is None) == (self.dataset is None):
            raise JarobertaError("give either training data (train) or a built-in dataset (dataset), not both")
        if self.dataset is not None and (self.dev or self.test):
            raise JarobertaError("dataset brings its own dev and test splits; dev and test apply to data files")
        if self.objective not in OBJECTIVES:
            raise JarobertaError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.init not in INITS:
            raise JarobertaError(f"init must be one of {INITS}, got {self.init!r}")
        if self.epochs <= 0 or (self.steps is not None and self.steps < 1):
            raise JarobertaError("epochs must be > 0 and steps >= 1")
        if self.batch_size < 1 or (self.micro_batch is not None and self.micro_batch < 1):
            raise JarobertaError("batch_size and micro_batch must be >= 1")
        if self.micro_batch is not None and self.batch_size % self.micro_batch:
            raise JarobertaError(f"batch_size {self.batch_size} is not a multiple of micro_batch {self.micro_batch}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise JarobertaError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if not 0.0 < self.dev_fraction < 1.0:
            raise JarobertaError(f"dev_fraction must be in (0, 1), got {self.dev_fraction}")
        if self.patience < 0:
            raise JarobertaError("patience must be >= 0")
        if self.train_limit is not None and self.train_limit < 1:
            raise JarobertaError(f"train_limit must be >= 1, got {self.train_limit}")
        if self.word_boundaries is not None and self.word_boundaries not in WORD_BOUNDARY_CHOICES:
            raise JarobertaError(f"word_boundaries must be one of {WORD_BOUNDARY_CHOICES}, got {self.word_boundaries!r}")

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self), default=str))


@dataclass
class Data:
    """The examples of a run and where they came from."""

    train: list
    dev: list
    test: list = field(default_factory=list)
    source: str = ""


@dataclass
class FinetuneResult:
    """What a fine-tuning run produced."""

    run_dir: Path
    """The run directory."""
    model_dir: Path
    """The fine-tuned model (best dev metric): loads in transformers and with `jaroberta predict`."""
    results: dict
    """Everything in results.json: metrics on dev and test, data and alignment statistics ({} off the main process)."""
    is_main: bool = True
    """True on the process that scored the model and wrote the results (under torchrun: rank 0 only)."""
    predictions: dict = field(default_factory=dict)
    """The best model's prediction of every dev (and test) example, by split, in the data's order (not written)."""


# -- the entry point -------------------------------------------------------------------------
def finetune(config: FinetuneConfig) -> FinetuneResult:
    """Fine-tune, keep the best model, score it on dev and test, write the results."""
    if processes().is_main:  # before any work: OUT is new, empty, or an earlier fine-tuning run
        claim_output(config.out, "finetune", overwrite=config.loop.overwrite, resume=config.loop.resume)
    run = prepare(config)
    before = dev_metrics_now(run.task) if config.score_before else {}
    result = train(run.task, run.loop)
    best = config.out / "best"
    if not processes().is_main:  # under torchrun, rank 0 scores and writes; the others are done
        return FinetuneResult(config.out, best, {}, is_main=False)
    results, predictions = score_model(best, run.task.kind, run.data, run.task.labels, run.budget, user_dicts=config.user_dicts)
    results.update({"dev_before_training": before,
                    "run": {"steps": result.steps, "stopped_early": result.stopped_early, "best_dev": result.best,
                            "metric": run.loop.metric},
                    "config": config.to_dict(), "data": run.data.source, "encoding": run.task.description["encoding"]})
    write_results(config.out, results)
    write_card(best, results=results["metrics"], source=str(config.model))  # now with the test metrics
    record_output(config.out)
    return FinetuneResult(config.out, best, results, predictions=predictions)


@dataclass
class Prepared:
    """A run ready for the loop."""

    task: FinetuneTask
    """The task object the loop trains."""
    loop: LoopConfig
    """The loop's configuration."""
    data: Data
    """The examples."""
    budget: int
    """Text pieces per input."""


def prepare(config: FinetuneConfig) -> Prepared:
    """Data, labels, model and encoded rows: everything before the first step."""
    data = read_data(config)
    kind = kind_for_training(config.task, config.objective, data.train,
                             **{name: getattr(config, name) for name in kind_class(config.task).settings})
    labels = kind.labels(data.train, data.dev, data.test, list(config.labels) or None, config.train or config.dataset,
                         config.dev or "the held-out dev split")
    if config.metric is not None and config.metric not in kind.metric_names:
        raise JarobertaError(f"metric {config.metric!r} is not a dev metric of this task; choose one of {list(kind.metric_names)}")
    lm = build_model(config, kind, labels)
    budget = piece_budget(lm, config.max_length if config.max_length is not None else kind.max_length)
    train_rows, train_stats = kind.encode(lm, data.train, labels, budget)
    dev_rows, dev_stats = kind.encode(lm, data.dev, labels, budget)
    _log_encoding(kind, {"train": train_stats, "dev": dev_stats})
    task, loop = _task_and_loop(config, kind, lm, labels, data, train_rows, dev_rows,
                                {"train": train_stats.to_dict(), "dev": dev_stats.to_dict()})
    return Prepared(task, loop, data, budget)


def dev_metrics_now(task: FinetuneTask) -> dict[str, float]:
    """The dev metrics of the model as it is (before training: what the head starts from)."""
    task.model.eval()
    with torch.no_grad():
        metrics = task.evaluate(task.model)
    task.model.train()
    return metrics


# -- 1. data ---------------------------------------------------------------------------------------
def read_data(config: FinetuneConfig) -> Data:
    """Examples of the run: files (dev held out from train when absent) or a built-in dataset."""
    if config.dataset is not None:
        splits = load_dataset(config.dataset, config.dev_fraction)
        if splits.kind != config.task:
            raise JarobertaError(f"dataset {config.dataset} is a {splits.kind} dataset; run `jaroberta finetune {splits.kind}`")
        return Data(splits.train, splits.dev, splits.test, splits.source)
    kind = kind_class(config.task)
    train = kind.read(config.train, config.join)
    if config.train_limit is not None and config.train_limit < len(train):
        log.info("--train-limit: the first %d of %d training examples of %s", config.train_limit, len(train), config.train)
        train = train[: config.train_limit]
    test = kind.read(config.test, config.join) if config.test else []
    if config.dev is not None:
        return Data(train, kind.read(config.dev, config.join), test, f"{config.train} (dev {config.dev})")
    held = max(1, round(len(train) * config.dev_fraction))
    if len(train) - held < 1:
        raise JarobertaError(f"{config.train}: {len(train)} example(s) are too few to hold out a dev split; give dev (a file)")
    log.info("no --dev: the last %d of %d examples of %s are the dev split", held, len(train), config.train)
    return Data(train[:-held], train[-held:], test, f"{config.train} (last {held} examples as dev)")


# -- 2. model ---------------------------------------------------------------------------------------
def build_model(config: FinetuneConfig, kind: TaskKind, labels: list[str]) -> LoadedModel:
    """The pretrained encoder (or the same architecture, random) under a transformers task head."""
    torch.manual_seed(config.loop.seed)  # the head (and any pooler the checkpoint lacks) starts the same every run
    base = load(config.model, user_dicts=list(config.user_dicts) or None, head="base")
    tokenizer = qa_tokenizer(base.tokenizer, config.word_boundaries)
    model_config = base.model.config
    for key, value in kind.head_config(labels).items():
        setattr(model_config, key, value)
    auto = getattr(transformers, kind.auto_class)
    torch.manual_seed(config.loop.seed)
    model = auto.from_config(model_config, attn_implementation="sdpa")
    if config.init == "pretrained":
        _copy_encoder(base.model, model, config.model)
    else:
        log.info("--init random: %s with random weights (a baseline for what pretraining brings)", type(model).__name__)
    model.train()
    return LoadedModel(model=model, tokenizer=tokenizer, conventions=base.conventions, path=base.path)


def _copy_encoder(encoder, model, path: Path) -> None:
    """The pretrained encoder's weights into the task model's encoder; report what stays random."""
    missing, unexpected = model.base_model.load_state_dict(encoder.state_dict(), strict=False)
    if missing:
        # BERT's pooler feeds its classification head; an MLM checkpoint has none.
        log.info("%s: %d weight(s) of the encoder start random (%s)", path, len(missing), ", ".join(sorted(missing)[:4]))
    if unexpected:
        log.debug("%s: unused by %s: %s", path, type(model).__name__, ", ".join(sorted(unexpected)[:4]))


# -- 3-4. rows, task, loop ------------------------------------------------------------------------------
def _warmup_steps(config: FinetuneConfig, steps: int) -> int:
    return min(config.warmup_steps, steps) if config.warmup_steps is not None else round(steps * config.warmup_ratio)


def _task_and_loop(config: FinetuneConfig, kind: TaskKind, lm, labels, data: Data, train_rows, dev_rows, encoding: dict):
    steps_per_epoch = math.ceil(len(train_rows) / config.batch_size)
    steps = config.steps or max(1, math.ceil(config.epochs * steps_per_epoch))
    eval_every = config.eval_every or steps_per_epoch
    metric = f"dev_{config.metric or kind.main_metric}"
    description = {"kind": kind.name, "objective": kind.objective, "labels": labels, "config": config.to_dict(),
                   "examples": {"train": len(data.train), "dev": len(data.dev), "test": len(data.test)},
                   "encoding": encoding, "data": data.source}
    micro_batch = config.micro_batch or _per_process(config.batch_size)
    batching = Batching(config.batch_size, micro_batch, max(32, micro_batch), config.loop.seed)
    task = FinetuneTask(kind, lm, labels, train_rows, data.dev, dev_rows, batching, description)
    loop = LoopConfig(
        **asdict(config.loop), out=config.out, steps=steps, warmup_steps=_warmup_steps(config, steps),
        log_every=max(1, min(10, steps_per_epoch)), eval_every=eval_every if eval_every < steps else 0,
        metric=metric, higher_is_better=metric != "dev_loss", patience=config.patience if eval_every < steps else 0,
        keep_best=True,
    )
    return task, loop


def _per_process(batch_size: int) -> int:
    """The default micro-batch: the batch split over the processes (no accumulation)."""
    world = processes().world_size
    if batch_size % world:
        raise JarobertaError(f"batch_size {batch_size} does not split into {world} processes; choose a multiple of {world}")
    return batch_size // world


def _log_encoding(kind: TaskKind, stats: dict) -> None:
    for split, s in stats.items():
        if s.truncated:
            log.warning("%s: %d of %d examples were longer than the model allows and were truncated", split, s.truncated, s.rows)
        rt = s.round_trip
        if rt.gold and rt.exact < rt.gold:
            log.warning("%s: %d of %d entities cannot be represented exactly on the tokenizer's pieces (an entity edge "
                        "falls inside a piece, or truncation): best reachable recall %.3f", split, rt.gold - rt.exact, rt.gold, rt.ceiling)


# -- 5. scoring the saved model ---------------------------------------------------------------------------
def score_model(model_dir: Path, kind: TaskKind, data: Data, labels: list[str], budget: int, user_dicts=()) -> tuple[dict, dict]:
    """Reload the saved model as users will, and score it on dev and test: (results, predictions by split)."""
    finetuned = load_finetuned(model_dir, user_dicts=list(user_dicts) or None)
    results: dict = {"task": kind.name, "objective": kind.objective, "labels": labels, "model": str(model_dir), "metrics": {}}
    predictions: dict = {}
    for split, examples in (("dev", data.dev), ("test", data.test)):
        if not examples:
            continue
        rows, _ = kind.encode(finetuned.lm, examples, labels, budget)
        with torch.inference_mode():
            results["metrics"][split], predictions[split] = evaluate_with_predictions(
                kind, finetuned.lm.model, finetuned.lm, labels, examples, rows, batch_size=32, what=f"scoring {split}")
    return results, predictions


def write_results(run_dir: Path, results: dict) -> None:
    """results.json (everything) and results.md (a readable table)."""
    (run_dir / RESULTS_JSON).write_text(json.dumps(results, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    (run_dir / RESULTS_TABLE).write_text(results_table(results) + "\n", encoding="utf-8")


def results_table(results: dict) -> str:
    """A Markdown table: one row per metric, one column per split."""
    columns = dict(results["metrics"])
    if results.get("dev_before_training"):  # what the untrained head scores: the floor training starts from
        columns["dev, before training"] = {k.removeprefix("dev_"): v for k, v in results["dev_before_training"].items()}
    splits = list(columns)
    names = list(dict.fromkeys(name for split in splits for name in columns[split]))
    lines = [f"{results['task']} ({results['objective']}) — {results['model']}", "",
             "| metric | " + " | ".join(splits) + " |", "|---|" + "---:|" * len(splits)]
    for name in names:
        cells = [_cell(columns[split].get(name)) for split in splits]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return str(value)
    return "nan" if math.isnan(value) else f"{value:.4f}"
