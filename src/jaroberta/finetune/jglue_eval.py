"""`jaroberta eval jglue MODEL OUT --data JGLUE`: JGLUE's dev table for one model, resumable task by task.

Start at `evaluate_jglue(JglueEvalConfig(...))`: find the tasks of a JGLUE checkout
(`jglue.find_tasks`; a task without its files is skipped and said), read every file first so a
malformed line stops the run before any training, then for each task run JGLUE's settings
(`jglue.SETTINGS`: max length, warmup 0.1, batch 32, the grid learning rate x epochs) with the
one fine-tuning run (`run.finetune`: CPU, one GPU or torchrun), keep the setting of the best dev
score, and write into OUT:
- `results.json`: per task its scores as fractions, the setting they came from and every setting's
  scores; JSQuAD adds the boundary ceiling and the answers corrected / not found; JSTS its
  zero-shot correlation (cosine of `embed` vectors, no fine-tuning);
- `results.md`: JGLUE's table with its published dev rows beside the model (`jglue.results_markdown`);
- `<task>/predictions.jsonl`: `{"id", "prediction"}` per dev example with JGLUE's ids.
Scores are computed from those predictions with `jglue_metrics`, so anyone can recompute them.

Each setting runs in `OUT/<task>/lr<lr>-epochs<n>/` and leaves `scores.json` there when done:
a rerun skips finished settings, continues an unfinished one from its checkpoint, and refuses
an OUT written with other settings (model, data, limits). JGLUE scores the model after its last
epoch, so no evaluation happens between epochs (no early stopping, no best-epoch pick on dev).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from jaroberta.core.files import write_atomic
from jaroberta.core.outputs import claim_output, record_output
from jaroberta.core.progress import progress_bar
from jaroberta.core.runtime import processes
from jaroberta.errors import JarobertaError
from jaroberta.finetune import jglue
from jaroberta.finetune.jglue_metrics import accuracy, similarity_scores, squad_scores, zero_shot_similarity
from jaroberta.finetune.kinds import KINDS
from jaroberta.finetune.kinds.base import OBJECTIVES
from jaroberta.finetune.run import FinetuneConfig, finetune, finetune_loop
from jaroberta.infer.embeddings import embed
from jaroberta.model.loading import load
from jaroberta.train.distributed import Runtime, barrier, init_runtime, shutdown
from jaroberta.train.loop import LoopSettings

log = logging.getLogger(__name__)

COMMAND = "eval jglue"
STATE_FILE = "jglue_eval.json"
"""OUT's record of the settings it was written with (a rerun with others is refused)."""
SCORES_FILE = "scores.json"
"""Written into a setting's folder when it is done: its presence skips the setting on a rerun."""
PREDICTIONS_FILE = "predictions.jsonl"
ZERO_SHOT_FILE = "zero_shot.json"
FINAL_ONLY = 10**9
"""`eval_every` that is never reached: the model is evaluated once, after the last epoch (as JGLUE did)."""
CARD_DATASET = "shunk031/JGLUE"
"""The hub dataset whose configurations (MARC-ja, JSTS, ...) name JGLUE's tasks in a card's model-index."""
CARD_TASK_TYPES = {"marc-ja": "text-classification", "jsts": "text-classification", "jnli": "text-classification",
                   "jsquad": "question-answering", "jcommonsenseqa": "multiple-choice"}
"""The model-index task type of each JGLUE task."""


@dataclass
class JglueEvalConfig:
    """Everything that decides a JGLUE evaluation."""

    model: Path
    """Pretrained model folder (jaroberta's, rinna's or JMedRoBERTa's layout)."""
    out: Path
    """Output folder: results.json, results.md, one folder per task."""
    data: Path
    """A JGLUE checkout: its root or its datasets/ folder (MARC-ja from your own conversion put there)."""
    tasks: tuple[str, ...] | None = None
    """Tasks to run (marc-ja, jsts, jnli, jsquad, jcommonsenseqa); None: every task whose files are found."""
    lr: float | None = None
    """One learning rate instead of JGLUE's grid {5e-5, 3e-5, 2e-5}."""
    epochs: int | None = None
    """One epoch count instead of JGLUE's grid {3, 4}."""
    train_limit: int | None = None
    """Train on the first N training examples of each task (a quick run on a CPU; stated in results.json)."""
    init: str = "pretrained"
    """'pretrained', or 'random': the same architecture from random weights (what pretraining brings)."""
    batch_size: int = 32
    """Examples per optimizer step (JGLUE's 32)."""
    micro_batch: int | None = None
    """Examples per forward pass per process (default: the batch over the processes)."""
    word_boundaries: str | None = None
    """JSQuAD with a SentencePiece model: 'mecab' keeps pieces inside MeCab words (a higher boundary ceiling)."""
    zero_shot: bool = True
    """Also report JSTS zero-shot: Spearman / Pearson of the cosine of mean-pooled `embed` vectors."""
    card: bool = False
    """Add the scores to MODEL's model card (README.md) `model-index`, the rest of the card left as it was."""
    user_dicts: tuple[Path, ...] = ()
    """MeCab user dictionaries the tokenizer needs (JMedRoBERTa layout)."""
    loop: LoopSettings = field(default_factory=finetune_loop)
    """Device, precision, seed, progress: the training loop's settings (its lr is the grid's)."""

    def __post_init__(self) -> None:
        self.model, self.out, self.data = Path(self.model), Path(self.out), Path(self.data)
        self.tasks = tuple(jglue.parse_tasks(list(self.tasks))) if self.tasks else None
        self.user_dicts = tuple(Path(p) for p in self.user_dicts)
        if self.lr is not None and self.lr <= 0:
            raise JarobertaError(f"--lr must be > 0, got {self.lr}")
        if self.epochs is not None and self.epochs < 1:
            raise JarobertaError(f"--epochs must be >= 1, got {self.epochs}")
        if self.train_limit is not None and self.train_limit < 1:
            raise JarobertaError(f"--train-limit must be >= 1, got {self.train_limit}")
        if self.card and not (self.model / "config.json").is_file():
            raise JarobertaError(f"--card writes into MODEL's README.md: {self.model} must be a local model folder")

    def grid(self, task: str) -> list[tuple[float, int]]:
        """The (learning rate, epochs) settings of a task: JGLUE's grid, or the one fixed by --lr / --epochs."""
        settings = jglue.SETTINGS[task]
        return [(lr, n) for lr in ((self.lr,) if self.lr else settings.learning_rates)
                for n in ((self.epochs,) if self.epochs else settings.epochs)]

    def identity(self) -> dict:
        """What must match for a rerun to continue OUT (the grid may grow or shrink)."""
        return {"model": str(self.model.resolve()), "train_limit": self.train_limit, "init": self.init,
                "batch_size": self.batch_size, "word_boundaries": self.word_boundaries, "seed": self.loop.seed}


@dataclass
class JglueResult:
    """What a JGLUE evaluation produced."""

    out: Path
    """The output folder."""
    results: dict
    """results.json: task -> scores, setting, details; plus `about` (model, data, limits, skipped tasks)."""
    markdown: str
    """results.md: JGLUE's table with the published rows."""
    is_main: bool = True
    """False on the other processes under torchrun (they return no results)."""

    def to_dict(self) -> dict:
        return {"out": str(self.out), **self.results}


# -- the entry point -----------------------------------------------------------------------------
def evaluate_jglue(config: JglueEvalConfig) -> JglueResult:
    """Fine-tune and score every found task with JGLUE's settings; results into OUT."""
    search = jglue.find_tasks(config.data, list(config.tasks) if config.tasks else None)
    for task, reason in search.skipped.items():
        log.warning("JGLUE %s skipped: %s", task, reason)
    if not search.found:
        raise JarobertaError(f"no JGLUE task to run in {config.data}: " + "; ".join(f"{t}: {r}" for t, r in search.skipped.items()))
    main = processes().is_main
    if main:
        _claim(config)
    dev = {task: _read_both(files) for task, files in search.found.items()}  # a malformed line stops us before any training
    results: dict = {}
    # Under torchrun one process group serves every run: joining and leaving it per run loses the rendezvous
    # while rank 0 alone scores a run; the barrier keeps the others from starting the next one before that.
    runtime = init_runtime(config.loop.device, config.loop.collective_timeout_s)
    try:
        for task, files in search.found.items():
            results[task] = run_task(config, files, dev[task], runtime)
    finally:
        shutdown(runtime)
    if not main:
        return JglueResult(config.out, {}, "", is_main=False)
    if "jsts" in results and config.zero_shot:
        results["jsts"]["zero_shot"] = jsts_zero_shot(config, dev["jsts"].records)
    results["about"] = {"model": str(config.model), "data": str(config.data), "init": config.init,
                        "train_limit": config.train_limit, "skipped": search.skipped,
                        "versions": {task: files.version for task, files in search.found.items()},
                        "dev_split": "valid", "scores": "fractions, from predictions.jsonl with jglue_metrics"}
    markdown = results_table(config, results)
    write_atomic(config.out / "results.json", json.dumps(results, ensure_ascii=False, indent=2) + "\n")
    write_atomic(config.out / "results.md", markdown)
    record_output(config.out)
    if config.card:
        add_to_card(config.model, results)
    return JglueResult(config.out, results, markdown)


def _claim(config: JglueEvalConfig) -> None:
    """OUT is ours: new, or a previous `eval jglue` with the same model and limits (continued)."""
    claim_output(config.out, COMMAND, resume=True)
    state = config.out / STATE_FILE
    if state.is_file():
        before = json.loads(state.read_text(encoding="utf-8"))
        changed = {k: (before.get(k), v) for k, v in config.identity().items() if before.get(k) != v}
        if changed:
            raise JarobertaError(f"OUT {config.out} holds a JGLUE evaluation with other settings "
                                 f"({', '.join(f'{k}: {a!r} -> {b!r}' for k, (a, b) in changed.items())}); choose a new OUT")
    write_atomic(state, json.dumps(config.identity(), indent=1) + "\n")


def _read_both(files: jglue.TaskFiles) -> jglue.TaskData:
    """Both splits read and checked (file and line on error); the dev split is returned."""
    train = jglue.read_split(files, "train")
    if train.answers is not None and (train.answers.corrected or train.answers.unmatched):
        log.warning("%s: %s", train.path, train.answers.summary())
    return jglue.read_split(files, "valid")


# -- one task ----------------------------------------------------------------------------------------
def run_task(config: JglueEvalConfig, files: jglue.TaskFiles, dev: jglue.TaskData, runtime: Runtime) -> dict:
    """Every setting of the task's grid (finished ones read back), the best on dev chosen."""
    task, spec = files.task, jglue.TASKS[files.task]
    folder = config.out / task
    grid = config.grid(task)
    runs: dict[tuple[float, int], dict] = {}
    with progress_bar(total=len(grid), desc=f"JGLUE {task}", unit="setting", disable=not (config.loop.progress and runtime.is_main)) as bar:
        for lr, epochs in grid:
            runs[(lr, epochs)] = run_setting(config, files, dev, lr, epochs)
            barrier(runtime)
            bar.update(1)
    if not processes().is_main:
        return {}
    best = jglue.pick_best(task, {s: r["scores"] for s, r in runs.items()})
    chosen = runs[best]
    write_atomic(folder / PREDICTIONS_FILE, (_setting_dir(folder, *best) / PREDICTIONS_FILE).read_text(encoding="utf-8"))
    entry = {**chosen["scores"], "setting": {"lr": best[0], "epochs": best[1]}, **chosen["details"],
             "grid": {_setting_name(*s): r["scores"] for s, r in runs.items()}}
    log.info("JGLUE %s: %s (lr %g, %d epochs)", task, ", ".join(f"{m} {entry[m]:.3f}" for m in spec.metrics), *best)
    return entry


def _setting_name(lr: float, epochs: int) -> str:
    return f"lr{lr:g}-epochs{epochs}"


def _setting_dir(folder: Path, lr: float, epochs: int) -> Path:
    return folder / _setting_name(lr, epochs)


def run_setting(config: JglueEvalConfig, files: jglue.TaskFiles, dev: jglue.TaskData, lr: float, epochs: int) -> dict:
    """One fine-tuning run, its dev predictions written with JGLUE's ids and scored; read back when done."""
    spec = jglue.TASKS[files.task]
    out = _setting_dir(config.out / files.task, lr, epochs)
    done = out / SCORES_FILE
    if done.is_file():
        log.info("JGLUE %s, lr %g, %d epochs: done before, read from %s", files.task, lr, epochs, done)
        return json.loads(done.read_text(encoding="utf-8"))
    settings = jglue.SETTINGS[files.task]
    loop = {**asdict(config.loop), "lr": lr, "resume": out.is_dir()}
    run_config = FinetuneConfig(
        task=spec.kind, model=config.model, out=out, train=files.train, dev=files.valid,
        objective=spec.objective if spec.objective in OBJECTIVES else "auto", init=config.init, epochs=float(epochs),
        batch_size=config.batch_size, micro_batch=config.micro_batch, warmup_ratio=settings.warmup_ratio,
        max_length=settings.max_length, eval_every=FINAL_ONLY, patience=0, train_limit=config.train_limit, score_before=False,
        word_boundaries=config.word_boundaries if "word_boundaries" in KINDS[spec.kind].options else None, user_dicts=config.user_dicts,
        loop=LoopSettings(**loop),
    )
    result = finetune(run_config)
    if not result.is_main:
        return {}
    values = [prediction[spec.answer] for prediction in result.predictions["dev"]]
    if len(values) != len(dev.records):
        raise JarobertaError(f"{files.valid}: {len(values)} predictions for {len(dev.records)} examples")
    write_atomic(out / PREDICTIONS_FILE, "".join(json.dumps({"id": record.id, "prediction": value}, ensure_ascii=False) + "\n"
                                                 for record, value in zip(dev.records, values)))
    outcome = {"scores": score_task(files.task, dev, values), "details": _details(result.results, config)}
    write_atomic(done, json.dumps(outcome, ensure_ascii=False, indent=1) + "\n")
    record_output(config.out)
    return outcome


def score_task(task: str, dev: jglue.TaskData, values: list) -> dict[str, float]:
    """JGLUE's metrics of one task's dev predictions (the values predictions.jsonl holds)."""
    return _SCORERS[task](dev.records, values)


_SCORERS = {
    "marc-ja": lambda records, values: {"accuracy": accuracy([r.label for r in records], values)},
    "jnli": lambda records, values: {"accuracy": accuracy([r.label for r in records], values)},
    "jcommonsenseqa": lambda records, values: {"accuracy": accuracy([r.label for r in records], values)},
    "jsts": lambda records, values: similarity_scores([r.label for r in records], values),
    "jsquad": lambda records, values: squad_scores(jglue.gold_answers(records), {r.id: v for r, v in zip(records, values)}),
}
"""Task -> scores of its dev records and predicted values."""


def _details(results: dict, config: JglueEvalConfig) -> dict:
    """What the run adds beside the scores: examples and steps; JSQuAD's boundary ceiling and answers per split."""
    encoding = results["encoding"]
    details = {"examples": {split: encoding[split]["rows"] for split in ("train", "dev")}, "steps": results["run"]["steps"]}
    if "boundary_ceiling" in encoding["dev"]:
        details["boundary_ceiling"] = encoding["dev"]["boundary_ceiling"]
        details["boundary_ceiling_train"] = encoding["train"]["boundary_ceiling"]
        details["answers"] = {split: encoding[split]["answers"] for split in ("train", "dev")}
    if config.train_limit is not None:
        details["train_limit"] = config.train_limit
    return details


# -- JSTS without fine-tuning -----------------------------------------------------------------------
def jsts_zero_shot(config: JglueEvalConfig, records: list) -> dict:
    """Pearson / Spearman of gold scores against the cosine of the two sentences' mean-pooled vectors."""
    path = config.out / "jsts" / ZERO_SHOT_FILE
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    lm = load(config.model, user_dicts=list(config.user_dicts) or None, head="base")
    if config.init == "random":
        log.info("JSTS zero-shot uses MODEL's pretrained weights whatever --init says")
    first = embed(lm, [r.first for r in records], truncate=True)
    second = embed(lm, [r.second for r in records], truncate=True)
    scores = {**zero_shot_similarity(first, second, [r.label for r in records]), "pooling": "mean"}
    write_atomic(path, json.dumps(scores, indent=1) + "\n")
    return scores


# -- results.md and the model card ---------------------------------------------------------------------
def results_table(config: JglueEvalConfig, results: dict) -> str:
    """JGLUE's table: the model's row (and its JSTS zero-shot row), JGLUE's published rows below."""
    name = config.model.name + (" (random init)" if config.init == "random" else "")
    scores = {task: results[task] for task in jglue.TASKS if task in results}
    rows = [(name, scores)]
    if "zero_shot" in results.get("jsts", {}):
        rows.append((f"{name}, JSTS zero-shot (cosine of embed vectors)", {"jsts": results["jsts"]["zero_shot"]}))
    settings = "; ".join(f"{task} lr {entry['setting']['lr']:g}, {entry['setting']['epochs']} epochs" for task, entry in scores.items())
    note = f"Settings chosen on dev: {settings}."
    if config.train_limit is not None:
        note += f" Trained on the first {config.train_limit} training examples of each task only."
    if "jsquad" in scores:
        note += f" JSQuAD boundary ceiling (dev): {scores['jsquad'].get('boundary_ceiling', math.nan):.3f}."
    if results["about"]["skipped"]:
        note += " Skipped: " + "; ".join(f"{t} ({r})" for t, r in results["about"]["skipped"].items()) + "."
    return jglue.results_markdown(rows, note=note)


def card_results(results: dict) -> list[EvalResult]:
    """One `EvalResult` per JGLUE score of `results` (dev split), for a card's model-index."""
    out = []
    for task, spec in jglue.TASKS.items():
        for metric in spec.metrics if task in results else ():
            value = results[task].get(metric)
            if value is None or math.isnan(value):
                continue
            out.append(EvalResult(task_type=CARD_TASK_TYPES[task], dataset_type=CARD_DATASET, dataset_name=f"JGLUE {spec.title}",
                                  dataset_config=spec.title, dataset_split="validation", metric_type=metric,
                                  metric_name=f"{spec.title} {metric}", metric_value=float(value)))
    return out


def add_to_card(model: Path, results: dict) -> Path:
    """MODEL's README.md with JGLUE's scores in its model-index (older JGLUE entries replaced), the rest as it was."""
    path = model / "README.md"
    card = ModelCard.load(path) if path.is_file() else ModelCard("---\n" + ModelCardData().to_yaml() + "\n---\n")
    new = card_results(results)
    replaced = {(r.dataset_type, r.dataset_config, r.metric_type) for r in new}
    kept = [r for r in card.data.eval_results or [] if (r.dataset_type, r.dataset_config, r.metric_type) not in replaced]
    card.data.eval_results = kept + new
    card.data.model_name = card.data.model_name or model.name
    card.save(path)
    return path
