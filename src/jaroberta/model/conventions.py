"""How each checkpoint family expects its input: stated once, asked by everyone.

Fill-mask, scoring, embeddings, fine-tuning, pretraining and the server never decide
framing or positions themselves: they ask an `InputConventions`.

The traps these conventions remove (from the seeds' model cards):
- rinna was trained with `[CLS]` + pieces, no `[SEP]` and no `</s>`; transformers 5's
  `T5Tokenizer` appends `</s>`, so we frame the ids ourselves.
- rinna's position ids start at 0. Hugging Face RoBERTa would start them at
  `padding_idx + 1` (= 4), which the model never saw and which overflows the 514-row
  table for long inputs, so `explicit_position_ids` makes us pass them.
- `[MASK]` is put in after tokenization (an id replaced), not typed into the text.
- rinna needs lower-casing; JMedRoBERTa needs full-width conversion before MeCab.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from jaroberta.errors import JarobertaError
from jaroberta.text.normalize import Normalization

CONVENTIONS_FILE = "jaroberta_conventions.json"


@dataclass(frozen=True)
class InputConventions:
    """The input conventions of one checkpoint family."""

    name: str
    """Family label: 'rinna', 'jmedroberta', or a name for our own models."""
    normalization: Normalization = field(default_factory=Normalization)
    """Applied by the tokenizer before segmentation."""
    prefix: tuple[str, ...] = ("[CLS]",)
    """Special tokens put before the pieces of a sentence."""
    suffix: tuple[str, ...] = ("[SEP]",)
    """Special tokens put after the pieces ('()' for rinna: no [SEP], no </s>)."""
    pair_separator: tuple[str, ...] = ("[SEP]",)
    """Tokens between the two sentences of a pair (fine-tuning on pairs)."""
    mask_token: str = "[MASK]"
    """The token written in text by users and inserted as an id after tokenization."""
    pad_token: str = "[PAD]"
    """Padding token."""
    explicit_position_ids: bool = False
    """Pass position_ids to the model instead of letting transformers derive them."""
    position_start: int = 0
    """First position id when `explicit_position_ids` is set."""
    max_length: int = 512
    """Longest framed input (special tokens included) the position table allows."""
    dictionaries: tuple[str, ...] = ()
    """MeCab user dictionaries (by file name) the tokenizer needs."""

    def __post_init__(self) -> None:
        if self.max_length < len(self.prefix) + len(self.suffix) + 1:
            raise ValueError(f"max_length {self.max_length} leaves no room for text between {self.prefix} and {self.suffix}")
        if self.position_start < 0:
            raise ValueError("position_start must be >= 0")

    @property
    def max_pieces(self) -> int:
        """How many text pieces fit in one framed input."""
        return self.max_length - len(self.prefix) - len(self.suffix)

    def frame(self, piece_ids: list[int], token_to_id) -> list[int]:
        """Wrap piece ids with this family's special tokens (`token_to_id`: str -> int)."""
        return [token_to_id(t) for t in self.prefix] + list(piece_ids) + [token_to_id(t) for t in self.suffix]

    def frame_pair(self, first: list[int], second: list[int], token_to_id) -> list[int]:
        """Frame a sentence pair: prefix + first + separator + second + suffix."""
        sep = [token_to_id(t) for t in self.pair_separator]
        return self.frame(list(first) + sep + list(second), token_to_id)

    def position_ids(self, length: int) -> list[int] | None:
        """Position ids for a framed input of `length`, or None to let the model decide."""
        if not self.explicit_position_ids:
            return None
        return list(range(self.position_start, self.position_start + length))

    def with_overrides(self, **changes) -> "InputConventions":
        """A copy with some fields changed (CLI `--convention key=value`)."""
        unknown = set(changes) - set(self.__dataclass_fields__)
        if unknown:
            raise JarobertaError(f"unknown convention field(s) {sorted(unknown)}; known: {sorted(self.__dataclass_fields__)}")
        return replace(self, **changes)

    # -- persistence -------------------------------------------------------------
    def to_dict(self) -> dict:
        data = asdict(self)
        data["normalization"] = self.normalization.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "InputConventions":
        data = dict(data)
        data["normalization"] = Normalization.from_dict(data.get("normalization", {}))
        for key in ("prefix", "suffix", "pair_separator", "dictionaries"):
            if key in data:
                data[key] = tuple(data[key])
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise JarobertaError(f"{CONVENTIONS_FILE}: unknown field(s) {sorted(unknown)}")
        return cls(**data)

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / CONVENTIONS_FILE
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> "InputConventions":
        path = Path(directory) / CONVENTIONS_FILE
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError, TypeError, ValueError, AttributeError, KeyError) as exc:
            raise JarobertaError(f"cannot read input conventions from {path}: {exc}; it is damaged, save the model again") from exc
