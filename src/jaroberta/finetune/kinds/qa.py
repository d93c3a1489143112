"""Extractive QA (JSQuAD-like): `[CLS] question [SEP] context` windows -> an answer span of the context. The `qa` kind.

Data is SQuAD v1 JSON as JSQuAD ships it (`squad.read_squad`: answers checked against their
contexts, corrected when found once nearby, never trained on when not found). An example
becomes one row per window (`squad.windows_for`: a stride over long contexts, the gold
answer placed through the tokenizer's character offsets); `decode` sees all windows of a
question and returns the best of the n-best spans as characters of the original context
(`squad.predict_answers`): the answer is `context[start:end]`, never pieces joined back.
The head is `AutoModelForQuestionAnswering` (`RobertaForQuestionAnswering`,
`BertForQuestionAnswering`): start and end logits per position, the mean of the two
cross-entropies; a window without the answer points at position 0 (run_squad's rule).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from jaroberta.errors import JarobertaError
from jaroberta.finetune import squad
from jaroberta.finetune.data import record_text
from jaroberta.finetune.jglue_metrics import squad_scores
from jaroberta.finetune.kinds.base import EncodeStats, PieceKind, Row
from jaroberta.finetune.squad import QAExample, Window
from jaroberta.model.loading import LoadedModel

log = logging.getLogger(__name__)

NO_ANSWER = (0, 0)
"""Target of a window that does not hold the answer: the first position ([CLS]), as run_squad trains it."""


@dataclass
class WindowRow(Row):
    """A row that is one window over a context: decoding needs where its pieces sit in the context."""

    window: Window | None = None
    """The window (`squad.Window`): its pieces' character spans and max-context flags."""


class QAKind(PieceKind):
    """A question about a context; the answer is a span of the context."""

    name = "qa"
    auto_class = "AutoModelForQuestionAnswering"
    summary = "fine-tune extractive QA: SQuAD v1 JSON (JGLUE JSQuAD as it is); answers are spans of the context"
    data_help = ("DATA: SQuAD v1 JSON (data -> paragraphs -> {context, qas: [{id, question, answers: [{text, "
                 "answer_start}]}]}), answer_start in characters. Answers not at their answer_start are corrected when "
                 "found once nearby, else never trained on; both are counted in results.json.")
    options = ("word_boundaries", "stride", "max_answer_length")
    settings = ("max_length", "stride", "max_answer_length")
    objective = "extraction"
    main_metric = "exact_match"
    metric_names = ("exact_match", "f1", "loss")

    def __init__(self, max_length: int | None = None, stride: int = squad.STRIDE, max_answer_length: int = squad.MAX_ANSWER_PIECES):
        if stride < 1 or max_answer_length < 1:
            raise JarobertaError(f"--stride and --max-answer-length must be >= 1, got {stride} and {max_answer_length}")
        self.max_length = squad.MAX_LENGTH if max_length is None else max_length
        self.stride = stride
        self.max_answer_length = max_answer_length

    # -- configuring ----------------------------------------------------------------------
    @classmethod
    def for_training(cls, objective: str, train: list, **settings) -> "QAKind":
        if objective not in ("auto", "classification"):  # 'classification' is the config's default wording
            raise JarobertaError(f"QA predicts answer spans; --objective {objective} applies to pairs only")
        return cls(**settings)

    @classmethod
    def from_head(cls, head: dict) -> "QAKind":
        return cls(head.get("max_length"), head.get("stride", squad.STRIDE), head.get("max_answer_length", squad.MAX_ANSWER_PIECES))

    def head(self, labels: list[str]) -> dict:
        return {"task": self.name, "objective": self.objective, "labels": labels, "auto_class": self.auto_class,
                "max_length": self.max_length, "stride": self.stride, "max_answer_length": self.max_answer_length}

    # -- data -------------------------------------------------------------------------------
    @classmethod
    def read(cls, path: Path, join: str = "") -> list[QAExample]:
        examples, report = squad.read_squad(path)
        if report.corrected or report.unmatched:
            log.warning("%s: %s; e.g. %s", path, report.summary(), report.cases[0])
        return examples

    def labels(self, train: list, dev: list, test: list, declared, train_name, dev_name) -> list[str]:
        if declared:
            raise JarobertaError("--labels does not apply to QA: answers are spans of the context")
        if not any(e.located for e in train):
            raise JarobertaError(f"{train_name}: no answer is found in its context; QA needs answers to train on")
        return []

    def head_config(self, labels: list[str]) -> dict:
        return {"num_labels": 2}  # start and end

    def encode(self, lm: LoadedModel, examples: list[QAExample], labels: list[str] | None, budget: int) -> tuple[list[Row], EncodeStats]:
        framed = budget + len(lm.conventions.prefix) + len(lm.conventions.suffix)
        windows, counts = squad.windows_for(examples, lm.tokenizer, lm.conventions, max_length=framed, stride=self.stride)
        rows = []
        for window in windows:
            example = examples[window.example]
            # Only questions whose answer was found in the context train; the others still score by text.
            target = None
            if labels is not None and example.located:
                target = window.answer or NO_ANSWER
            rows.append(WindowRow(window.input_ids, target, len(window.spans), example=window.example, window=window))
        stats = EncodeStats(rows=len(examples), extra={"windows": counts.windows, "questions_cut": counts.truncated_questions})
        if labels is not None:
            stats.extra.update(answer_counts(examples, lm))
        return rows, stats

    # -- the model ------------------------------------------------------------------------
    def loss(self, output, rows: list[Row]) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean of the start and end cross-entropies, summed over windows with a target: logits (B, T)."""
        chosen = [i for i, row in enumerate(rows) if row.target is not None]
        starts, ends = output.start_logits.float(), output.end_logits.float()
        if not chosen:
            return starts.sum() * 0.0, torch.tensor(0.0, device=starts.device)
        index = torch.tensor(chosen, device=starts.device)
        gold = torch.tensor([rows[i].target for i in chosen], dtype=torch.long, device=starts.device)  # (N, 2)
        loss = (F.cross_entropy(starts[index], gold[:, 0], reduction="sum")
                + F.cross_entropy(ends[index], gold[:, 1], reduction="sum")) / 2
        return loss, torch.tensor(float(len(chosen)), device=starts.device)

    def row_outputs(self, output, rows: list[Row]) -> list:
        starts, ends = output.start_logits.float().cpu().numpy(), output.end_logits.float().cpu().numpy()
        return [(starts[i, : len(row.ids)], ends[i, : len(row.ids)]) for i, row in enumerate(rows)]  # (T,), (T,) per window

    # -- predictions and metrics ------------------------------------------------------------
    def decode(self, example: QAExample, rows: list[Row], outputs: list, names: list[str]) -> dict:
        best = squad.predict_answers(example.context, [row.window for row in rows], [o[0] for o in outputs],
                                     [o[1] for o in outputs], max_answer_length=self.max_answer_length)
        if not best:  # no window allowed any span (a context without pieces): an empty answer, scored as wrong
            return {"answer": "", "start": None, "end": None, "score": None}
        top = best[0]
        return {"answer": top.text, "start": top.start, "end": top.end, "score": top.score}

    def score(self, examples: list[QAExample], predictions: list[dict], labels: list[str]) -> dict[str, float]:
        golds = {e.id: [a.text for a in e.answers] for e in examples}
        return squad_scores(golds, {e.id: p["answer"] for e, p in zip(examples, predictions)})

    def example_from_input(self, value, where: str) -> QAExample:
        if not (isinstance(value, dict) and all(isinstance(value.get(k), str) and value[k].strip() for k in ("question", "context"))):
            raise JarobertaError(f"{where}: a QA model takes {{'question': ..., 'context': ...}} (both non-empty texts)")
        return QAExample(where, value["question"], value["context"], ())

    def input_from_line(self, line: str, where: str) -> dict:
        question, separator, context = line.partition("\t")
        if not separator:
            raise JarobertaError(f"{where}: a QA model needs 'question<TAB>context', got {line[:60]!r}")
        return {"question": question, "context": context}

    def input_from_record(self, record: dict, where) -> dict:
        return {name: record_text(record, (name,), where, name) for name in ("question", "context")}

    def describe_input(self, example: QAExample) -> dict:
        return {"question": example.question, "context": example.context}


def answer_counts(examples: list[QAExample], lm: LoadedModel) -> dict:
    """What the results report about gold answers: found, corrected, not found, and the boundary ceiling."""
    answers = [a for e in examples for a in e.answers]
    ceiling = squad.boundary_ceiling(examples, lm.tokenizer)
    return {"answers": {"gold": len(answers), "corrected": sum(a.corrected for a in answers),
                        "not_found": sum(a.start is None for a in answers)},
            "boundary_ceiling": round(ceiling.ceiling, 4), "answers_on_boundaries": ceiling.on_boundaries}
