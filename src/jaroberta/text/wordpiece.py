"""Family 2: MeCab words, then WordPiece, in JMedRoBERTa's layout.

Pipeline: our `Normalization` (full-width conversion for JMedRoBERTa, *before* MeCab,
because its IPAdic + Manbyo vocabulary was built from full-width text and the published
tokenizer does not normalize) -> MeCab words (fugashi, a system dictionary plus user
dictionaries, `text/mecab.py`) -> a Rust `tokenizers` WordPiece model over the
pre-tokenized words. Ids are identical to `BertJapaneseTokenizer` on the same folder:
- a MeCab surface is further split on whitespace and whitespace-only surfaces (MeCab
  returns U+3000 as a word) are dropped, as BertJapaneseTokenizer's `whitespace_tokenize`
  does;
- a word longer than 100 characters, or one WordPiece cannot cover, is one `[UNK]`
  (`max_input_chars_per_word=100`), counted in `Encoding.unknown`;
- special tokens: `[PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4` (BERT-Japanese order).

The literal mask rule. The literal "[MASK]" in text is split out of the *original* text
(full-width conversion would turn it into "［ＭＡＳＫ］"), the parts go through MeCab
separately and the mask id goes between them, as one word of its own (so MeCab never
sees "[MASK]" and can't glue it to neighbours); `BertJapaneseTokenizer` does the same
through its added-token splitting. Other special-token strings ("[CLS]", "[SEP]",
"[PAD]", "[UNK]") typed in text are ordinary text for us, whereas BertJapaneseTokenizer
would turn them into special ids: we never let users inject framing tokens by typing.

Encoding never truncates. `workers > 1` spreads texts over threads where MeCab parses
without the GIL (`MecabWordSplitter.native_parallel`, the case with fugashi's wheels: no
start-up, nothing pickled), else over processes, each rebuilding its MeCab tagger from the
pickled tokenizer.
"""

from __future__ import annotations

import logging
import multiprocessing
import shutil
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from pathlib import Path

from jaroberta.deps import require
from jaroberta.errors import JarobertaError
from jaroberta.text.base import Encoding, without_surrogates
from jaroberta.text.hf_layout import VOCAB_FILE, write_bert_japanese_layout
from jaroberta.text.mecab import MecabConfig, MecabWordSplitter, with_offsets
from jaroberta.text.normalize import JMED_NORMALIZATION, Normalization
from jaroberta.core.workers import exit_with_parent
from jaroberta.core.progress import progress_bar
from jaroberta.text.sidecar import Extension, Sidecar, fingerprint
from jaroberta.text.unigram import _span_map as span_map
from jaroberta.text.userdict import DictionaryRef, file_sha256

log = logging.getLogger(__name__)

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
"""Ids 0-4, BERT-Japanese order."""
MAX_INPUT_CHARS_PER_WORD = 100
"""BertJapaneseTokenizer's WordpieceTokenizer limit: longer words become one [UNK]."""

MIN_TEXTS_PER_WORKER = 500
"""Below this many texts per process, `workers > 1` encodes in the calling process."""
MIN_TEXTS_PER_THREAD = 64
"""Below this many texts per thread, `workers > 1` encodes in the calling thread."""
WORD_CACHE_SIZE = 500_000
"""Distinct words whose WordPiece ids are remembered (cleared when full)."""

_ROLES = {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}


def _wordpiece_model(vocab: list[str], unk_token: str):
    tokenizers = require("tokenizers", "the MeCab + WordPiece tokenizer")
    model = tokenizers.models.WordPiece(
        {token: i for i, token in enumerate(vocab)},
        unk_token=unk_token,
        max_input_chars_per_word=MAX_INPUT_CHARS_PER_WORD,
        continuing_subword_prefix="##",
    )
    return tokenizers.Tokenizer(model)


class _WordCache(dict):
    """word -> WordPiece ids, filled on a miss by the Rust model: words repeat (Zipf), so most
    lookups are one dict hit instead of a greedy longest-match, and `map(cache.__getitem__, words)`
    runs the whole loop in C."""

    def __init__(self, wordpiece, vocab: dict[str, int]):
        super().__init__()
        self._model = wordpiece.model
        self._vocab = vocab

    def __missing__(self, word: str) -> list[int]:
        if len(self) >= WORD_CACHE_SIZE:
            self.clear()
        whole = self._vocab.get(word)
        if whole is not None and len(word) <= MAX_INPUT_CHARS_PER_WORD:
            ids = [whole]  # greedy longest-match takes a word that is itself in the vocabulary whole
        else:
            ids = [token.id for token in self._model.tokenize(word)]
        self[word] = ids
        return ids


class _PieceCache(dict):
    """word -> (ids, tokens, spans relative to the word start, unknown count): what `encode`
    needs per word, computed once per distinct word."""

    def __init__(self, word_ids: _WordCache, vocab: list[str], unk_id: int):
        super().__init__()
        self._word_ids, self._vocab, self._unk_id = word_ids, vocab, unk_id

    def __missing__(self, word: str) -> tuple[list[int], list[str], list[tuple[int, int]], int]:
        if len(self) >= WORD_CACHE_SIZE:
            self.clear()
        ids = self._word_ids[word]
        if ids[0] == self._unk_id:  # WordPiece gives one [UNK] for a word it cannot cover: it spans the word
            entry = (ids, [self._vocab[ids[0]]], [(0, len(word))], 1)
        else:  # the pieces, `##` removed, spell the word: consecutive spans
            spans, start = [], 0
            for i, idx in enumerate(ids):
                length = len(self._vocab[idx]) - (2 if i else 0)
                spans.append((start, start + length))
                start += length
            entry = (ids, [self._vocab[idx] for idx in ids], spans, 0)
        self[word] = entry
        return entry


class MecabWordPieceTokenizer:
    """JMedRoBERTa-family tokenizer: normalization, MeCab words, WordPiece."""

    tokenizer_kind = "mecab-wordpiece"

    def __init__(
        self,
        vocab: Sequence[str],
        system_dict: str = "ipadic",
        user_dicts: Sequence[str | Path] = (),
        normalization: Normalization = JMED_NORMALIZATION,
        mask_token: str = "[MASK]",
        unk_token: str = "[UNK]",
        extends: Extension | None = None,
    ):
        self.vocab = list(vocab)
        self.extends = extends
        """The base this tokenizer extends (`jaroberta.text.extend`), recorded in the sidecar; None for most."""
        self.system_dict = system_dict
        self.user_dicts = tuple(Path(p) for p in user_dicts)
        self.normalization = normalization
        self.mask_token = mask_token
        self.unk_token = unk_token
        self._vocab = {token: i for i, token in enumerate(self.vocab)}
        if unk_token not in self._vocab:
            raise JarobertaError(f"the vocabulary has no unknown token {unk_token!r}")
        self._unk_id = self._vocab[unk_token]
        self._mask_id = self._vocab.get(mask_token)
        self._splitter = MecabWordSplitter(MecabConfig(system_dict=system_dict, user_dicts=tuple(str(p) for p in self.user_dicts)))
        self._wordpiece = _wordpiece_model(self.vocab, unk_token)
        self._word_cache = _WordCache(self._wordpiece, self._vocab)
        self._piece_cache = _PieceCache(self._word_cache, self.vocab, self._unk_id)
        self.dictionaries = [DictionaryRef(p.name, file_sha256(p)) for p in self.user_dicts]
        vocab_bytes = "\n".join(self.vocab).encode("utf-8")
        self._fingerprint = fingerprint(vocab_bytes, normalization, [d.sha256 for d in self.dictionaries], extra=system_dict)

    @classmethod
    def from_vocab_file(
        cls,
        vocab_file: str | Path,
        system_dict: str = "ipadic",
        user_dicts: Sequence[str | Path] = (),
        normalization: Normalization = JMED_NORMALIZATION,
        mask_token: str = "[MASK]",
    ) -> "MecabWordPieceTokenizer":
        # Exactly as BertJapaneseTokenizer's load_vocab: one token per line, only "\n" stripped.
        lines = Path(vocab_file).read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return cls(lines, system_dict, user_dicts, normalization, mask_token)

    def __reduce__(self):
        # Workers rebuild the MeCab tagger and the Rust model from these plain values.
        return (
            self.__class__,
            (self.vocab, self.system_dict, self.user_dicts, self.normalization, self.mask_token, self.unk_token, self.extends),
        )

    # -- vocabulary ----------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def special_ids(self) -> dict[str, int]:
        return {role: self._vocab[token] for role, token in _ROLES.items() if token in self._vocab}

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def token_to_id(self, token: str) -> int | None:
        return self._vocab.get(token)

    def id_to_token(self, idx: int) -> str:
        return self.vocab[idx]

    # -- words -------------------------------------------------------------------------
    def words(self, text: str) -> list[str]:
        """The MeCab words of already-normalized text, split as BertJapaneseTokenizer splits them
        (surfaces split on whitespace, whitespace-only surfaces dropped)."""
        return self._splitter.split(text)

    def _words_local(self, texts: list[str]) -> list[list[str]]:
        return self._splitter.split_batch(without_surrogates(texts))

    # -- encoding ------------------------------------------------------------------
    def encode(self, text: str) -> Encoding:
        return self._encode_local([text])[0]

    def encode_ids_batch(self, texts: list[str], workers: int = 1) -> list[list[int]]:
        """Fast path: ids only."""
        return _in_workers(self, "_encode_ids_local", texts, workers)

    def encode_batch(self, texts: list[str], workers: int = 1) -> list[Encoding]:
        return _in_workers(self, "_encode_local", texts, workers)

    def _encode_ids_local(self, texts: list[str]) -> list[list[int]]:
        """Ids of each text: MeCab runs once over the batch (`wakati_batch`), then every word's
        pieces come from the word cache."""
        mask, pieces = self.mask_token, self._word_cache.__getitem__
        texts = without_surrogates(texts)
        lines = self._splitter.wakati_batch(self.normalization.batch(texts))
        return [
            self._encode_local([text])[0].ids if mask in text  # rare: a literal mask takes the full path
            else list(chain.from_iterable(map(pieces, line.split())))
            for text, line in zip(texts, lines)
        ]

    def _encode_local(self, texts: list[str]) -> list[Encoding]:
        """Full encodings: every mask-free part of every text normalized with its offset map,
        all parts split by MeCab in one batch, then assembled text by text."""
        split_texts = [text.split(self.mask_token) for text in without_surrogates(texts)]
        maps = [_span_map(part, self.normalization) for parts in split_texts for part in parts if part]
        words = iter(self._splitter.split_batch([normalized for normalized, _, _ in maps]))
        maps_iter = iter(maps)
        out = []
        for parts in split_texts:
            enc = Encoding([], [], [], [], 0)
            position = 0
            for index, part in enumerate(parts):
                if index > 0:
                    enc.ids.append(self._mask_id if self._mask_id is not None else self._unk_id)
                    enc.tokens.append(self.mask_token)
                    enc.offsets.append((position, position + len(self.mask_token)))
                    enc.word_ids.append(enc.word_ids[-1] + 1 if enc.word_ids else 0)
                    position += len(self.mask_token)
                if part:
                    self._append_part(enc, next(maps_iter), next(words), position)
                position += len(part)
            out.append(enc)
        return out

    def _append_part(self, enc: Encoding, span_map, split: list[str], shift: int) -> None:
        """Pieces of one mask-free part of the text (its normalized form and offset map, and
        its MeCab words), with offsets into the original text."""
        normalized, starts, ends = span_map
        words = with_offsets(normalized, split)
        entries = list(map(self._piece_cache.__getitem__, [word for word, _, _ in words]))
        base = enc.word_ids[-1] + 1 if enc.word_ids else 0
        enc.ids += chain.from_iterable(entry[0] for entry in entries)
        enc.tokens += chain.from_iterable(entry[1] for entry in entries)
        enc.word_ids += [base + w for w, entry in enumerate(entries) for _ in entry[0]]
        enc.unknown += sum(entry[3] for entry in entries)
        # Piece spans are relative to their word; the word's start is in the normalized text.
        spans = [(start + b, start + e) for (_, start, _), entry in zip(words, entries) for b, e in entry[2]]
        if starts is None:  # normalization kept one character for one
            enc.offsets += [(b + shift, e + shift) for b, e in spans]
        else:
            enc.offsets += [(starts[b] + shift, ends[e - 1] + shift) for b, e in spans]

    def decode(self, ids: list[int]) -> str:
        """Text of the ids: pieces joined without spaces (Japanese), `##` removed; [PAD]/[CLS]/[SEP] dropped."""
        skip = {self._vocab.get(t) for t in ("[PAD]", "[CLS]", "[SEP]")}
        out = []
        for idx in ids:
            if idx in skip:
                continue
            token = self.vocab[idx]
            out.append(token[2:] if token.startswith("##") else token)
        return "".join(out)

    # -- saving --------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        """vocab.txt + BertJapaneseTokenizer config + copies of the user dictionaries + sidecar."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / VOCAB_FILE).write_text("".join(t + "\n" for t in self.vocab), encoding="utf-8")
        copies = []
        for path in self.user_dicts:
            target = directory / path.name
            if path.resolve() != target.resolve():
                shutil.copyfile(path, target)
            copies.append(target)
        write_bert_japanese_layout(directory, self.system_dict, copies)
        Sidecar(
            self.tokenizer_kind,
            self.normalization,
            self.mask_token,
            system_dict=self.system_dict,
            dictionaries=[d.to_dict() for d in self.dictionaries],
            fingerprint=self.fingerprint,
            extends=self.extends,
        ).save(directory)


def _span_map(text: str, normalization: Normalization):
    return span_map(text, normalization)


# -- workers ---------------------------------------------------------------------------
_WORKER_TOKENIZER: MecabWordPieceTokenizer | None = None


def _init_worker(tokenizer: MecabWordPieceTokenizer) -> None:
    global _WORKER_TOKENIZER
    _WORKER_TOKENIZER = tokenizer
    exit_with_parent()  # a killed parent leaves no orphan printing BrokenPipeError


def _run_in_worker(job: tuple[str, list[str]]):
    method, texts = job
    return getattr(_WORKER_TOKENIZER, method)(texts)


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _staggered_chunks(texts: list[str], workers: int) -> list[list[str]]:
    """Chunks for the threads: few and large (each is one MeCab call, which costs a few
    milliseconds to start), the first and last half-size. A half-size first chunk puts the
    threads out of step, so that one runs its Python (which holds the GIL) while the other
    parses in C; a half-size last one shortens the work left after the other thread is done."""
    size = max(MIN_TEXTS_PER_THREAD, min(8000, len(texts) * 2 // (5 * workers)))
    half = min(size // 2, len(texts) // 4)
    middle = texts[half : len(texts) - half]
    count = max(1, round(len(middle) / size))  # equal middle chunks of about `size`
    bounds = [half + len(middle) * i // count for i in range(count + 1)]
    chunks = [texts[:half], *(texts[a:b] for a, b in zip(bounds, bounds[1:])), texts[len(texts) - half :]]
    return [chunk for chunk in chunks if chunk]


def _in_workers(tokenizer: MecabWordPieceTokenizer, method: str, texts: list[str], workers: int) -> list:
    """Run `tokenizer.<method>(chunk)` over chunks of texts in `workers` threads or processes, in order.

    Threads where MeCab parses without the GIL (no start-up, nothing pickled). Processes
    otherwise: starting them costs about as much as encoding a few thousand short texts, so
    a batch with fewer than MIN_TEXTS_PER_WORKER texts per process is encoded here instead.
    """
    if tokenizer._splitter.native_parallel():
        if workers <= 1 or len(texts) < MIN_TEXTS_PER_THREAD * workers:
            return getattr(tokenizer, method)(texts)

        with ThreadPoolExecutor(workers, thread_name_prefix="jaroberta-mecab") as pool:
            results = list(pool.map(getattr(tokenizer, method), _staggered_chunks(texts, workers)))
        return [item for chunk in results for item in chunk]
    if workers <= 1 or len(texts) < MIN_TEXTS_PER_WORKER * workers:
        return getattr(tokenizer, method)(texts)

    size = max(1, min(2000, len(texts) // (workers * 4)))
    with multiprocessing.get_context().Pool(workers, initializer=_init_worker, initargs=(tokenizer,)) as pool:
        results = pool.map(_run_in_worker, [(method, chunk) for chunk in _chunks(texts, size)])
    return [item for chunk in results for item in chunk]


# -- training ------------------------------------------------------------------------
def train_mecab_wordpiece(config, sentences: Iterable[str]) -> MecabWordPieceTokenizer:
    """Train WordPiece on the MeCab words of `sentences` (normalized first).

    `config` is a `jaroberta.text.training.TokenizerTrainConfig`.
    """
    tokenizers = require("tokenizers", "training a WordPiece vocabulary")
    # Segment with a vocabulary-less tokenizer of the same settings: same words as encoding.
    segmenter = MecabWordPieceTokenizer(list(SPECIAL_TOKENS), config.system_dict, config.user_dicts, config.normalization)
    model = tokenizers.Tokenizer(tokenizers.models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=MAX_INPUT_CHARS_PER_WORD))
    model.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    trainer = tokenizers.trainers.WordPieceTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        continuing_subword_prefix="##",
        show_progress=False,
    )
    lines = (" ".join(words) for words in _segmented(segmenter, sentences, config.workers))
    model.train_from_iterator(progress_bar(lines, desc="mecab-wordpiece: segmenting", unit=" sentences"), trainer=trainer)
    vocab = sorted(model.get_vocab().items(), key=lambda item: item[1])
    # The trainer keeps every character of the corpus (and its ## form) whatever the size
    # asked, and stops short on a small corpus: train_tokenizer warns about either.
    return MecabWordPieceTokenizer([token for token, _ in vocab], config.system_dict, config.user_dicts, config.normalization)


def _segmented(segmenter: MecabWordPieceTokenizer, sentences: Iterable[str], workers: int) -> Iterable[list[str]]:
    normalize = segmenter.normalization
    batch: list[str] = []
    for sentence in sentences:
        batch.append(normalize(sentence))
        if len(batch) >= 10_000:
            yield from _in_workers(segmenter, "_words_local", batch, workers)
            batch = []
    if batch:
        yield from _in_workers(segmenter, "_words_local", batch, workers)
