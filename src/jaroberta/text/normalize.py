"""Text normalization, explicit and saved with every tokenizer.

Each model family expects its input normalized a particular way, and both model cards
ask users to do it by hand. jaroberta records the normalization with the tokenizer and
applies it itself:

- rinna (SentencePiece): lower-case first (the vocabulary has almost no upper-case
  Latin pieces), then SentencePiece's own `nmt_nfkc` inside the model.
- JMedRoBERTa (MeCab + WordPiece): full-width (zenkaku) conversion *before* MeCab,
  because the tokenizer does not normalize (`normalize_text: false`) and its IPAdic +
  Manbyo vocabulary was built from full-width text.

`full_width` changes exactly these characters:
- ASCII printable characters U+0021..U+007E (letters, digits, symbols) become their
  full-width forms U+FF01..U+FF5E;
- half-width katakana U+FF61..U+FF9F become full-width katakana (a base kana followed by
  a half-width voiced / semi-voiced mark U+FF9E / U+FF9F becomes one composed character);
- the space U+0020 is kept: MeCab and BertJapaneseTokenizer treat it as a separator.
Everything else (kanji, hiragana, full-width text) is unchanged.

`normalize_with_offsets` also returns, for every output character, the index of the
original character it came from, so token offsets can point back into the user's text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass

import numpy as np

_HALF_VOICED_MARKS = {"\uff9e", "\uff9f"}
_FULL_WIDTH_TABLE = {code: code + 0xFEE0 for code in range(0x21, 0x7F)}
# Characters for which whole-string str.lower()/translate could differ from the
# segment-by-segment definition: half-width katakana (voiced marks compose), and the
# capital sigma (str.lower() applies the context-dependent final-sigma rule).
_NEEDS_SEGMENTS = re.compile("[\uff61-\uff9f\u03a3]")
# The same, for one step alone: lower-casing only minds the sigma, full-width only the kana.
_NEEDS_SEGMENTS_FOR = {
    (True, False): re.compile("\u03a3"),
    (False, True): re.compile("[\uff61-\uff9f]"),
    (True, True): _NEEDS_SEGMENTS,
}


_VECTOR_MIN_CHARS = 2000
"""From this length on, `_full_width` converts with numpy: `str.translate` with a dict
table costs a lookup per character, about 20 times slower on long text."""


def _full_width(text: str) -> str:
    """ASCII U+0021..U+007E to U+FF01..U+FF5E, everything else unchanged."""
    if len(text) < _VECTOR_MIN_CHARS:
        return text.translate(_FULL_WIDTH_TABLE)

    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).copy()
    codes[(codes >= 0x21) & (codes <= 0x7E)] += 0xFEE0
    return codes.tobytes().decode("utf-32-le", "surrogatepass")


def _to_full_width_char(ch: str) -> str:
    code = ord(ch)
    if 0x21 <= code <= 0x7E:
        return chr(code + 0xFEE0)
    return ch


def _half_katakana_to_full(segment: str) -> str:
    # NFKC maps half-width katakana (and a following voiced mark) to composed full-width
    # katakana; the half-width range contains nothing else that NFKC would touch.
    return unicodedata.normalize("NFKC", segment)


def _segments(text: str) -> list[tuple[int, str]]:
    """Split text into (start, segment): a base character plus following combining marks.

    Normalizing segment by segment gives the same result as normalizing the whole string
    for NFKC (which only composes within such clusters) and keeps an exact offset map.
    """
    out: list[tuple[int, str]] = []
    for i, ch in enumerate(text):
        joins = out and (unicodedata.combining(ch) or ch in _HALF_VOICED_MARKS or ch in "\u3099\u309a")
        if joins:
            start, seg = out[-1]
            out[-1] = (start, seg + ch)
        else:
            out.append((i, ch))
    return out


@dataclass(frozen=True)
class Normalization:
    """How text is normalized before tokenization; saved with the tokenizer."""

    nfkc: bool = False
    """Apply Unicode NFKC (SentencePiece's nmt_nfkc does this inside the model for rinna)."""
    full_width: bool = False
    """Convert ASCII and half-width katakana to full-width (JMedRoBERTa); see module doc."""
    lowercase: bool = False
    """Lower-case Latin letters (rinna's vocabulary is lower-case only)."""

    def __call__(self, text: str) -> str:
        if self.is_identity:
            return text
        if not self.nfkc and not _NEEDS_SEGMENTS_FOR[(self.lowercase, self.full_width)].search(text):
            return self._whole_string(text)
        return "".join(self._segment(seg) for _, seg in _segments(text))

    def batch(self, texts: list[str]) -> list[str]:
        """`[self(t) for t in texts]`, without the per-text checks where that is exact.

        Without NFKC, lower-casing and full-width conversion map one character at a time
        unless a text holds one of `_NEEDS_SEGMENTS`: one search over all texts decides.
        """
        if self.is_identity:
            return list(texts)
        if self.nfkc:
            return [self(t) for t in texts]
        needs_segments = _NEEDS_SEGMENTS_FOR[(self.lowercase, self.full_width)].search
        joined = "\n".join(texts)
        if needs_segments(joined):  # rare: only those texts take the segment-wise path
            return [self(t) if needs_segments(t) else self._whole_string(t) for t in texts]
        if joined.count("\n") == len(texts) - 1:  # no text holds a line break: one pass over all
            return self._whole_string(joined).split("\n") if texts else []
        return [self._whole_string(t) for t in texts]

    def _whole_string(self, text: str) -> str:
        """Fast path, identical to the segment-wise result when no NFKC and nothing composes."""
        if self.lowercase:
            text = text.lower()
        if self.full_width:
            text = _full_width(text)
        return text

    @property
    def is_identity(self) -> bool:
        return not (self.nfkc or self.full_width or self.lowercase)

    def _segment(self, seg: str) -> str:
        if self.nfkc:
            seg = unicodedata.normalize("NFKC", seg)
        if self.lowercase:
            seg = seg.lower()
        if self.full_width:
            if any("\uff61" <= c <= "\uff9f" for c in seg):
                seg = _half_katakana_to_full(seg)
            seg = "".join(_to_full_width_char(c) for c in seg)
        return seg

    def normalize_with_offsets(self, text: str) -> tuple[str, list[int]]:
        """Return (normalized, origin) where origin[j] is the index in `text` of output char j."""
        if self.is_identity:
            return text, list(range(len(text)))
        pieces: list[str] = []
        origin: list[int] = []
        for start, seg in _segments(text):
            norm = self._segment(seg)
            pieces.append(norm)
            origin.extend([start] * len(norm))
        return "".join(pieces), origin

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Normalization":
        unknown = set(data) - {"nfkc", "full_width", "lowercase"}
        if unknown:
            raise ValueError(f"unknown normalization fields {sorted(unknown)}")
        return cls(**data)

    def describe(self) -> str:
        steps = [name for name, on in (("nfkc", self.nfkc), ("full-width", self.full_width), ("lower-case", self.lowercase)) if on]
        return " + ".join(steps) if steps else "none"


RINNA_NORMALIZATION = Normalization(lowercase=True)
"""rinna: lower-case; nmt_nfkc is applied by the SentencePiece model itself."""

JMED_NORMALIZATION = Normalization(full_width=True)
"""JMedRoBERTa: full-width conversion before MeCab; the tokenizer does not normalize."""
