"""Character spans <-> subword pieces through the tokenizer's offsets: `tags_for_pieces`, `spans_from_tags`, `round_trip`.

Every jaroberta tokenizer reports each piece's span in the *original* text (`Encoding.offsets`),
whatever normalization ran before segmentation, so labels given on characters or CoNLL words
reach the pieces and predictions come back as character spans (Hugging Face's
`BertJapaneseTokenizer` has no offsets, so JMedRoBERTa users could not do this).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from jaroberta.finetune.data import OUTSIDE, Span, tag_runs

Offsets = Sequence[tuple[int, int]]


def piece_cores(text: str, offsets: Offsets) -> list[tuple[int, int] | None]:
    """Each piece's *core*: its span with edge whitespace removed; None when nothing is left.

    SentencePiece's word-start pieces (`▁`, `▁東京`) may cover the space before a word, and a bare
    `▁` covers nothing: pieces with an empty core carry no label (the loss ignores them) and no prediction.
    """
    cores: list[tuple[int, int] | None] = []
    for start, end in offsets:
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        cores.append((start, end) if start < end else None)
    return cores


def tags_for_pieces(text: str, offsets: Offsets, entities: Sequence[Span]) -> list[str | None]:
    """IOB2 tag of every piece for `entities` (sorted, non-overlapping); None for pieces without text.

    The first piece whose core overlaps an entity is `B-TYPE`, the next ones overlapping it `I-TYPE`,
    every other piece with text `O`. An entity edge inside a piece (SentencePiece's `年に` when the
    entity ends after `年`) cannot be represented exactly: `round_trip` counts such losses.
    """
    cores = piece_cores(text, offsets)
    tags: list[str | None] = []
    entity_index = 0
    previous_entity = -1
    for core in cores:
        if core is None:
            tags.append(None)
            continue
        start, end = core
        # Skip entities that end before this piece starts.
        while entity_index < len(entities) and entities[entity_index].end <= start:
            entity_index += 1
        if entity_index < len(entities) and entities[entity_index].start < end:
            label = entities[entity_index].label
            tags.append(("I-" if previous_entity == entity_index else "B-") + label)
            previous_entity = entity_index
        else:
            tags.append(OUTSIDE)
            previous_entity = -1
    return tags


def spans_from_tags(text: str, offsets: Offsets, tags: Sequence[str | None]) -> list[Span]:
    """Entities as character spans from per-piece IOB2 tags (pieces without text are skipped).

    An entity runs from its first piece's core start to its last piece's core end, so the
    spaces between its pieces belong to it and the spaces around it do not.
    """
    cores = piece_cores(text, offsets)
    tags = [tag if core is not None else None for tag, core in zip(tags, cores)]
    spans = []
    for first, last, label, _ in tag_runs(list(tags)):
        covered = [core for core in cores[first:last] if core is not None]
        spans.append(Span(covered[0][0], covered[-1][1], label))
    return spans


@dataclass
class RoundTrip:
    """How many gold entities survive gold -> piece tags -> spans."""

    gold: int = 0
    """Gold entities."""
    exact: int = 0
    """Of them, recovered with exactly the same span and type."""
    truncated: int = 0
    """Of them, lost because they lie beyond the model's length limit."""

    @property
    def ceiling(self) -> float:
        """The best entity recall any model can reach with this tokenizer (1.0 without entities)."""
        return self.exact / self.gold if self.gold else 1.0

    def add(self, other: "RoundTrip") -> None:
        self.gold += other.gold
        self.exact += other.exact
        self.truncated += other.truncated


def round_trip(text: str, offsets: Offsets, entities: Sequence[Span], kept: int | None = None) -> RoundTrip:
    """Gold entities recovered exactly after tagging pieces and decoding them back: the ceiling of
    entity recall any model reaches on that data with that tokenizer.

    `kept`: how many pieces fit the model (the rest are truncated away).
    """
    kept = len(offsets) if kept is None else kept
    tags = tags_for_pieces(text, offsets[:kept], entities)
    recovered = set(spans_from_tags(text, offsets[:kept], tags))
    limit = max((end for _, end in offsets[:kept]), default=0)
    truncated = sum(1 for e in entities if e.end > limit) if kept < len(offsets) else 0
    return RoundTrip(gold=len(entities), exact=sum(1 for e in entities if e in recovered), truncated=truncated)
