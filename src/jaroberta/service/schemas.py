"""Request and response bodies of the HTTP API (pydantic: they also make /openapi.json).

Requests are strict: a number where a string belongs, or an unknown field, is a 422
with a message naming the field, never silently coerced or ignored. The per-request
limits (texts, characters, masks, top-k) live in `ServeConfig` and are checked by the
routes, because they are settings of the running server, not of the schema.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

UNUSABLE_TEXT = "unusable_text"
"""Error type of a text no tokenizer can take; the app answers it 400, not 422."""

_SURROGATE = re.compile("[\ud800-\udfff]")


def _usable_text(text: str) -> str:
    """Refuse a lone surrogate (a JSON `\\ud800` escape without its pair): valid JSON, but
    not Unicode text, and every tokenizer fails on it (SentencePiece, the Rust tokenizers
    and MeCab all need UTF-8). Checked here, in the schema, so such a request never reaches
    the batching queue. Control characters and NUL are accepted: both tokenizer families
    take them (MeCab's NUL is handled in jaroberta.text.mecab)."""
    found = _SURROGATE.search(text)
    if found:
        char, position = found.group(), found.start()
        raise PydanticCustomError(
            UNUSABLE_TEXT,
            "lone surrogate U+{code} at character {position}: not Unicode text (an unpaired \\u escape); "
            "send the character as a surrogate pair or as UTF-8",
            {"code": f"{ord(char):04X}", "position": position},
        )
    return text


Text = Annotated[str, AfterValidator(_usable_text)]


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class _Texts(_Request):
    """One text (`text`) or several (`texts`): exactly one of the two."""

    text: Text | None = Field(None, description="One input text.")
    texts: list[Text] | None = Field(None, description="Several input texts, answered in order.")

    @model_validator(mode="after")
    def _one_of(self):
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' (a string) or 'texts' (a list of strings)")
        return self

    @property
    def all_texts(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts or [])


def field_name(i: int, *, single: bool) -> str:
    """'text' for a request that sent one text, else 'texts[i]'."""
    return "text" if single else f"texts[{i}]"


class TokenizeRequest(_Request):
    text: Text = Field(description="Text to tokenize; a literal [MASK] becomes the mask token after tokenization.")


class _Truncatable(_Texts):
    truncate: bool = Field(False, description="Cut a text longer than the model takes instead of refusing it (422).")


class FillMaskRequest(_Truncatable):
    top_k: int = Field(5, description="Candidates per mask (1..max_top_k of the server).")


class ScoreRequest(_Truncatable):
    pass


class EmbedRequest(_Truncatable):
    pooling: Literal["mean", "cls"] = Field("mean", description="'mean' over pieces, or the first ([CLS]) vector.")
    normalize: bool = Field(False, description="Scale each vector to unit length.")


class Token(BaseModel):
    token: str
    id: int
    offset: tuple[int, int] | None = Field(description="Character span in the original text; null for special tokens.")
    special: bool = Field(description="Added by the model's framing ([CLS], [SEP]...), not from the text.")
    mask: bool = Field(description="The mask token, put in after tokenization.")


class TokenizeResponse(BaseModel):
    text: str
    normalized: str = Field(description="The text after the tokenizer's normalization ([MASK] kept as typed).")
    normalization: str = Field(description="The normalization steps applied, e.g. 'lower-case' or 'full-width'.")
    tokens: list[Token] = Field(description="The framed input the model sees: special tokens included.")
    mask_indices: list[int] = Field(description="Indices in `tokens` of the mask tokens.")
    unknown: int = Field(description="How many pieces are the unknown token.")


class Candidate(BaseModel):
    token: str
    token_id: int
    score: float = Field(description="Probability of this token at the mask.")
    token_ids: list[int] = Field(default_factory=list, description="All piece ids of the candidate.")


class MaskPrediction(BaseModel):
    index: int = Field(description="Index of the mask in the framed tokens.")
    candidates: list[Candidate]


class FillMaskResult(BaseModel):
    text: str
    normalized: str
    tokens: list[str]
    ids: list[int]
    masks: list[MaskPrediction]


class FillMaskResponse(BaseModel):
    top_k: int
    results: list[FillMaskResult]


class SentenceScore(BaseModel):
    text: str
    pll: float = Field(description="Pseudo-log-likelihood: sum of log P(piece | rest), one piece masked at a time.")
    n_tokens: int
    pseudo_perplexity: float | None = Field(description="exp(-pll / n_tokens); null for a text with no pieces.")
    truncated: bool = False


class ScoreResponse(BaseModel):
    results: list[SentenceScore]


class EmbedResponse(BaseModel):
    pooling: str
    normalized: bool
    dim: int
    embeddings: list[list[float]]


class HealthResponse(BaseModel):
    status: Literal["ok"]
    queue_depth: int
    queue_size: int
    requests: int = Field(description="Batched requests answered so far.")
    batches: int = Field(description="Forward passes run so far (fewer than requests when batching works).")
    largest_batch: int
    rejected: int = Field(description="Requests answered 503 because the queue was full.")
    timeouts: int
    failures: int


class InfoResponse(BaseModel):
    model: dict = Field(description="Path, tokenizer kind, architecture and size of the loaded model.")
    conventions: dict = Field(description="How inputs are framed (jaroberta.model.conventions).")
    normalization: str
    mask_token: str
    limits: dict


class ErrorBody(BaseModel):
    status: int
    type: str
    message: str
    details: list | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
