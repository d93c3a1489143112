"""Reading fine-tuning data: `read_classification`, `read_pairs`, `read_ner`, and the label-set check `label_set`.

The suffix picks the format: `.jsonl` / `.json` / `.ndjson` are JSON lines, `.csv` / `.tsv` have a
header row, and for NER anything else is CoNLL. Every example carries its file and line (`Source`),
and every error names them. NER ends as character spans whatever the format, so alignment to
subword pieces has one path (`align.py`).
"""

from __future__ import annotations

import csv
import json
import logging
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from jaroberta.errors import JarobertaError

log = logging.getLogger(__name__)

JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")
TEXT_FIELDS = ("text", "sentence")
"""Classification text columns, in order of preference (`sentence`: JGLUE MARC-ja)."""
PAIR_FIELDS = ("sentence1", "sentence2")
"""Sentence-pair columns (JGLUE JNLI / JSTS)."""
OUTSIDE = "O"


@dataclass(frozen=True)
class Source:
    """Where an example came from, for error messages."""

    path: str
    """File name as given."""
    line: int
    """1-based line (first line of the sentence for CoNLL)."""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class TextExample:
    """One classification example."""

    text: str
    """The text, as given (the tokenizer normalizes it)."""
    label: str | float
    """Class name (a float only when read as a score, which classification refuses)."""
    where: Source
    """File and line, for error messages."""


@dataclass
class PairExample:
    """One sentence pair with its class or score."""

    first: str
    """First sentence (JGLUE's sentence1)."""
    second: str
    """Second sentence (JGLUE's sentence2)."""
    label: str | float
    """Class name (JNLI) or score (JSTS)."""
    where: Source
    """File and line, for error messages."""


@dataclass
class ChoiceExample:
    """One multiple-choice question (JCommonsenseQA-like)."""

    question: str
    """The question."""
    choices: tuple[str, ...]
    """choice0, choice1, ... as the line gives them."""
    label: int | None
    """Index of the right choice (None when predicting)."""
    where: Source
    """File and line, for error messages."""


@dataclass(frozen=True)
class Span:
    """An entity: characters [start, end) of the text, of one type."""

    start: int
    """First character (code point) of the entity."""
    end: int
    """One past its last character."""
    label: str
    """Entity type (LOC, PSN...), without B-/I-."""

    def as_tuple(self) -> tuple[int, int, str]:
        return (self.start, self.end, self.label)


@dataclass
class NerExample:
    """One NER text with its entities as character spans."""

    text: str
    """The text (CoNLL: its tokens joined)."""
    entities: list[Span]
    """Sorted, non-overlapping, never starting or ending with whitespace."""
    where: Source
    """File and first line, for error messages."""
    words: list[tuple[int, int]] = field(default_factory=list)
    """Character span of each CoNLL token (empty for the JSON-lines form)."""


@dataclass
class ReadStats:
    """What reading changed or noticed, logged and reported, never hidden."""

    examples: int = 0
    """Examples read."""
    trimmed_spans: int = 0
    """Entity spans whose whitespace edges were trimmed."""
    repaired_tags: int = 0
    """IOB2 `I-X` tags that did not continue an `X` entity, read as the start of one (as conlleval does)."""


# -- helpers -------------------------------------------------------------------------
def _fail(where: Source | str, message: str) -> JarobertaError:
    return JarobertaError(f"{where}: {message}")


def _check_exists(path: Path) -> None:
    if not path.is_file():
        raise JarobertaError(f"data file {path} does not exist (or is not a file)")


def _rows(path: Path):
    """(Source, dict) for every record of a JSON-lines or CSV/TSV file."""
    _check_exists(path)
    if path.suffix.lower() in JSON_SUFFIXES:
        yield from json_rows(path)
    elif path.suffix.lower() in (".csv", ".tsv"):
        yield from _csv_rows(path, "\t" if path.suffix.lower() == ".tsv" else ",")
    else:
        raise JarobertaError(f"{path}: unknown format {path.suffix!r}; use .jsonl (JSON lines), .csv or .tsv with a header row")


def json_rows(path: Path):
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise _fail(Source(str(path), number), f"not valid JSON ({exc.msg}); expected one JSON object per line") from exc
            if not isinstance(record, dict):
                raise _fail(Source(str(path), number), f"expected a JSON object, got {type(record).__name__}")
            yield Source(str(path), number), record


def _csv_rows(path: Path, delimiter: str):
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        for record in reader:
            # DictReader's line_num is the physical line the record ends on.
            yield Source(str(path), reader.line_num), record


def _field(record: dict, names: tuple[str, ...], where: Source, what: str):
    for name in names:
        if name in record and record[name] is not None:
            return record[name]
    raise _fail(where, f"no {what} field: expected {' or '.join(repr(n) for n in names)}, found {sorted(record)}")


def _text(value, where: Source, what: str) -> str:
    if not isinstance(value, str):
        raise _fail(where, f"{what} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise _fail(where, f"empty {what}: every example needs some text; remove the line")
    return value


def _label(value, where: Source, from_json: bool) -> str | float:
    """A class name (str) or a score (float, JSON numbers with a fraction such as JSTS's 3.8)."""
    if isinstance(value, bool) or value is None:
        raise _fail(where, f"label must be a string or a number, got {value!r}")
    if isinstance(value, float):
        return value
    label = str(value).strip()
    if not label:
        raise _fail(where, "empty label")
    if not from_json and _is_decimal(label):
        return float(label)  # CSV has no types: "3.8" is a score
    return label


def _is_decimal(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return "." in value


# -- classification and pairs ------------------------------------------------------------
def read_classification(path: str | Path) -> list[TextExample]:
    """Texts and labels: JSON lines with `text` (or JGLUE MARC-ja's `sentence`) and `label`, or CSV / TSV
    with the same column names."""
    path = Path(path)
    examples = []
    for where, record in _rows(path):
        text = _text(_field(record, TEXT_FIELDS, where, "text"), where, "text")
        label = _label(_field(record, ("label",), where, "label"), where, path.suffix.lower() in JSON_SUFFIXES)
        examples.append(TextExample(text, label, where))
    if not examples:
        raise JarobertaError(f"{path}: no examples")
    return examples


def read_pairs(path: str | Path) -> list[PairExample]:
    """Sentence pairs with labels or scores: `sentence1`, `sentence2`, `label` in JSON lines or CSV / TSV
    (JGLUE JNLI's string labels, JSTS's float scores, as they are; extra fields such as ids are ignored)."""
    path = Path(path)
    examples = []
    for where, record in _rows(path):
        first = _text(_field(record, PAIR_FIELDS[:1], where, "first sentence"), where, PAIR_FIELDS[0])
        second = _text(_field(record, PAIR_FIELDS[1:], where, "second sentence"), where, PAIR_FIELDS[1])
        label = _label(_field(record, ("label",), where, "label"), where, path.suffix.lower() in JSON_SUFFIXES)
        examples.append(PairExample(first, second, label, where))
    if not examples:
        raise JarobertaError(f"{path}: no examples")
    return examples


# -- multiple choice ---------------------------------------------------------------------
def parse_choice(record: dict, where: Source, labelled: bool = True) -> ChoiceExample:
    """A question with `choice0`, `choice1`, ... (as many as the record has, numbered from 0 without
    gaps) and `label`, the index of the right one (JGLUE JCommonsenseQA's fields)."""
    choices = []
    while f"choice{len(choices)}" in record:
        choices.append(_text(record[f"choice{len(choices)}"], where, f"choice{len(choices)}"))
    if len(choices) < 2:
        raise _fail(where, f"a multiple-choice line needs choice0, choice1, ...; found {len(choices)} choice(s)")
    label = None
    if labelled:
        label = record.get("label")
        if isinstance(label, str) and label.strip().isdigit():  # CSV has no types
            label = int(label)
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(choices):
            raise _fail(where, f"'label' must be the index of a choice (0 to {len(choices) - 1}), found {label!r}")
    return ChoiceExample(_text(_field(record, ("question",), where, "question"), where, "question"), tuple(choices), label, where)


def read_choices(path: str | Path) -> list[ChoiceExample]:
    """Multiple-choice questions: JSON lines or CSV / TSV with `question`, `choice0`...`choiceN`, `label`."""
    path = Path(path)
    examples = [parse_choice(record, where) for where, record in _rows(path)]
    if not examples:
        raise JarobertaError(f"{path}: no examples")
    return examples


# -- NER -------------------------------------------------------------------------------
def read_ner(path: str | Path, join: str = "") -> tuple[list[NerExample], ReadStats]:
    """NER examples from CoNLL or JSON lines, their entities as character spans.

    CoNLL: one token per line, its IOB2 tag in the *last* column, a blank line between sentences,
    `-DOCSTART-` lines skipped; tokens are joined with `join` ("" for Japanese, " " for
    space-separated languages). JSON lines: `text` and `entities`, objects `{"start", "end", "label"}`
    (an optional `"text"` is checked against the span) or `[start, end, label]` triples, offsets in
    Python characters (code points), end exclusive. Spans never start or end with whitespace (a
    tagged space at an edge is trimmed, and counted); a span edge inside a character (before a
    combining mark or variation selector) is an error.
    """
    path = Path(path)
    _check_exists(path)
    if path.suffix.lower() in JSON_SUFFIXES:
        examples, stats = _read_ner_json(path)
    else:
        examples, stats = _read_conll(path, join)
    if not examples:
        raise JarobertaError(f"{path}: no examples")
    stats.examples = len(examples)
    return examples, stats


def _read_conll(path: Path, join: str) -> tuple[list[NerExample], ReadStats]:
    stats = ReadStats()
    examples: list[NerExample] = []
    tokens: list[tuple[str, str]] = []
    start_line = 0
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.startswith("-DOCSTART-"):
                if tokens:
                    examples.append(sentence_from_tags(tokens, Source(str(path), start_line), join, stats))
                    tokens = []
                continue
            columns = line.split("\t") if "\t" in line else line.split()
            if len(columns) < 2:
                raise _fail(Source(str(path), number), f"expected a token and its IOB2 tag separated by a tab, got {line!r}")
            if not tokens:
                start_line = number
            tokens.append((columns[0], columns[-1].strip()))
    if tokens:
        examples.append(sentence_from_tags(tokens, Source(str(path), start_line), join, stats))
    return examples, stats


def sentence_from_tags(tokens: list[tuple[str, str]], where: Source, join: str = "", stats: ReadStats | None = None) -> NerExample:
    """(token, IOB2 tag) pairs -> the sentence's text, token spans and entity spans."""
    stats = stats if stats is not None else ReadStats()
    pieces, words, tags = [], [], []
    position = 0
    for index, (token, tag) in enumerate(tokens):
        if index and join:
            pieces.append(join)
            position += len(join)
        if not token:
            raise _fail(where, f"token {index + 1} of the sentence is empty")
        pieces.append(token)
        words.append((position, position + len(token)))
        position += len(token)
        tags.append(_check_tag(tag, where, index))
    text = "".join(pieces)
    if not text.strip():
        raise _fail(where, "empty sentence: its tokens are only whitespace")
    entities = []
    for start_word, end_word, label, repaired in tag_runs(tags):
        stats.repaired_tags += repaired
        span = _trimmed(text, words[start_word][0], words[end_word - 1][1], label, stats)
        if span is not None:
            entities.append(span)
    return NerExample(text, entities, where, words)


def _check_tag(tag: str, where: Source, index: int) -> str:
    if tag == OUTSIDE or (len(tag) > 2 and tag[:2] in ("B-", "I-")):
        return tag
    raise _fail(where, f"token {index + 1} of the sentence has tag {tag!r}; IOB2 tags are 'O', 'B-TYPE' or 'I-TYPE'")


def tag_runs(tags: list[str | None]) -> list[tuple[int, int, str, bool]]:
    """Entities of an IOB2 tag sequence as (first, last + 1, type, repaired).

    `None` tags (pieces with no text) neither start nor end an entity. An `I-X` that does
    not continue an `X` entity starts one (`repaired` True), as conlleval reads it.
    """
    runs: list[tuple[int, int, str, bool]] = []
    current: list | None = None  # [start, end, type, repaired]
    for index, tag in enumerate(tags):
        if tag is None:
            continue
        kind, _, label = tag.partition("-")
        if kind == "I" and current is not None and current[2] == label:
            current[1] = index + 1
            continue
        if current is not None:
            runs.append(tuple(current))
            current = None
        if kind in ("B", "I"):
            current = [index, index + 1, label, kind == "I"]
    if current is not None:
        runs.append(tuple(current))
    return runs


def _trimmed(text: str, start: int, end: int, label: str, stats: ReadStats) -> Span | None:
    new_start, new_end = start, end
    while new_start < new_end and text[new_start].isspace():
        new_start += 1
    while new_end > new_start and text[new_end - 1].isspace():
        new_end -= 1
    if (new_start, new_end) != (start, end):
        stats.trimmed_spans += 1
    return Span(new_start, new_end, label) if new_start < new_end else None


def _read_ner_json(path: Path) -> tuple[list[NerExample], ReadStats]:
    stats = ReadStats()
    examples = []
    for where, record in json_rows(path):
        text = _text(_field(record, ("text",), where, "text"), where, "text")
        raw = record.get("entities", record.get("spans", record.get("label", [])))
        if not isinstance(raw, list):
            raise _fail(where, f"'entities' must be a list, got {type(raw).__name__}")
        spans = [_json_span(text, item, where, stats) for item in raw]
        examples.append(NerExample(text, sorted({s for s in spans if s is not None}, key=Span.as_tuple), where))
        _check_no_overlap(examples[-1])
    return examples, stats


def _json_span(text: str, item, where: Source, stats: ReadStats) -> Span | None:
    if isinstance(item, dict):
        start, end, label, surface = item.get("start"), item.get("end"), item.get("label"), item.get("text")
    elif isinstance(item, (list, tuple)) and len(item) == 3:
        (start, end, label), surface = item, None
    else:
        raise _fail(where, f"entity {item!r}: expected {{'start', 'end', 'label'}} or [start, end, label]")
    if not isinstance(start, int) or not isinstance(end, int) or isinstance(start, bool) or isinstance(end, bool):
        raise _fail(where, f"entity {item!r}: start and end must be integers (character offsets)")
    if not isinstance(label, str) or not label.strip() or label == OUTSIDE:
        raise _fail(where, f"entity {item!r}: label must be a non-empty type name other than 'O'")
    if not 0 <= start < end <= len(text):
        raise _fail(where, f"entity {item!r}: span [{start}, {end}) is outside the text's {len(text)} characters or empty")
    if surface is not None and text[start:end] != surface:
        raise _fail(
            where,
            f"entity {item!r}: text[{start}:{end}] is {text[start:end]!r}, not {surface!r}; offsets must count "
            f"characters (code points), not UTF-8 bytes or UTF-16 units",
        )
    for offset in (start, end):
        if 0 < offset < len(text) and _continues_character(text[offset]):
            raise _fail(
                where,
                f"entity {item!r}: offset {offset} falls inside the character {text[offset - 1 : offset + 1]!r} "
                f"(before a combining mark or variation selector); move the span to a character boundary",
            )
    return _trimmed(text, start, end, label, stats)


def _continues_character(char: str) -> bool:
    """True for code points that attach to the previous one (combining marks, variation selectors, ZWJ)."""
    return unicodedata.category(char) in ("Mn", "Me", "Mc") or "\ufe00" <= char <= "\ufe0f" or char == "\u200d" or (
        "\U000e0100" <= char <= "\U000e01ef"
    )


def _check_no_overlap(example: NerExample) -> None:
    for a, b in zip(example.entities, example.entities[1:]):
        if b.start < a.end:
            raise _fail(
                example.where,
                f"entities {a.as_tuple()} and {b.as_tuple()} overlap; IOB2 tagging (and this NER) needs flat entities",
            )


# -- label sets ------------------------------------------------------------------------
def label_set(train: list, dev: list | None, labels_of, train_path, dev_path, declared: list[str] | None = None) -> list[str]:
    """The sorted label set, checked: dev and train must agree unless the set is declared.

    `labels_of(example)` gives an example's labels (one class, or its entity types).
    With `declared`, any label outside it is an error and absent ones are fine.
    """
    first_seen: dict[str, dict[str, Source]] = {"train": {}, "dev": {}}
    for split, examples in (("train", train), ("dev", dev or [])):
        for example in examples:
            for label in labels_of(example):
                first_seen[split].setdefault(label, example.where)
    if declared:
        for split, seen in first_seen.items():
            unknown = [label for label in seen if label not in declared]
            if unknown:
                raise _fail(seen[unknown[0]], f"label {unknown[0]!r} is not in --labels {','.join(declared)}")
        return list(declared)
    train_labels, dev_labels = set(first_seen["train"]), set(first_seen["dev"])
    if dev is not None:
        only_dev = sorted(dev_labels - train_labels)
        if only_dev:
            raise _fail(
                first_seen["dev"][only_dev[0]],
                f"label {only_dev[0]!r} is not in the training data {train_path} (dev-only labels: {only_dev}); "
                f"the model cannot learn it: fix the label or add training examples",
            )
        only_train = sorted(train_labels - dev_labels)
        if only_train:
            raise JarobertaError(
                f"{dev_path}: label(s) {only_train} of the training data (first at {first_seen['train'][only_train[0]]}) "
                f"never occur in the dev data, so dev scores would ignore them; add dev examples or declare the "
                f"label set with --labels"
            )
    return sorted(train_labels)


def record_text(record: dict, names: tuple[str, ...], where: Source, what: str) -> str:
    """The non-empty text of the first of `names` present in a record; errors name file and line."""
    return _text(_field(record, names, where, what), where, what)


def read_jsonl_inputs(path: str | Path, convert) -> list:
    """Inputs to predict from JSON lines, `convert(record, where)` each (a kind's `input_from_record`); labels are ignored."""
    path = Path(path)
    _check_exists(path)
    return [convert(record, where) for where, record in json_rows(path)]
