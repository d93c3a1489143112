"""A JGLUE checkout, read as JGLUE lays it out: tasks, files, settings, ids, records, baselines.

`find_tasks(folder)` takes the repository root or its `datasets/` folder and finds, per
task, the newest version folder (`jsts-v1.1`, `jsts-v1.3`, ... -> v1.3) and in it the
train and valid files (`train-v1.3.json`, `valid-v1.3.json`). A task without a folder, or
whose folder lacks either file, is skipped and said so (`TaskSearch.skipped`). Test files
are never read: JGLUE's table is on dev.

Formats (JGLUE's README):
- MARC-ja, JSTS, JNLI, JCommonsenseQA: JSON lines despite the `.json` suffix. MARC-ja is no
  longer distributed: it is read from the user's own conversion (JGLUE's
  `preprocess/marc-ja/scripts/marc-ja.py`, `{"sentence", "label", "review_id"}`) put in
  `datasets/marc_ja-v<version>/`. That script names its files after its `--version` flag
  (default 1.0), not after the folder, so a folder holding a single `train-v*.json` and
  `valid-v*.json` of another version is read too.
- JSQuAD: SQuAD v1 JSON (`squad.read_squad`).
Readers return typed records carrying JGLUE's own ids (`sentence_pair_id`, `q_id`, the
QA `id`, `review_id`); a malformed line is an error naming file and line.

Settings (`SETTINGS`) are JGLUE's (fine-tuning/README.md): max length 512 / 128 / 128 /
384 / 64, warmup ratio 0.1, batch 32, the grid learning rate {5e-5, 3e-5, 2e-5} x epochs
{3, 4} searched on dev. (JGLUE's own example command for JCommonsenseQA used a per-device
batch of 64; the hyperparameter table names no batch size.)

`DEV_BASELINES` are the dev-set rows of JGLUE's README (v1.3.0, yahoojapan/JGLUE,
"Baseline Scores"); `results_markdown` renders a model's scores in the same layout with
those rows beside them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from jaroberta.errors import JarobertaError
from jaroberta.finetune.squad import AnswerReport, QAExample, read_squad
from jaroberta.finetune.data import Source, json_rows, parse_choice

SPLITS = ("train", "valid")
"""The files a task needs: JGLUE's dev set is `valid`."""


@dataclass(frozen=True)
class TaskSpec:
    """One JGLUE task: where it lives, how it is read, how it is scored and trained."""

    name: str
    """jaroberta's name for it (`--tasks`)."""
    title: str
    """The column title in JGLUE's table."""
    folders: tuple[str, ...]
    """Folder name prefixes before `-v<version>` (JGLUE writes marc_ja)."""
    id_field: str
    """JGLUE's id of an example in this task."""
    metrics: tuple[str, ...]
    """The scores JGLUE reports, in its column order; the first picks the setting on dev."""
    max_length: int
    """JGLUE's max sequence length."""
    kind: str
    """The fine-tuning kind that learns it (`finetune.kinds.KINDS`)."""
    objective: str
    """The kind's objective ('classification', 'regression', 'extraction')."""
    answer: str
    """The key of the kind's prediction that `predictions.jsonl` keeps (label, score, answer text, choice index)."""


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec("marc-ja", "MARC-ja", ("marc_ja", "marc-ja"), "review_id", ("accuracy",), 512, "classify", "classification", "label"),
        TaskSpec("jsts", "JSTS", ("jsts",), "sentence_pair_id", ("pearson", "spearman"), 128, "pair", "regression", "score"),
        TaskSpec("jnli", "JNLI", ("jnli",), "sentence_pair_id", ("accuracy",), 128, "pair", "classification", "label"),
        TaskSpec("jsquad", "JSQuAD", ("jsquad",), "id", ("exact_match", "f1"), 384, "qa", "extraction", "answer"),
        TaskSpec("jcommonsenseqa", "JCommonsenseQA", ("jcommonsenseqa",), "q_id", ("accuracy",), 64, "choice", "classification",
                 "choice"),
    )
}
"""JGLUE's five tasks, in the column order of its table."""


@dataclass(frozen=True)
class Settings:
    """JGLUE's fine-tuning settings for one task."""

    max_length: int
    """Longest framed input, special tokens included."""
    warmup_ratio: float = 0.1
    """Share of the steps spent warming the learning rate up."""
    batch_size: int = 32
    """Examples per step."""
    learning_rates: tuple[float, ...] = (5e-5, 3e-5, 2e-5)
    """The learning rates searched."""
    epochs: tuple[int, ...] = (3, 4)
    """The epoch counts searched."""

    def grid(self) -> list[tuple[float, int]]:
        """Every (learning rate, epochs) setting to try, in JGLUE's order."""
        return [(lr, n) for lr in self.learning_rates for n in self.epochs]


SETTINGS: dict[str, Settings] = {name: Settings(max_length=spec.max_length) for name, spec in TASKS.items()}


def parse_tasks(names: str | list[str] | None) -> list[str]:
    """Task names from `--tasks` ("jsts,jnli" or a list; None: all), checked, in JGLUE's order."""
    if names is None:
        return list(TASKS)
    wanted = [n.strip().lower() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    unknown = [n for n in wanted if n not in TASKS]
    if unknown:
        raise JarobertaError(f"unknown JGLUE task(s) {', '.join(unknown)}; known: {', '.join(TASKS)}")
    if not wanted:
        raise JarobertaError(f"no JGLUE task named; known: {', '.join(TASKS)}")
    return [n for n in TASKS if n in wanted]


def pick_best(task: str, runs: dict[tuple[float, int], dict[str, float]]) -> tuple[float, int]:
    """The (learning rate, epochs) whose dev score is highest on the task's first metric (NaN never wins)."""
    metric = TASKS[task].metrics[0]
    scored = {setting: scores[metric] for setting, scores in runs.items() if not math.isnan(scores[metric])}
    if not scored:
        raise JarobertaError(f"{task}: no setting has a {metric} score to choose by")
    return max(scored, key=scored.get)


# -- finding the files --------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskFiles:
    """The files of one task in a JGLUE checkout."""

    task: str
    """The task's name."""
    version: str
    """The version folder's version ("1.3")."""
    folder: Path
    """The version folder."""
    train: Path
    """Training file."""
    valid: Path
    """Dev file (JGLUE's valid)."""


@dataclass
class TaskSearch:
    """What `find_tasks` found: the tasks to run, and the ones skipped with the reason."""

    found: dict[str, TaskFiles] = field(default_factory=dict)
    """Task name -> its files, in JGLUE's order."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Task name -> why it cannot run."""


_VERSION = re.compile(r"-v(\d+(?:\.\d+)*)$")


def datasets_folder(folder: str | Path) -> Path:
    """The `datasets/` folder of a JGLUE checkout, given the checkout's root or that folder itself."""
    folder = Path(folder)
    if not folder.is_dir():
        raise JarobertaError(f"JGLUE folder {folder} does not exist; give a checkout of yahoojapan/JGLUE or its datasets/ folder")
    if (folder / "datasets").is_dir():
        return folder / "datasets"
    if any(_VERSION.search(child.name) for child in folder.iterdir() if child.is_dir()):
        return folder
    raise JarobertaError(f"{folder} holds neither datasets/ nor task folders such as jsts-v1.3; "
                         f"give a checkout of yahoojapan/JGLUE or its datasets/ folder")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def newest_version(root: Path, task: str) -> tuple[str, Path] | None:
    """(version, folder) of `task`'s newest version folder in a `datasets/` folder, or None when there is none."""
    spec = TASKS[task]
    versions = []
    for child in root.iterdir():
        match = _VERSION.search(child.name)
        if child.is_dir() and match and child.name[: match.start()] in spec.folders:
            versions.append((_version(match.group(1)), match.group(1), child))
    return max(versions)[1:] if versions else None


def find_tasks(folder: str | Path, tasks: str | list[str] | None = None) -> TaskSearch:
    """Each wanted task's newest version folder and its train and valid files; the rest skipped, with why."""
    root = datasets_folder(folder)
    search = TaskSearch()
    for name in parse_tasks(tasks):
        newest = newest_version(root, name)
        if newest is None:
            search.skipped[name] = f"no {TASKS[name].folders[0]}-v<version> folder in {root}"
            continue
        version, chosen = newest
        files = {split: split_file(chosen, split, version) for split in SPLITS}
        missing = [f"{split}-v{version}.json" for split, path in files.items() if path is None]
        if missing:
            search.skipped[name] = f"{chosen} has no {' nor '.join(missing)}"
            continue
        search.found[name] = TaskFiles(name, version, chosen, files["train"], files["valid"])
    return search


def split_file(folder: Path, split: str, version: str) -> Path | None:
    """`<split>-v<version>.json`, or the folder's only `<split>-v*.json` (MARC-ja's conversion names its own version)."""
    exact = folder / f"{split}-v{version}.json"
    if exact.is_file():
        return exact
    others = sorted(folder.glob(f"{split}-v*.json"))
    return others[0] if len(others) == 1 else None


# -- records --------------------------------------------------------------------------------
@dataclass(frozen=True)
class TextRecord:
    """MARC-ja: one review."""

    id: str
    """review_id."""
    text: str
    """The review (JGLUE's `sentence`)."""
    label: str
    """positive / negative."""
    where: Source
    """File and line."""


@dataclass(frozen=True)
class PairRecord:
    """JSTS or JNLI: one sentence pair."""

    id: str
    """sentence_pair_id."""
    first: str
    """sentence1."""
    second: str
    """sentence2."""
    label: str | float
    """JNLI: entailment / contradiction / neutral; JSTS: a similarity score from 0 to 5."""
    where: Source
    """File and line."""


@dataclass(frozen=True)
class ChoiceRecord:
    """JCommonsenseQA: one question and its choices."""

    id: str | int
    """q_id (a number in JGLUE's files)."""
    question: str
    """The question."""
    choices: tuple[str, ...]
    """choice0, choice1, ... (as many as the line has, numbered from 0 without gaps)."""
    label: int
    """Index of the right choice."""
    where: Source
    """File and line."""


@dataclass
class TaskData:
    """One split of one task, read."""

    task: str
    """The task's name."""
    path: Path
    """The file read."""
    records: list
    """TextRecord, PairRecord, ChoiceRecord or squad.QAExample, by task."""
    answers: AnswerReport | None = None
    """JSQuAD only: what checking the answers against their contexts found."""


def _string(record: dict, key: str, where: Source) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        found = "nothing" if value is None else repr(value)[:40]
        raise JarobertaError(f"{where}: {key!r} must be a non-empty string, found {found}")
    return value


def _identifier(record: dict, key: str, where: Source) -> str | int:
    """JGLUE's id as the file gives it (JCommonsenseQA's q_id is a number), so predictions repeat it exactly."""
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise JarobertaError(f"{where}: no {key!r} (JGLUE's id of the example)")
    return value


def _marc(record: dict, where: Source) -> TextRecord:
    return TextRecord(_identifier(record, "review_id", where), _string(record, "sentence", where),
                      _string(record, "label", where), where)


def _jsts(record: dict, where: Source) -> PairRecord:
    score = record.get("label")
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 5:
        raise JarobertaError(f"{where}: JSTS 'label' must be a number from 0 to 5, found {score!r}")
    return PairRecord(_identifier(record, "sentence_pair_id", where), _string(record, "sentence1", where),
                      _string(record, "sentence2", where), float(score), where)


def _jnli(record: dict, where: Source) -> PairRecord:
    return PairRecord(_identifier(record, "sentence_pair_id", where), _string(record, "sentence1", where),
                      _string(record, "sentence2", where), _string(record, "label", where), where)


def _jcommonsenseqa(record: dict, where: Source) -> ChoiceRecord:
    parsed = parse_choice(record, where)
    return ChoiceRecord(_identifier(record, "q_id", where), parsed.question, parsed.choices, parsed.label, where)


_LINE_READERS = {"marc-ja": _marc, "jsts": _jsts, "jnli": _jnli, "jcommonsenseqa": _jcommonsenseqa}


def read_task(task: str, path: str | Path) -> TaskData:
    """Read one file of `task` into typed records; a bad line is an error naming file and line."""
    parse_tasks([task])
    path = Path(path)
    if task == "jsquad":
        examples, report = read_squad(path)
        return TaskData(task, path, examples, report)
    if not path.is_file():
        raise JarobertaError(f"{task} data file {path} does not exist")
    reader = _LINE_READERS[task]
    records, seen = [], {}
    for where, record in json_rows(path):
        parsed = reader(record, where)
        if parsed.id in seen:
            raise JarobertaError(f"{where}: {TASKS[task].id_field} {parsed.id!r} also at line {seen[parsed.id]}; ids must be unique")
        seen[parsed.id] = where.line
        records.append(parsed)
    if not records:
        raise JarobertaError(f"{path}: no examples")
    return TaskData(task, path, records)


def read_split(files: TaskFiles, split: str) -> TaskData:
    """The `train` or `valid` split of a found task."""
    if split not in SPLITS:
        raise JarobertaError(f"unknown split {split!r}; JGLUE's splits here are {SPLITS}")
    return read_task(files.task, getattr(files, split))


def gold_answers(examples: list[QAExample]) -> dict[str, list[str]]:
    """JSQuAD question id -> its gold answer texts (what `jglue_metrics.squad_scores` compares with)."""
    return {e.id: [a.text for a in e.answers] for e in examples}


# -- JGLUE's published baselines, and results.md ---------------------------------------------------
BASELINE_SOURCE = "JGLUE README (yahoojapan/JGLUE v1.3.0, \"Baseline Scores\", dev set)"
"""Where `DEV_BASELINES` come from. The README changed them twice: JSTS with v1.1.0 (labels became floats)
and JNLI with v1.2.0 (Tohoku BERT base 0.899 -> 0.906, Waseda RoBERTa base 0.895 -> 0.900)."""

DEV_BASELINES: dict[str, dict[str, dict[str, float] | None]] = {
    model: {
        "marc-ja": {"accuracy": marc},
        "jsts": {"pearson": pearson, "spearman": spearman},
        "jnli": {"accuracy": jnli},
        "jsquad": None if em is None else {"exact_match": em, "f1": f1},
        "jcommonsenseqa": {"accuracy": jcqa},
    }
    for model, (marc, pearson, spearman, jnli, em, f1, jcqa) in {
        "Human": (0.989, 0.899, 0.861, 0.925, 0.871, 0.944, 0.986),
        "Tohoku BERT base": (0.958, 0.909, 0.868, 0.906, 0.871, 0.941, 0.808),
        "Tohoku BERT base (char)": (0.956, 0.893, 0.851, 0.896, 0.864, 0.937, 0.718),
        "Tohoku BERT large": (0.955, 0.913, 0.872, 0.905, 0.880, 0.946, 0.816),
        "NICT BERT base": (0.958, 0.910, 0.871, 0.909, 0.897, 0.947, 0.823),
        "Waseda RoBERTa base": (0.962, 0.913, 0.873, 0.900, 0.864, 0.927, 0.840),
        "Waseda RoBERTa large (s128)": (0.954, 0.930, 0.896, 0.931, 0.884, 0.940, 0.907),
        "Waseda RoBERTa large (s512)": (0.961, 0.926, 0.892, 0.934, 0.918, 0.963, 0.891),
        # JGLUE left XLM-R out of JSQuAD: its unigram pieces do not fall on the answers' ends
        "XLM RoBERTa base": (0.961, 0.877, 0.831, 0.898, None, None, 0.687),
        "XLM RoBERTa large": (0.964, 0.918, 0.884, 0.924, None, None, 0.840),
    }.items()
}
"""JGLUE's published dev scores, model -> task -> metric -> fraction (None: not evaluated)."""

_HEADER = ("|Model|MARC-ja|JSTS|JNLI|JSQuAD|JCommonsenseQA|\n"
           "|-----|-------|-------|-------|-------|-------|\n"
           "||acc|Pearson/Spearman|acc|EM/F1|acc|\n")


def _cell(task: str, scores: dict[str, float] | None) -> str:
    if not scores:
        return "-"
    values = [scores.get(metric) for metric in TASKS[task].metrics]
    return "/".join("-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}" for v in values)


def results_row(name: str, results: dict[str, dict[str, float] | None]) -> str:
    """One table row: the model's scores per task as JGLUE prints them (three decimals, '-' where absent)."""
    return "|" + "|".join([name, *(_cell(task, results.get(task)) for task in TASKS)]) + "|\n"


def results_markdown(rows: list[tuple[str, dict]], *, baselines: bool = True, note: str = "") -> str:
    """results.md: `rows` (name, {task: {metric: value}}) in JGLUE's table layout, JGLUE's dev rows below, cited."""
    text = "# JGLUE dev scores\n\n" + _HEADER + "".join(results_row(f"**{name}**", results) for name, results in rows)
    if baselines:
        text += "|||\n" + "".join(results_row(name, results) for name, results in DEV_BASELINES.items())
        text += f"\nBaseline rows: {BASELINE_SOURCE}; every model fine-tuned with JGLUE's settings and search.\n"
    if note:
        text += f"\n{note}\n"
    return text
