"""A `tokenizer.json` for the SentencePiece family that gives jaroberta's framed ids.

Plain transformers 5 reads rinna's `spiece.model` through `T5Tokenizer`, which maps an
unknown piece to `</s>` (id 2; rinna's `<unk>` is 0), appends `</s>`, and ignores
`do_lower_case`. A `tokenizer.json` states the whole pipeline instead, and
`AutoTokenizer` then needs nothing from the model file:

- normalizer: our lower-casing, then half-width kana + voiced marks composed (the
  tokenizers library applies SentencePiece's character map per grapheme and misses
  these two-character rules), then SentencePiece's own `nmt_nfkc` map and its
  whitespace rules (extra spaces removed);
- pre-tokenizer: the dummy prefix `▁` on the first chunk only, so text after a typed
  `[MASK]` continues the sentence, and a space after it becomes the next word's `▁`, as in
  jaroberta's literal mask rule;
- model: Unigram with the model's scores and the right unknown id; control pieces and
  `<unk>` get a score no path takes, because SentencePiece never matches them in text;
- post-processor: the family's framing (rinna: `[CLS]` + pieces, no `[SEP]`, no `</s>`).

What stays inexact is listed by `INEXACT` (exported folders repeat it in their card).
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from sentencepiece import sentencepiece_model_pb2
from tokenizers import AddedToken, Regex, Tokenizer, normalizers, processors
from transformers.convert_slow_tokenizer import SpmConverter

from jaroberta.errors import JarobertaError
from jaroberta.text.normalize import Normalization

TOKENIZER_FILE = "tokenizer.json"
NEVER_MATCHED = -1e9
"""Score of control pieces and `<unk>`: SentencePiece never matches them in text."""
_NORMAL, _UNKNOWN, _CONTROL = 1, 2, 3  # SentencePiece piece types
_VOICED_MARKS = "\u3099\u309a\uff9e\uff9f"
_KANA = [*range(0x3040, 0x3100), *range(0xFF61, 0xFF9E)]
_MARKERS = "\ufdd0\ufdd1\ufdd2\ufdd3"  # Unicode noncharacters: never in text

INEXACT = (
    ("a combining accent (U+0300-U+036F) on a Latin or Greek letter may segment differently: the tokenizers "
     "library applies SentencePiece's character map per grapheme, SentencePiece per longest match"),
    ("special-token strings typed in the text (</s>, <unk>, [CLS], [SEP], [PAD]) become those tokens in "
     "transformers, which matches every special token in raw text; jaroberta reads them as text (only [MASK] is special)"),
    "the Unicode noncharacters U+FDD0-U+FDD3 are dropped (they mark kana compositions inside the normalizer)",
)
"""Where the tokenizer.json can differ from jaroberta's SentencePiece tokenizer (all rare in Japanese text)."""


def _kana_compositions() -> list[normalizers.Replace]:
    """Kana + voiced mark -> one character, as SentencePiece's longest-match map does.

    In three steps, because a two-character Replace at the very start of the text moves the
    chunk's start off offset 0, and the dummy prefix would then be lost: each mark after a
    base it composes with becomes a marker, each base before a marker its composed form
    (one character for one), and the markers go.
    """
    pairs: dict[str, dict[str, str]] = {mark: {} for mark in _VOICED_MARKS}
    for base in _KANA:
        for mark in _VOICED_MARKS:
            composed = unicodedata.normalize("NFKC", chr(base) + mark)
            if len(composed) == 1:
                pairs[mark][chr(base)] = composed
    marks, bases = [], []
    for marker, (mark, composed_by_base) in zip(_MARKERS, pairs.items()):
        marks.append(normalizers.Replace(Regex(f"(?<=[{''.join(composed_by_base)}]){mark}"), marker))
        bases += [normalizers.Replace(Regex(f"{base}(?={marker})"), composed) for base, composed in composed_by_base.items()]
    return [*marks, *bases, normalizers.Replace(Regex(f"[{''.join(_MARKERS)}]"), "")]


def _our_normalizers(normalization: Normalization) -> list:
    if normalization.full_width:
        raise JarobertaError(
            "full-width conversion cannot be written into a SentencePiece tokenizer.json; "
            "export a model whose tokenizer does not convert to full width"
        )
    steps = []
    if normalization.nfkc:
        steps.append(normalizers.NFKC())
    if normalization.lowercase:
        steps.append(normalizers.Lowercase())
    return steps


def build_fast_unigram(
    model_proto: bytes,
    normalization: Normalization,
    *,
    prefix: tuple[str, ...] = ("[CLS]",),
    suffix: tuple[str, ...] = (),
    pair_separator: tuple[str, ...] = ("[SEP]",),
    mask_token: str = "[MASK]",
) -> Tokenizer:
    """A tokenizers `Tokenizer` equal to `SentencePieceTokenizer` + the family's framing."""
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model_proto)
    vocab = [(p.piece, p.score if p.type == _NORMAL else NEVER_MATCHED) for p in proto.pieces]
    ids = {piece: i for i, (piece, _) in enumerate(vocab)}
    # legacy=False: the dummy prefix goes on the first chunk only, not after every added token.
    tokenizer = SpmConverter.build_tokenizer_from_spm_proto(proto, vocab, legacy=False)
    spec = proto.normalizer_spec
    steps = [*_our_normalizers(normalization), *_kana_compositions()]
    if spec.precompiled_charsmap:
        steps.append(normalizers.Precompiled(spec.precompiled_charsmap))
    if spec.remove_extra_whitespaces:
        # Leading spaces stay for the pre-tokenizer: they become the dummy prefix `▁`, and
        # removing them here would move the chunk's start off offset 0, where the prefix goes.
        steps += [normalizers.Replace(Regex(" {2,}"), " "), normalizers.Replace(Regex(" +\\z"), "")]
    tokenizer.normalizer = normalizers.Sequence(steps)
    if mask_token in ids:
        # Matched in the raw text before normalization (lower-casing would hide it). The
        # spaces before it go with it (the card replaces a `▁` piece); a space after it stays
        # and becomes the `▁` of the next word, as in the literal mask rule.
        tokenizer.add_special_tokens([AddedToken(mask_token, special=True, normalized=False, lstrip=True, rstrip=False)])
    missing = [t for t in (*prefix, *suffix, *pair_separator) if t not in ids]
    if missing:
        raise JarobertaError(f"the SentencePiece model has no piece {missing[0]!r}, which the framing needs")
    single = [*prefix, "$A", *suffix]
    pair = [*prefix, "$A", *pair_separator, "$B", *suffix]
    specials = sorted({(t, ids[t]) for t in (*prefix, *suffix, *pair_separator)})
    tokenizer.post_processor = processors.TemplateProcessing(single=" ".join(single), pair=" ".join(pair), special_tokens=specials)
    return tokenizer


def write_fast_unigram(directory: str | Path, model_proto: bytes, normalization: Normalization, **framing) -> Path:
    """Write `tokenizer.json` (see `build_fast_unigram`) into `directory`."""
    path = Path(directory) / TOKENIZER_FILE
    build_fast_unigram(model_proto, normalization, **framing).save(str(path))
    return path


def fast_tokenizer_config(special_tokens: dict, *, model_max_length: int) -> dict:
    """tokenizer_config.json that makes AutoTokenizer read tokenizer.json as it is.

    `PreTrainedTokenizerFast` takes the file's pipeline unchanged; `T5Tokenizer` (rinna's
    class) would rebuild parts of it from spiece.model.
    """
    return {
        **special_tokens,
        "model_max_length": model_max_length,
        "clean_up_tokenization_spaces": False,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }
