"""Family 1: a SentencePiece unigram model in rinna's layout (rinna/japanese-roberta-base).

Ids 0-2 are `<unk> <s> </s>`, control symbols `[PAD] [CLS] [SEP] [MASK]` are 3-6,
`nmt_nfkc` runs inside the model and our `Normalization` (lower-casing for rinna) runs
before it, so users never lower-case by hand. `encode` returns pieces only: rinna's
`[CLS]` framing (and the absence of `</s>`) is `model.families.RINNA`'s business.

The literal mask rule. Text may contain the literal mask token ("[MASK]"): we split the
*original* text there (before normalization, which would lower-case it to "[mask]"),
encode the parts, and put the mask id between them. The text "[MASK]" never goes through
SentencePiece, which would cut it into `▁[`, `mask`, `]`. A part after a mask continues
the sentence, so it is encoded *without* the dummy prefix `▁`:
"4年に1度[MASK]は開かれる。" gives `▁4 年に 1 度 [MASK] は 開かれる 。`, the same pieces as
the unmasked sentence with one id replaced (rinna's "mask after tokenization"). The card's
protocol (tokenize the sentence with a word in the mask's place, then replace that word's
piece) also fixes the whitespace: a space before the mask goes with the replaced `▁` piece,
and a part after the mask that begins with whitespace (after normalization: NFKC turns a
spacing voiced mark ゛ into a space and a combining mark) begins a new word, `▁`, as
SentencePiece cuts a sentence after a space: "calc [MASK] writer" gives `▁calc [MASK] ▁w
riter`. The mask is a word of its own in `word_ids`. Other special-token strings typed in text ("[CLS]", "[SEP]",
"[PAD]", "<unk>") are ordinary text and are segmented like any other characters.

Unknown characters (emoji, rare kanji) become `<unk>` pieces, counted in
`Encoding.unknown`. Nothing is ever truncated.

Word boundaries (`word_boundaries="mecab"`, off by default). SentencePiece alone cuts
Japanese wherever its unigram model likes, so a piece such as `年に` or `された` may
straddle the boundary of a span a task cares about (a QA answer, an entity). With the
option the text is first cut into MeCab words (IPAdic, on the original text) and each word
is encoded on its own, so no piece crosses a word boundary. The words are encoded by the
same rule as the parts after a literal mask: a word that follows whitespace (or starts the
text) gets the dummy prefix `▁`, exactly the `▁` SentencePiece itself puts there, and a
word that directly continues the previous one gets none. So the option only ever adds
breaks: where MeCab and SentencePiece agree, ids are unchanged, and no `▁` appears
between words that SentencePiece alone would have joined. It changes ids, so it is part of
the fingerprint and of the sidecar; the `tokenizer.json` written for plain Hugging Face
cannot run MeCab and gives the ids without it.
"""

from __future__ import annotations

import io
import re
import unicodedata
from itertools import accumulate
from pathlib import Path

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2

from jaroberta.errors import JarobertaError
from jaroberta.text.base import Encoding, without_surrogates
from jaroberta.text.fast_unigram import write_fast_unigram
from jaroberta.text.hf_layout import write_rinna_layout
from jaroberta.text.mecab import MecabConfig, MecabWordSplitter
from jaroberta.text.normalize import RINNA_NORMALIZATION, Normalization
from jaroberta.core.progress import progress_bar
from jaroberta.text.sidecar import Extension, Sidecar, fingerprint

CONTROL_SYMBOLS = ("[PAD]", "[CLS]", "[SEP]", "[MASK]")
"""rinna's control symbols, ids 3-6 after `<unk> <s> </s>`."""
MODEL_FILE = "spiece.model"
"""File name Hugging Face's T5Tokenizer (rinna's tokenizer_class) expects."""
WORD_START = "\u2581"
_HALF_KANA = re.compile("[\uff61-\uff9f]")

_ROLES = {"pad": "[PAD]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]", "bos": "<s>", "eos": "</s>"}

WORD_BOUNDARIES = {"mecab": MecabConfig(system_dict="ipadic")}
"""`word_boundaries` options -> the MeCab whose words no piece may cross."""


def _processor(model_proto: bytes, dummy_prefix: bool) -> spm.SentencePieceProcessor:
    if dummy_prefix:
        return spm.SentencePieceProcessor(model_proto=model_proto)
    # Continuation parts (after a literal [MASK]) are the middle of a sentence: no `▁`.
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model_proto)
    proto.normalizer_spec.add_dummy_prefix = False
    return spm.SentencePieceProcessor(model_proto=proto.SerializeToString())


def _starts_with_space(normalized: str) -> bool:
    """Whether SentencePiece's NFKC map gives the text a leading space (a word boundary)."""
    return unicodedata.normalize("NFKC", normalized[:1]).startswith((" ", "\t", "\n", "\r"))


def _span_map(text: str, normalization: Normalization) -> tuple[str, list[int] | None, list[int] | None]:
    """(normalized, starts, ends): the original span of each normalized char; None = same index."""
    normalized = normalization(text)
    # Without NFKC and half-width kana (whose voiced marks compose) no character shrinks,
    # so equal lengths mean one char for one char: skip the per-character map.
    if len(normalized) == len(text) and not normalization.nfkc and not _HALF_KANA.search(text):
        return normalized, None, None
    normalized, starts = normalization.normalize_with_offsets(text)
    # A normalized char ends where the next original segment starts.
    ends = [len(text)] * len(starts)
    next_start = len(text)
    for j in range(len(starts) - 2, -1, -1):
        if starts[j + 1] != starts[j]:
            next_start = starts[j + 1]
        ends[j] = next_start
    return normalized, starts, ends


class SentencePieceTokenizer:
    """rinna-family tokenizer: our normalization, then a SentencePiece unigram model."""

    tokenizer_kind = "sentencepiece"

    def __init__(self, model_proto: bytes, normalization: Normalization = RINNA_NORMALIZATION, mask_token: str = "[MASK]",
                 word_boundaries: str | None = None, extends: Extension | None = None):
        if word_boundaries is not None and word_boundaries not in WORD_BOUNDARIES:
            raise JarobertaError(f"unknown word_boundaries {word_boundaries!r}; choose one of {sorted(WORD_BOUNDARIES)} (or none)")
        self.normalization = normalization
        self.extends = extends
        """The base this tokenizer extends (`jaroberta.text.extend`), recorded in the sidecar; None for most."""
        self.mask_token = mask_token
        self.word_boundaries = word_boundaries
        self._splitter: MecabWordSplitter | None = None  # built on first use (fugashi is optional)
        self._proto = bytes(model_proto)
        self._sp = _processor(self._proto, dummy_prefix=True)
        self._sp_continue = _processor(self._proto, dummy_prefix=False)
        self._pieces = [self._sp.id_to_piece(i) for i in range(self._sp.get_piece_size())]
        self._vocab = {piece: i for i, piece in enumerate(self._pieces)}
        self._unk_id = self._sp.unk_id()
        self._mask_id = self._vocab.get(mask_token)
        self._fingerprint = fingerprint(self._proto, normalization, extra=f"word_boundaries={word_boundaries}" if word_boundaries else "")

    @classmethod
    def from_file(cls, path: str | Path, normalization: Normalization = RINNA_NORMALIZATION) -> "SentencePieceTokenizer":
        return cls(Path(path).read_bytes(), normalization)

    def __reduce__(self):
        # Worker processes rebuild the C++ processors from the model bytes.
        return (self.__class__, (self._proto, self.normalization, self.mask_token, self.word_boundaries, self.extends))

    def with_word_boundaries(self, word_boundaries: str | None) -> "SentencePieceTokenizer":
        """This tokenizer with pieces kept inside `word_boundaries` words ('mecab'), or without (None)."""
        return self.__class__(self._proto, self.normalization, self.mask_token, word_boundaries, self.extends)

    # -- vocabulary ----------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self._pieces)

    @property
    def special_ids(self) -> dict[str, int]:
        ids = {"unk": self._unk_id}
        for role, token in _ROLES.items():
            if token in self._vocab:
                ids[role] = self._vocab[token]
        return ids

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def model_proto(self) -> bytes:
        return self._proto

    def token_to_id(self, token: str) -> int | None:
        return self._vocab.get(token)

    def id_to_token(self, idx: int) -> str:
        return self._pieces[idx]

    # -- encoding ------------------------------------------------------------------
    def encode(self, text: str) -> Encoding:
        return self.encode_batch([text])[0]

    def encode_ids_batch(self, texts: list[str], workers: int = 1) -> list[list[int]]:
        """Fast path: one multi-threaded SentencePiece call for all texts without a literal mask."""
        texts = without_surrogates(texts)
        if self.word_boundaries is not None:
            return [encoding.ids for encoding in self.encode_batch(texts, workers)]
        mask = self.mask_token
        if not any(mask in t for t in texts):  # the common case: one call, nothing to reassemble
            return self._sp.encode(self.normalization.batch(texts), num_threads=max(1, workers))
        out: list[list[int] | None] = [None] * len(texts)
        plain = [i for i, t in enumerate(texts) if mask not in t]
        ids = self._sp.encode(self.normalization.batch([texts[i] for i in plain]), num_threads=max(1, workers))
        for i, row in zip(plain, ids):
            out[i] = row
        for i, text in enumerate(texts):
            if out[i] is None:
                out[i] = self._encode_parts(text).ids
        return out

    def encode_batch(self, texts: list[str], workers: int = 1) -> list[Encoding]:
        texts = without_surrogates(texts)
        if self.word_boundaries is not None:
            return [self._encode_parts(text) for text in texts]
        out: list[Encoding | None] = [None] * len(texts)
        plain = [i for i, t in enumerate(texts) if self.mask_token not in t]
        mapped = [_span_map(texts[i], self.normalization) for i in plain]
        results = self._sp.encode([m[0] for m in mapped], return_type="offset_mapping", num_threads=max(1, workers))
        for i, (_, starts, ends), result in zip(plain, mapped, results):
            enc = Encoding([], [], [], [], 0)
            self._append(enc, result, starts, ends, shift=0, word_base=0)
            out[i] = enc
        for i, text in enumerate(texts):
            if out[i] is None:
                out[i] = self._encode_parts(text)
        return out

    def _encode_parts(self, text: str) -> Encoding:
        """Encode part by part: around literal masks, and word by word with `word_boundaries`."""
        enc = Encoding([], [], [], [], 0)
        position = 0
        for index, part in enumerate(text.split(self.mask_token)):
            if index > 0:
                self._append_mask(enc, position)
                position += len(self.mask_token)
            for begin, end, dummy_prefix in self._segments(part, starts_text=index == 0):
                normalized, starts, ends = _span_map(part[begin:end], self.normalization)
                # After a typed mask, text that begins with a space starts a word (rinna's card protocol).
                processor = self._sp if dummy_prefix or _starts_with_space(normalized) else self._sp_continue
                result = processor.encode(normalized, return_type="offset_mapping")
                self._append(enc, result, starts, ends, shift=position + begin, word_base=_next_word(enc))
            position += len(part)
        return enc

    def _segments(self, part: str, starts_text: bool) -> list[tuple[int, int, bool]]:
        """(start, end, dummy prefix?) of each stretch of `part` encoded on its own.

        Without word boundaries: the whole part, with the `▁` only at the start of the text
        (a part after a mask continues the sentence). With them: each MeCab word; a word
        gets the `▁` where SentencePiece would put one, at the start of the text or after
        whitespace (the only characters between MeCab's words), never elsewhere.
        """
        if not part:
            return []
        if self.word_boundaries is None:
            return [(0, len(part), starts_text)]
        if self._splitter is None:
            self._splitter = MecabWordSplitter(WORD_BOUNDARIES[self.word_boundaries])
        segments, previous = [], 0
        for _, start, end in self._splitter.split_with_offsets(part):
            segments.append((start, end, (starts_text and not segments) or start > previous))
            previous = end
        return segments

    def _append_mask(self, enc: Encoding, position: int) -> None:
        enc.ids.append(self._mask_id if self._mask_id is not None else self._unk_id)
        enc.tokens.append(self.mask_token)
        enc.offsets.append((position, position + len(self.mask_token)))
        enc.word_ids.append(_next_word(enc))

    def _append(self, enc: Encoding, result: dict, starts, ends, shift: int, word_base: int) -> None:
        """Add one SentencePiece result, mapping normalized char offsets back to the original."""
        ids, pieces = result["ids"], result["pieces"]
        enc.ids += ids
        enc.tokens += [self._pieces[idx] for idx in ids]  # "<unk>", not the unknown surface
        enc.unknown += ids.count(self._unk_id)
        if starts is None:  # normalization kept one character for one
            enc.offsets += [(b + shift, e + shift) for b, e in result["offsets"]]
        else:
            enc.offsets += [_original_span(b, e, starts, ends, shift) for b, e in result["offsets"]]
        # A new word starts at the first piece and at every piece that begins with `▁`.
        word_starts = [piece.startswith(WORD_START) for piece in pieces]
        if word_starts:
            word_starts[0] = True
        enc.word_ids += list(accumulate(word_starts, initial=word_base - 1))[1:]

    def decode(self, ids: list[int]) -> str:
        """Text of the ids; special tokens other than the mask are dropped, the mask is written out."""
        out: list[str] = []
        run: list[int] = []
        for idx in ids:
            if idx == self._mask_id:
                out.append(self._sp.decode(run))
                out.append(self.mask_token)
                run = []
            else:
                run.append(idx)
        out.append(self._sp.decode(run))
        return "".join(out)

    # -- saving --------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        """Write rinna's Hugging Face layout (spiece.model), a tokenizer.json that gives our
        framed ids in plain `AutoTokenizer`, and the sidecar."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / MODEL_FILE).write_bytes(self._proto)
        write_rinna_layout(directory, lowercase=self.normalization.lowercase)
        write_fast_unigram(directory, self._proto, self.normalization, mask_token=self.mask_token)
        Sidecar(self.tokenizer_kind, self.normalization, self.mask_token, fingerprint=self.fingerprint,
                word_boundaries=self.word_boundaries, extends=self.extends).save(directory)


def _next_word(enc: Encoding) -> int:
    return enc.word_ids[-1] + 1 if enc.word_ids else 0


def _original_span(b: int, e: int, starts, ends, shift: int) -> tuple[int, int]:
    if starts is None:
        return (b + shift, e + shift)
    if b >= e:  # a bare `▁` (dummy prefix) covers no character
        at = starts[b] if b < len(starts) else (ends[-1] if ends else 0)
        return (at + shift, at + shift)
    return (starts[b] + shift, ends[e - 1] + shift)


def train_sentencepiece(config, sentences) -> SentencePieceTokenizer:
    """Train a unigram model in rinna's layout on `sentences` (normalized here, before training).

    `config` is a `jaroberta.text.training.TokenizerTrainConfig`.
    """
    normalize = config.normalization
    model = io.BytesIO()
    try:
        _train(config, (normalize(s) for s in progress_bar(sentences, desc="sentencepiece: reading", unit=" sentences")), model)
    except RuntimeError as exc:
        raise _training_error(config, exc) from exc
    return SentencePieceTokenizer(model.getvalue(), config.normalization)


_CHECK = re.compile(r"[A-Z_]+: \S+\(\d+\) \[(.*?)\]\s*(.*)", re.S)
_TOO_SMALL = re.compile(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)")


def _training_error(config, exc: RuntimeError) -> JarobertaError:
    """SentencePiece's C++ check, said in terms of the command's options."""
    message = str(exc)
    too_small = _TOO_SMALL.search(message)
    if too_small:
        needed = int(too_small.group(2))
        return JarobertaError(
            f"--vocab-size {config.vocab_size} is too small for this corpus: it needs at least {needed} pieces "
            f"(its characters at --character-coverage {config.character_coverage}, plus {len(CONTROL_SYMBOLS) + 3} "
            f"special ones); pass --vocab-size {needed} or more, or lower --character-coverage"
        )
    # "INTERNAL: src/x.cc(467) [condition] reason": the source location means nothing to a user
    located = _CHECK.match(message.strip())
    reason = (located.group(2).strip() or f"failed check {located.group(1)}") if located else message.strip()
    return JarobertaError(f"SentencePiece cannot train on {', '.join(map(str, config.inputs))}: {reason}")


def _train(config, sentences, model) -> None:
    spm.SentencePieceTrainer.train(
        sentence_iterator=sentences,
        model_writer=model,
        model_type="unigram",
        vocab_size=config.vocab_size,
        # Small corpora cannot fill a large vocabulary: take what there is instead of failing.
        hard_vocab_limit=False,
        character_coverage=config.character_coverage,
        input_sentence_size=config.sample_sentences,
        shuffle_input_sentence=True,
        normalization_rule_name="nmt_nfkc",
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,  # [PAD] is a control symbol at 3, as in rinna's model
        control_symbols=list(CONTROL_SYMBOLS),
        max_sentence_length=1 << 16,
        num_threads=config.workers,
        minloglevel=2,
    )
