"""Extractive QA data: SQuAD v1 JSON as JSQuAD ships it, windows over long contexts, answers back as spans.

Reading (`read_squad`). `data -> paragraphs -> {context, qas: [{id, question, answers:
[{text, answer_start}]}]}`, `answer_start` in characters (code points) of the context.
Every answer is checked against its context: `context[answer_start:][:len(text)] == text`.
One that does not match is never trained on silently:
- if its text occurs exactly once within `NEARBY` characters of `answer_start`, or exactly
  once in the whole context, the start is corrected and counted as corrected;
- otherwise it keeps `start=None`, is counted as unmatched, and only its text serves
  (exact match and F1 compare texts, so it still counts for scoring).
`AnswerReport` holds the counts and the first few cases, for results.json and the log.

Windows (`windows_for`). `[CLS] question [SEP] context` in the family's own framing and
positions (`InputConventions.frame_pair` / `position_ids`: rinna has no closing `[SEP]`
and explicit positions from 0), at most `max_length` ids (384, JGLUE's). A context too long
for one window is cut into windows that start every `stride` context pieces (run_squad's
`doc_stride`, 128, as JGLUE ran it), the last one ending at the context's end. Gold answers
are placed through the tokenizer's character offsets: the first and last context piece
whose text (`piece_cores`: without edge whitespace) overlaps the answer, or None when the
answer is not wholly inside the window.

Predictions (`best_spans`, `predict_answers`). n-best start/end pairs (start <= end, at most
`max_answer_length` pieces, start and end inside the context, the start in the window where
that piece has the most context on both sides, as BERT's run_squad decides) scored by
start logit + end logit, and returned as character spans *of the original context*: the
answer is `context[start:end]`, never pieces joined back together.

Boundary ceiling (`boundary_ceiling`). An answer whose ends fall inside a piece cannot be
predicted exactly: the share of gold answers whose both ends fall on piece boundaries is
the best exact match any model can reach with that tokenizer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jaroberta.errors import JarobertaError
from jaroberta.model.conventions import InputConventions
from jaroberta.finetune.align import piece_cores
from jaroberta.text.base import JaTokenizer

NEARBY = 50
"""A mismatched answer whose text occurs once within this many characters of its answer_start is moved there."""
MAX_LENGTH = 384
"""JGLUE's max sequence length for JSQuAD."""
STRIDE = 128
"""run_squad's doc_stride: a new window every this many context pieces."""
MAX_QUERY_PIECES = 64
"""run_squad's max_query_length: longer questions are cut (and counted)."""
MAX_ANSWER_PIECES = 30
"""run_squad's max_answer_length, in pieces."""
N_BEST = 20
"""run_squad's n_best_size: start and end candidates per window."""
REPORTED_CASES = 5
"""How many mismatched answers an `AnswerReport` quotes."""


@dataclass(frozen=True)
class Answer:
    """One gold answer: its text and where it starts in the context (None: not found there)."""

    text: str
    """The answer as given."""
    start: int | None
    """Character offset in the context, checked (and corrected when found once nearby); None when not found."""
    corrected: bool = False
    """True when `start` is not the file's answer_start but where the text was found (counted in the results)."""

    @property
    def end(self) -> int | None:
        return None if self.start is None else self.start + len(self.text)


@dataclass(frozen=True)
class QAExample:
    """One question about one context."""

    id: str
    """The question's id (JSQuAD's `id`, e.g. a1531320p0q0)."""
    question: str
    """The question."""
    context: str
    """The paragraph (JSQuAD: title [SEP] paragraph), exactly as given."""
    answers: tuple[Answer, ...]
    """Gold answers (dev: several; train: one)."""
    title: str = ""
    """The article's title."""

    @property
    def located(self) -> tuple[Answer, ...]:
        """The answers whose place in the context is known (what training may use)."""
        return tuple(a for a in self.answers if a.start is not None)


@dataclass
class AnswerReport:
    """What checking answers against their contexts found."""

    questions: int = 0
    """Questions read."""
    answers: int = 0
    """Gold answers read."""
    matched: int = 0
    """Answers found at their answer_start."""
    corrected: int = 0
    """Answers not at their answer_start but found once nearby or once in the context: start moved there."""
    unmatched: int = 0
    """Answers not found: kept for scoring by text, never trained on."""
    unanswerable: int = 0
    """Questions with no located answer at all (not trained on)."""
    cases: list[str] = field(default_factory=list)
    """The first few corrected or unmatched answers, described."""

    def to_dict(self) -> dict:
        return {"questions": self.questions, "answers": self.answers, "matched": self.matched, "corrected": self.corrected,
                "unmatched": self.unmatched, "questions_without_located_answer": self.unanswerable, "cases": self.cases}

    def summary(self) -> str:
        return (f"{self.questions:,} questions, {self.answers:,} answers: {self.matched:,} at their answer_start, "
                f"{self.corrected:,} corrected, {self.unmatched:,} not found in the context")


# -- reading ------------------------------------------------------------------------------
def read_squad(path: str | Path, *, nearby: int = NEARBY) -> tuple[list[QAExample], AnswerReport]:
    """Questions of a SQuAD v1 JSON file (JSQuAD's train-v1.3.json / valid-v1.3.json), answers checked."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise JarobertaError(f"QA data file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise JarobertaError(f"cannot read QA data {path}: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JarobertaError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno}); "
                             f"expected SQuAD v1 JSON (data -> paragraphs -> qas)") from exc
    articles = data.get("data") if isinstance(data, dict) else None
    if not isinstance(articles, list):
        raise JarobertaError(f"{path}: no 'data' list at the top: expected SQuAD v1 JSON (data -> paragraphs -> qas)")
    report = AnswerReport()
    examples: list[QAExample] = []
    seen: dict[str, str] = {}
    for a, article in enumerate(articles):
        paragraphs = _get(article, "paragraphs", list, f"{path}: data[{a}]")
        for p, paragraph in enumerate(paragraphs):
            where = f"{path}: data[{a}].paragraphs[{p}]"
            context = _get(paragraph, "context", str, where)
            for q, qa in enumerate(_get(paragraph, "qas", list, where)):
                at = f"{where}.qas[{q}]"
                qid = str(_get(qa, "id", (str, int), at))
                if qid in seen:
                    raise JarobertaError(f"{at}: question id {qid!r} also at {seen[qid]}; ids must be unique")
                seen[qid] = at
                question = _get(qa, "question", str, at)
                answers = tuple(_checked_answer(context, raw, f"{at} (id {qid}).answers[{i}]", nearby, report)
                                for i, raw in enumerate(_get(qa, "answers", list, at)))
                report.questions += 1
                report.unanswerable += not any(x.start is not None for x in answers)
                examples.append(QAExample(qid, question, context, answers, str(article.get("title", ""))))
    if not examples:
        raise JarobertaError(f"{path}: no questions")
    return examples, report


def _get(record, key: str, kind, where: str):
    if not isinstance(record, dict):
        raise JarobertaError(f"{where}: expected a JSON object, got {type(record).__name__}")
    value = record.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        found = "nothing" if value is None else type(value).__name__
        raise JarobertaError(f"{where}: {key!r} is missing or of the wrong type ({found}); expected SQuAD v1 JSON")
    return value


def _checked_answer(context: str, raw, where: str, nearby: int, report: AnswerReport) -> Answer:
    text = _get(raw, "text", str, where)
    start = _get(raw, "answer_start", int, where)
    report.answers += 1
    if not text:
        raise JarobertaError(f"{where}: empty answer text")
    if start >= 0 and context[start : start + len(text)] == text:
        report.matched += 1
        return Answer(text, start)
    found = locate(context, text, start, nearby)
    if found is None:
        report.unmatched += 1
        _note(report, f"{where}: {text!r} is not at {start} nor found once nearby or in the context: not trained on")
        return Answer(text, None)
    report.corrected += 1
    _note(report, f"{where}: {text!r} is not at {start}; found at {found}, corrected")
    return Answer(text, found, corrected=True)


def _note(report: AnswerReport, case: str) -> None:
    if len(report.cases) < REPORTED_CASES:
        report.cases.append(case)


def locate(context: str, text: str, start: int, nearby: int = NEARBY) -> int | None:
    """Where `text` really starts: its only occurrence within `nearby` characters of `start`, else its
    only occurrence in `context`; None when neither is unique."""
    if start >= 0 and context.startswith(text, start):
        return start
    occurrences = []
    at = context.find(text)
    while at != -1:
        occurrences.append(at)
        at = context.find(text, at + 1)
    close = [at for at in occurrences if abs(at - start) <= nearby]
    if len(close) == 1:
        return close[0]
    if len(occurrences) == 1:
        return occurrences[0]
    return None


# -- piece boundaries ---------------------------------------------------------------------------
WORD_BOUNDARY_CHOICES = ("mecab",)
"""`word_boundaries` values the QA pipeline accepts (None: the tokenizer as it is)."""


def qa_tokenizer(tokenizer: JaTokenizer, word_boundaries: str | None) -> JaTokenizer:
    """The tokenizer QA windows use: with `word_boundaries="mecab"`, pieces never cross a MeCab word.

    SentencePiece tokenizers get the option (`SentencePieceTokenizer.with_word_boundaries`);
    the MeCab + WordPiece family cuts at MeCab words already, so it is returned as it is.
    """
    if word_boundaries is None:
        return tokenizer
    if word_boundaries not in WORD_BOUNDARY_CHOICES:
        raise JarobertaError(f"unknown word boundaries {word_boundaries!r}; choose one of {WORD_BOUNDARY_CHOICES} or none")
    if tokenizer.tokenizer_kind == "mecab-wordpiece":
        return tokenizer
    if not hasattr(tokenizer, "with_word_boundaries"):
        raise JarobertaError(f"a {tokenizer.tokenizer_kind} tokenizer cannot keep its pieces inside MeCab words")
    return tokenizer.with_word_boundaries(word_boundaries)


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without whitespace at its edges (pieces' cores never have any)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def answer_pieces(cores: Sequence[tuple[int, int] | None], start: int, end: int) -> tuple[int, int] | None:
    """(first, last) piece whose core overlaps characters [start, end), or None when no piece does."""
    first = last = None
    for index, core in enumerate(cores):
        if core is None or core[1] <= start:
            continue
        if core[0] >= end:
            break
        if first is None:
            first = index
        last = index
    return None if first is None else (first, last)


def on_boundaries(cores: Sequence[tuple[int, int] | None], start: int, end: int) -> bool:
    """Whether a span starts where a piece starts and ends where a piece ends (exactly recoverable)."""
    placed = answer_pieces(cores, start, end)
    return placed is not None and cores[placed[0]][0] == start and cores[placed[1]][1] == end


@dataclass
class Ceiling:
    """How many gold answers fall on piece boundaries at both ends."""

    answers: int = 0
    """Located gold answers counted."""
    on_boundaries: int = 0
    """Of them, those whose both ends fall on piece boundaries."""

    @property
    def ceiling(self) -> float:
        """The share on boundaries: the best exact match any model reaches with this tokenizer."""
        return self.on_boundaries / self.answers if self.answers else 1.0


def boundary_ceiling(examples: Sequence[QAExample], tokenizer: JaTokenizer, *, workers: int = 1) -> Ceiling:
    """Count the located gold answers of `examples` whose both ends fall on the context's piece boundaries.

    Every answer counts (dev questions have two or three); edge whitespace of an answer is
    ignored, as pieces never start or end with it.
    """
    contexts = list(dict.fromkeys(e.context for e in examples))
    cores = {c: piece_cores(c, enc.offsets) for c, enc in zip(contexts, tokenizer.encode_batch(contexts, workers=workers))}
    result = Ceiling()
    for example in examples:
        for answer in example.located:
            result.answers += 1
            result.on_boundaries += on_boundaries(cores[example.context], *_trimmed(example.context, answer.start, answer.end))
    return result


# -- windows --------------------------------------------------------------------------------
@dataclass
class Window:
    """One model input: question and a stretch of the context, framed."""

    example: int
    """Index of its example in the list given to `windows_for`."""
    input_ids: list[int]
    """Framed ids: prefix, question, separator, context pieces, suffix."""
    position_ids: list[int] | None
    """Explicit positions where the family needs them (rinna: from 0), else None."""
    context_first: int
    """Index in `input_ids` of the window's first context piece."""
    spans: list[tuple[int, int] | None]
    """Per context piece of the window: its character span in the context (core, no edge whitespace); None for no text."""
    max_context: list[bool]
    """Per context piece: whether this window gives it more context than any other window (decoding starts only there)."""
    answer: tuple[int, int] | None
    """Gold (start, end) indices into `input_ids` (end inclusive), or None when the answer is not in this window."""

    def piece_span(self, start: int, end: int) -> tuple[int, int]:
        """Character span in the context of input positions start..end (inclusive)."""
        first, last = self.spans[start - self.context_first], self.spans[end - self.context_first]
        return first[0], last[1]


@dataclass
class WindowStats:
    """What windowing did, counted."""

    examples: int = 0
    windows: int = 0
    """Windows made (more than examples when contexts are long)."""
    truncated_questions: int = 0
    """Questions cut to `max_query_pieces`."""
    answers_off_boundaries: int = 0
    """Gold answers (the one trained on) whose ends fall inside a piece: trained on the covering pieces."""
    answers_without_pieces: int = 0
    """Gold answers no piece covers (whitespace only): not trained on."""


def windows_for(
    examples: Sequence[QAExample],
    tokenizer: JaTokenizer,
    conventions: InputConventions,
    *,
    max_length: int = MAX_LENGTH,
    stride: int = STRIDE,
    max_query_pieces: int = MAX_QUERY_PIECES,
    workers: int = 1,
) -> tuple[list[Window], WindowStats]:
    """Windows over every example's context; the first located answer is placed as the gold span."""
    if max_length > conventions.max_length:
        raise JarobertaError(f"max length {max_length} is longer than the model's {conventions.max_length}")
    if stride < 1:
        raise JarobertaError(f"stride must be at least 1, got {stride}")
    token = _token_ids(tokenizer, conventions)
    framing = len(conventions.prefix) + len(conventions.pair_separator) + len(conventions.suffix)
    questions = tokenizer.encode_batch([e.question for e in examples], workers=workers)
    contexts = list(dict.fromkeys(e.context for e in examples))
    encoded = dict(zip(contexts, tokenizer.encode_batch(contexts, workers=workers)))
    stats = WindowStats(examples=len(examples))
    windows: list[Window] = []
    for index, (example, question) in enumerate(zip(examples, questions)):
        query = question.ids[:max_query_pieces]
        stats.truncated_questions += len(question.ids) > max_query_pieces
        room = max_length - framing - len(query)
        if room < 1:
            raise JarobertaError(f"question {example.id}: max length {max_length} leaves no room for the context")
        context = encoded[example.context]
        cores = piece_cores(example.context, context.offsets)
        gold = _gold_pieces(example, cores, stats)
        starts = _window_starts(len(context.ids), room, stride)
        for start in starts:
            count = min(room, len(context.ids) - start)
            input_ids = conventions.frame_pair(query, context.ids[start : start + count], token)
            first = len(conventions.prefix) + len(query) + len(conventions.pair_separator)
            answer = None
            if gold is not None and start <= gold[0] and gold[1] < start + count:
                answer = (first + gold[0] - start, first + gold[1] - start)
            windows.append(Window(
                index, input_ids, conventions.position_ids(len(input_ids)), first, cores[start : start + count],
                [_is_max_context(starts, room, len(context.ids), start, i) for i in range(start, start + count)], answer,
            ))
    stats.windows = len(windows)
    return windows, stats


def _token_ids(tokenizer: JaTokenizer, conventions: InputConventions):
    def token(name: str) -> int:
        idx = tokenizer.token_to_id(name)
        if idx is None:
            raise JarobertaError(f"the tokenizer has no {name!r} token, which the {conventions.name} framing needs")
        return idx
    return token


def _gold_pieces(example: QAExample, cores, stats: WindowStats) -> tuple[int, int] | None:
    if not example.located:
        return None
    answer = example.located[0]
    start, end = _trimmed(example.context, answer.start, answer.end)
    placed = answer_pieces(cores, start, end)
    if placed is None:
        stats.answers_without_pieces += 1
    elif cores[placed[0]][0] != start or cores[placed[1]][1] != end:
        stats.answers_off_boundaries += 1
    return placed


def _window_starts(pieces: int, room: int, stride: int) -> list[int]:
    """First context piece of each window: every `stride` pieces until one reaches the end."""
    starts = [0]
    while starts[-1] + room < pieces:
        starts.append(starts[-1] + min(room, stride))
    return starts


def _is_max_context(starts: list[int], room: int, pieces: int, window: int, piece: int) -> bool:
    """Whether `window` is the one where `piece` has the most context (BERT's _check_is_max_context)."""
    def score(start: int) -> float | None:
        end = min(start + room, pieces) - 1
        if not start <= piece <= end:
            return None
        return min(piece - start, end - piece) + 0.01 * (end - start + 1)

    best = max(starts, key=lambda s: (score(s) is not None, score(s) or 0.0))
    return best == window


# -- decoding -------------------------------------------------------------------------------
def best_spans(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    allowed_starts: Sequence[bool],
    allowed_ends: Sequence[bool],
    *,
    n_best: int = N_BEST,
    max_answer_length: int = MAX_ANSWER_PIECES,
) -> list[tuple[int, int, float]]:
    """The best (start, end, score) position pairs of one window, best first (run_squad's rule).

    Candidates are the `n_best` highest start and end logits; a pair needs an allowed start
    and end, start <= end and at most `max_answer_length` positions; its score is the sum of
    the two logits. Pure: logits are one window's arrays of shape (T,).
    """
    start_logits, end_logits = np.asarray(start_logits, dtype=np.float64), np.asarray(end_logits, dtype=np.float64)
    if start_logits.shape != end_logits.shape or start_logits.ndim != 1:
        raise ValueError(f"start and end logits must be two (T,) arrays, got {start_logits.shape} and {end_logits.shape}")
    top_starts = np.argsort(-start_logits, kind="stable")[:n_best]
    top_ends = np.argsort(-end_logits, kind="stable")[:n_best]
    pairs = [
        (int(s), int(e), float(start_logits[s] + end_logits[e]))
        for s in top_starts for e in top_ends
        if allowed_starts[s] and allowed_ends[e] and s <= e < s + max_answer_length
    ]
    pairs.sort(key=lambda pair: -pair[2])
    return pairs[:n_best]


@dataclass(frozen=True)
class SpanPrediction:
    """One predicted answer: a span of the original context."""

    text: str
    """`context[start:end]`."""
    start: int
    """First character in the context."""
    end: int
    """One past the last character."""
    score: float
    """Start logit + end logit."""


def predict_answers(
    context: str,
    windows: Sequence[Window],
    start_logits: Sequence[np.ndarray],
    end_logits: Sequence[np.ndarray],
    *,
    n_best: int = N_BEST,
    max_answer_length: int = MAX_ANSWER_PIECES,
) -> list[SpanPrediction]:
    """The n-best distinct answers of one example over all its windows, best first.

    `start_logits[i]` / `end_logits[i]` are window i's logits over its input positions.
    Starts count only where the window is the piece's max-context one; ends anywhere in
    the context; pieces without text never start or end an answer.
    """
    found: dict[tuple[int, int], SpanPrediction] = {}
    for window, starts, ends in zip(windows, start_logits, end_logits):
        length = len(window.input_ids)
        allowed_starts, allowed_ends = [False] * length, [False] * length
        for i, (span, best) in enumerate(zip(window.spans, window.max_context)):
            allowed_ends[window.context_first + i] = span is not None
            allowed_starts[window.context_first + i] = span is not None and best
        for s, e, score in best_spans(np.asarray(starts)[:length], np.asarray(ends)[:length], allowed_starts, allowed_ends,
                                      n_best=n_best, max_answer_length=max_answer_length):
            begin, end = window.piece_span(s, e)
            if (begin, end) not in found or found[(begin, end)].score < score:
                found[(begin, end)] = SpanPrediction(context[begin:end], begin, end, score)
    return sorted(found.values(), key=lambda p: -p.score)[:n_best]

