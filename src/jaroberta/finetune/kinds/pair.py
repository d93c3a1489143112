"""Sentence pairs (JNLI-like classes or JSTS-like scores): `[CLS] a [SEP] b` (+ the family's suffix).

The `pair` kind of the registry. Rows longer than the model allows lose a piece at a time from
the longer sentence (Hugging Face's `longest_first`), counted in the results.
"""

from __future__ import annotations

from pathlib import Path

from jaroberta.errors import JarobertaError
from jaroberta.finetune.data import PAIR_FIELDS, PairExample, read_pairs, record_text
from jaroberta.finetune.kinds.base import EncodeStats, Row, encode_texts
from jaroberta.finetune.kinds.sequence import SequenceKind
from jaroberta.model.loading import LoadedModel


class PairKind(SequenceKind):
    """Two sentences, one class or one score."""

    name = "pair"
    summary = "fine-tune sentence pairs: classes (JNLI-like) or scores (JSTS-like)"
    data_help = ("DATA: JSON lines or CSV/TSV with 'sentence1', 'sentence2', 'label' (JGLUE JNLI / JSTS as they are); "
                 "float labels mean regression (see --objective).")
    options = ("objective",)

    @classmethod
    def read(cls, path: Path, join: str = "") -> list[PairExample]:
        return read_pairs(path)

    def encode(self, lm: LoadedModel, examples: list[PairExample], labels: list[str] | None, budget: int) -> tuple[list[Row], EncodeStats]:
        stats = EncodeStats(rows=len(examples))
        sources = [e.where for e in examples]
        firsts = encode_texts(lm, [e.first for e in examples], sources)
        seconds = encode_texts(lm, [e.second for e in examples], sources)
        budget -= len(lm.conventions.pair_separator)
        rows = []
        for index, (example, a, b) in enumerate(zip(examples, firsts, seconds)):
            first, second = longest_first(a.ids, b.ids, budget)
            truncated = len(first) + len(second) < len(a.ids) + len(b.ids)
            stats.truncated += truncated
            # No segment (token type) ids: neither seed was pretrained with next-sentence prediction, so
            # segment 1 is untrained; the separator alone marks where the second sentence starts.
            framed = lm.conventions.frame_pair(first, second, lm.token_id)
            target = self.target(example, labels) if labels is not None else None
            rows.append(Row(framed, target, len(a.ids) + len(b.ids), truncated, example=index))
        return rows, stats

    def example_from_input(self, value, where: str) -> PairExample:
        if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, str) for v in value)):
            raise JarobertaError(f"{where}: expected two sentences for a sentence-pair model")
        return PairExample(value[0], value[1], "", where)

    def input_from_line(self, line: str, where: str) -> tuple[str, str]:
        first, separator, second = line.partition("\t")
        if not separator:
            raise JarobertaError(f"{where}: a sentence-pair model needs 'sentence1<TAB>sentence2', got {line!r}")
        return first, second

    def input_from_record(self, record: dict, where) -> tuple[str, str]:
        return tuple(record_text(record, (name,), where, name) for name in PAIR_FIELDS)

    def describe_input(self, example: PairExample) -> dict:
        return {"sentence1": example.first, "sentence2": example.second}


def longest_first(first: list[int], second: list[int], budget: int) -> tuple[list[int], list[int]]:
    """Cut a piece at a time from the end of the longer sentence until both fit `budget`."""
    a, b = len(first), len(second)
    while a + b > budget:
        if a >= b:
            a -= 1
        else:
            b -= 1
    return first[:a], second[:b]
