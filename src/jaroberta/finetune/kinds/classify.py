"""Text classification (MARC-ja-like): `[CLS] text` -> a label. The `classify` kind of the registry."""

from __future__ import annotations

from pathlib import Path

from jaroberta.errors import JarobertaError
from jaroberta.finetune.data import TEXT_FIELDS, TextExample, read_classification, record_text
from jaroberta.finetune.kinds.base import EncodeStats, Row, encode_texts
from jaroberta.finetune.kinds.sequence import SequenceKind
from jaroberta.model.loading import LoadedModel


class ClassifyKind(SequenceKind):
    """One text, one class."""

    name = "classify"
    summary = "fine-tune text classification (JSONL/CSV: text, label; JGLUE MARC-ja as it is)"
    data_help = "DATA: JSON lines with 'text' (or 'sentence') and 'label', or CSV/TSV with those columns."
    options = ()
    objectives = ("classification",)

    @classmethod
    def read(cls, path: Path, join: str = "") -> list[TextExample]:
        return read_classification(path)

    def encode(self, lm: LoadedModel, examples: list[TextExample], labels: list[str] | None, budget: int) -> tuple[list[Row], EncodeStats]:
        stats = EncodeStats(rows=len(examples))
        rows = []
        encodings = encode_texts(lm, [e.text for e in examples], [e.where for e in examples])
        for index, (example, encoding) in enumerate(zip(examples, encodings)):
            pieces = encoding.ids[:budget]
            truncated = len(encoding.ids) > budget
            stats.truncated += truncated
            target = self.target(example, labels) if labels is not None else None
            rows.append(Row(lm.frame(pieces), target, len(encoding.ids), truncated, example=index))
        return rows, stats

    def example_from_input(self, value, where: str) -> TextExample:
        if not isinstance(value, str):
            raise JarobertaError(f"{where}: expected a text for a classification model")
        return TextExample(value, "", where)

    def input_from_record(self, record: dict, where) -> str:
        return record_text(record, TEXT_FIELDS, where, "text")

    def describe_input(self, example: TextExample) -> dict:
        return {"text": example.text}
