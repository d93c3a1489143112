"""Named entities: IOB2 tags on subword pieces, entities in and out as character spans. The `ner` kind.

Entity spans reach the pieces through the tokenizer's character offsets (`finetune/align.py`);
the head is `AutoModelForTokenClassification` (`RobertaForTokenClassification`,
`BertForTokenClassification`) with one tag per framed position, special tokens and
whitespace-only pieces ignored by the loss. Predicted tags become spans of the original text.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F

from jaroberta.errors import JarobertaError
from jaroberta.finetune import align, data, metrics
from jaroberta.finetune.data import OUTSIDE, TEXT_FIELDS, NerExample, read_ner, record_text
from jaroberta.finetune.kinds.base import IGNORE, EncodeStats, PieceKind, Row, encode_texts
from jaroberta.model.loading import LoadedModel

log = logging.getLogger(__name__)


class NerKind(PieceKind):
    """Token classification with IOB2 tags."""

    name = "ner"
    auto_class = "AutoModelForTokenClassification"
    summary = "fine-tune NER: IOB2 CoNLL files or JSON lines with character spans; --dataset hironsan built in"
    data_help = ("DATA: CoNLL (token<TAB>...<TAB>IOB2 tag per line, blank line between sentences) or JSON lines "
                 "{'text', 'entities': [{'start', 'end', 'label'}]} with character offsets. Labels reach the subword "
                 "pieces through the tokenizer's character offsets; predictions come back as character spans.")
    options = ("dataset", "join")
    objective = "classification"
    main_metric = "entity_f1"
    metric_names = ("entity_f1", "entity_precision", "entity_recall", "loss")

    # -- configuring ----------------------------------------------------------------------
    @classmethod
    def for_training(cls, objective: str, train: list) -> "NerKind":
        if objective == "regression":
            raise JarobertaError("NER is a classification of pieces; objective regression applies to pairs only")
        return cls()

    @classmethod
    def from_head(cls, head: dict) -> "NerKind":
        return cls.for_training(head.get("objective", "classification"), [])

    def head(self, labels: list[str]) -> dict:
        return {"task": self.name, "objective": self.objective, "labels": labels, "auto_class": self.auto_class}

    # -- data -------------------------------------------------------------------------------
    @classmethod
    def read(cls, path: Path, join: str = "") -> list[NerExample]:
        examples, stats = read_ner(path, join)
        if stats.trimmed_spans or stats.repaired_tags:
            log.warning("%s: %d entity span(s) trimmed of edge whitespace, %d I- tag(s) read as entity starts",
                        path, stats.trimmed_spans, stats.repaired_tags)
        return examples

    def labels(self, train: list, dev: list, test: list, declared, train_name, dev_name) -> list[str]:
        types = data.label_set(train, dev, lambda e: [span.label for span in e.entities], train_name, dev_name, declared)
        if not types:
            raise JarobertaError(f"{train_name}: no entities in the training data; NER needs tagged examples")
        return types

    @staticmethod
    def tags(types: list[str]) -> list[str]:
        """The tag set of entity types: O, then B-/I- per type."""
        return [OUTSIDE] + [f"{prefix}-{t}" for t in types for prefix in ("B", "I")]

    def head_config(self, types: list[str]) -> dict:
        tags = self.tags(types)
        return {"num_labels": len(tags), "id2label": dict(enumerate(tags)), "label2id": {t: i for i, t in enumerate(tags)}}

    def encode(self, lm: LoadedModel, examples: list[NerExample], types: list[str] | None, budget: int) -> tuple[list[Row], EncodeStats]:
        stats = EncodeStats(rows=len(examples))
        tag_ids = {t: i for i, t in enumerate(self.tags(types))} if types is not None else None
        prefix, suffix = len(lm.conventions.prefix), len(lm.conventions.suffix)
        rows = []
        encodings = encode_texts(lm, [e.text for e in examples], [e.where for e in examples])
        for index, (example, encoding) in enumerate(zip(examples, encodings)):
            kept = min(len(encoding.ids), budget)
            truncated = kept < len(encoding.ids)
            stats.truncated += truncated
            target = None
            if tag_ids is not None:
                stats.round_trip.add(align.round_trip(example.text, encoding.offsets, example.entities, kept))
                tags = align.tags_for_pieces(example.text, encoding.offsets[:kept], example.entities)
                target = [IGNORE] * prefix + [IGNORE if t is None else tag_ids[t] for t in tags] + [IGNORE] * suffix
            rows.append(Row(lm.frame(encoding.ids[:kept]), target, len(encoding.ids), truncated, encoding.offsets[:kept],
                            prefix, example=index))
        return rows, stats

    # -- the model ------------------------------------------------------------------------
    def loss(self, output, rows: list[Row]) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy summed over labelled pieces: logits (B, T, C) vs targets (B, T)."""
        logits = output.logits
        targets = torch.full(logits.shape[:2], IGNORE, dtype=torch.long)
        for i, row in enumerate(rows):
            targets[i, : len(row.target)] = torch.tensor(row.target, dtype=torch.long)
        targets = targets.to(logits.device)
        labelled = targets != IGNORE
        loss = F.cross_entropy(logits[labelled].float(), targets[labelled], reduction="sum")
        return loss, labelled.sum().float()

    def row_outputs(self, output, rows: list[Row]) -> list[torch.Tensor]:
        return [output.logits[i, : row.length].float() for i, row in enumerate(rows)]  # (T, C) per row, no padding

    # -- predictions and metrics ------------------------------------------------------------
    def decode(self, example: NerExample, rows: list[Row], outputs: list[torch.Tensor], names: list[str]) -> dict:
        """Entities of one example from its row's logits (T, C) over the framed row."""
        (row,), (logits,) = rows, outputs
        piece_logits = logits[row.prefix : row.prefix + len(row.offsets)]  # (P, C): pieces only
        best = torch.softmax(piece_logits.float(), dim=-1).argmax(dim=-1).tolist()
        spans = align.spans_from_tags(example.text, row.offsets, [names[i] for i in best])
        return {"entities": [{"start": s.start, "end": s.end, "label": s.label, "text": example.text[s.start : s.end]} for s in spans]}

    def score(self, examples: list[NerExample], predictions: list[dict], labels: list[str]) -> dict[str, float]:
        gold = [[s.as_tuple() for s in e.entities] for e in examples]
        predicted = [[(p["start"], p["end"], p["label"]) for p in pred["entities"]] for pred in predictions]
        scores = metrics.entity_scores(gold, predicted)
        out = {"entity_f1": scores["f1"], "entity_precision": scores["precision"], "entity_recall": scores["recall"],
               "entities_gold": scores["gold"], "entities_predicted": scores["predicted"], "entities_correct": scores["correct"]}
        out.update({f"entity_f1_{t}": s["f1"] for t, s in scores["per_type"].items()})
        return out

    def example_from_input(self, value, where: str) -> NerExample:
        if not isinstance(value, str):
            raise JarobertaError(f"{where}: expected a text for an NER model")
        return NerExample(value, [], where)

    def input_from_record(self, record: dict, where) -> str:
        return record_text(record, TEXT_FIELDS, where, "text")

    def describe_input(self, example: NerExample) -> dict:
        return {"text": example.text}
