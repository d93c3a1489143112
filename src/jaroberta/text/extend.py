"""Extending a published tokenizer's vocabulary for a domain, every base id kept.

    tokenizer, report = extend_tokenizer(base, domain_sentences, add=2000)
    save_extended(tokenizer, report, out)

A general vocabulary cuts domain terms into pieces; a new vocabulary would throw away what a
published model learned. Here the base's N entries keep their ids and pieces, and up to
`add` domain entries are appended after them, so a model of the base can grow its
embedding matrix by rows (`jaroberta.model.grow`) instead of starting over:

- SentencePiece (rinna family): a unigram model is trained on the domain text, normalized
  exactly as the base normalizes it; its pieces that the base lacks are ranked by how much
  they shorten the domain text (how often the domain model uses the piece x how many base
  pieces fewer it takes), and the best are appended to the base's own model proto, as
  normal pieces whose score beats the best path the model had for that string (plus
  `SCORE_MARGIN`), so the Viterbi segmenter takes them where they occur. Normalization,
  control symbols and framing are the base's. Only a path through a new piece can change,
  and a new piece can only be matched where its string occurs: text in which no new piece
  occurs (in its normalized, `▁`-escaped form) gets exactly the ids it got before.
- MeCab + WordPiece (JMedRoBERTa family): the domain text is cut into MeCab words (the
  base's dictionaries plus optional user dictionaries, e.g. from `jaroberta dict build`),
  and the frequent words the base vocabulary splits into several pieces (or cannot cover)
  are appended as whole-word entries. WordPiece matches the longest vocabulary prefix of
  a word, so an entry changes only words that start with it; with added user dictionaries,
  MeCab also cuts differently where one of their words occurs.

The new tokenizer's sidecar records the base's fingerprint, its size and how many entries
were added (`Sidecar.extends`), and `jaroberta_extend_report.json` beside it says what the
extension bought: pieces per character on the dev sentences before and after, and the most
frequent new entries with their pieces before and after.
"""

from __future__ import annotations

import io
import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2

from jaroberta.errors import JarobertaError
from jaroberta.text.base import JaTokenizer, without_surrogates
from jaroberta.text.sidecar import Extension
from jaroberta.text.unigram import WORD_START, SentencePieceTokenizer
from jaroberta.text.wordpiece import MAX_INPUT_CHARS_PER_WORD, SPECIAL_TOKENS, MecabWordPieceTokenizer, _segmented

log = logging.getLogger(__name__)

EXTEND_REPORT = "jaroberta_extend_report.json"
"""What `extend_tokenizer` measured, beside the tokenizer files `save_extended` writes."""
MAX_UINT16_VOCAB = 65_535
"""The largest vocabulary whose ids packed shards store as uint16 (`corpus.shards.id_dtype_for`);
past it every shard doubles in size."""
SCORE_MARGIN = 1.0
"""How much a new piece's score beats the best path the model had for its string (log-probability)."""
REPORT_WORDS = 20
"""New entries shown with their pieces before and after, most frequent first."""
MIN_DOMAIN_VOCAB = 8000
"""Smallest vocabulary asked of the domain unigram model (it stops short on a small corpus)."""
_NORMAL = 1  # SentencePiece piece type


@dataclass
class ExtendReport:
    """What an extension added and what it bought, as `tokenizer info` shows it."""

    tokenizer_kind: str
    """'sentencepiece' or 'mecab-wordpiece', the base's."""
    base: str
    """The base tokenizer (folder or hub id) as given."""
    base_fingerprint: str
    """The base tokenizer's fingerprint (also in the new tokenizer's sidecar)."""
    base_vocab_size: int
    """Entries of the base vocabulary, kept as ids 0 .. base_vocab_size - 1."""
    asked: int
    """Entries asked for (`add`)."""
    added: int
    """Entries appended (at most `asked`)."""
    vocab_size: int
    """The new vocabulary's size: base_vocab_size + added."""
    measured_on: str
    """'dev' (the dev sentences given) or 'train' (no dev sentences: the domain text itself)."""
    sentences: int
    """Sentences the pieces per character are measured on."""
    characters: int
    """Characters of those sentences, as written (before normalization)."""
    pieces_per_char_before: float
    """Pieces the base tokenizer cuts them into, per character."""
    pieces_per_char_after: float
    """Pieces the extended tokenizer cuts them into, per character."""
    words: list[dict] = field(default_factory=list)
    """The most frequent new entries: {'word', 'count', 'before': pieces, 'after': pieces}."""
    entries: list[str] = field(default_factory=list)
    """Every added entry, in id order."""
    user_dicts: list[str] = field(default_factory=list)
    """MeCab user dictionaries added for the domain (file names)."""
    min_count: int = 1
    """Fewest occurrences in the domain text of an entry added."""
    available: int | None = None
    """Entries the corpus gave (with `at_most`: what `added` was cut from; else not counted)."""

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        """The report for a terminal."""
        change = self.pieces_per_char_after / self.pieces_per_char_before - 1 if self.pieces_per_char_before else 0.0
        lines = [
            f"extended {self.tokenizer_kind} tokenizer: {self.base_vocab_size:,} base entries + {self.added:,} domain entries "
            f"(asked {self.asked:,}) = {self.vocab_size:,}",
            f"pieces per character on {self.measured_on} ({self.sentences:,} sentences, {self.characters:,} characters): "
            f"{self.pieces_per_char_before:.4f} -> {self.pieces_per_char_after:.4f} ({change:+.1%})",
        ]
        for word in self.words:
            lines.append(f"  {word['word']} (x{word['count']:,}): {' '.join(word['before'])}  ->  {' '.join(word['after'])}")
        return lines

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / EXTEND_REPORT
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> "ExtendReport | None":
        """The report saved in a tokenizer folder; None when there is none (not an extension) or it is unreadable."""
        try:
            return cls(**json.loads((Path(directory) / EXTEND_REPORT).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None


def check_add(base: JaTokenizer, add: int, name: str = "the base tokenizer") -> None:
    """`add` new entries fit: positive, and the vocabulary stays within what uint16 shards hold
    (one line naming the number and what to do otherwise); checked before any work."""
    if add <= 0:
        raise JarobertaError(f"add {add}: give the number of domain entries to append, a positive number such as 2000")
    if base.vocab_size <= MAX_UINT16_VOCAB < base.vocab_size + add:
        raise JarobertaError(
            f"add {add:,}: {name} has {base.vocab_size:,} entries, so the vocabulary could reach {base.vocab_size + add:,}, "
            f"past the {MAX_UINT16_VOCAB:,} ids packed shards hold as uint16 (they would double in size); "
            f"pass add={MAX_UINT16_VOCAB - base.vocab_size:,} or fewer")


def extend_tokenizer(
    base: JaTokenizer,
    domain_sentences: Iterable[str],
    add: int,
    *,
    user_dicts: Sequence[str | Path] = (),
    dev_sentences: Sequence[str] | None = None,
    base_name: str = "",
    corpus_name: str = "",
    min_count: int | None = None,
    at_most: bool = False,
    workers: int = 1,
) -> tuple[JaTokenizer, ExtendReport]:
    """The base tokenizer with up to `add` domain entries appended, and what that bought.

    `domain_sentences`: the domain text, one sentence each (a corpus's train split);
    `dev_sentences`: held-out sentences to measure pieces per character on (default: the
    domain text itself). `user_dicts`: MeCab user dictionaries added for the domain
    (MeCab family only). `base_name`, `corpus_name`: what to call them in messages.
    `min_count`: fewest occurrences of a new entry in the domain text (MeCab: as a word;
    SentencePiece: as the domain model cuts the text); None = 2 for MeCab words, 1 for
    SentencePiece pieces (the domain model keeps only pieces that pay already).
    Raises JarobertaError when the corpus gives fewer than `add` new entries, unless `at_most`:
    then what it gives is taken (none at all is still refused).
    """
    name = base_name or "the base tokenizer"
    corpus = f"the domain corpus {corpus_name}" if corpus_name else "the domain corpus"
    check_add(base, add, name)
    if user_dicts and base.tokenizer_kind != "mecab-wordpiece":
        raise JarobertaError(f"user_dicts applies to MeCab tokenizers only; {name} is a {base.tokenizer_kind} tokenizer")
    sentences = [s for s in without_surrogates(list(domain_sentences)) if s.strip()]
    if not sentences:
        raise JarobertaError(f"{corpus} has no text: give a corpus folder with a non-empty train split")
    if isinstance(base, SentencePieceTokenizer):
        min_count = 1 if min_count is None else min_count
        ranked = _rank_sentencepiece(base, sentences, add, corpus, workers, min_count)
    elif isinstance(base, MecabWordPieceTokenizer):
        min_count = 2 if min_count is None else min_count
        ranked, dicts = _rank_wordpiece(base, sentences, user_dicts, min_count, workers)
    else:
        raise JarobertaError(
            f"{name} is a {type(base).__name__} ({getattr(base, 'tokenizer_kind', '?')}), which jaroberta cannot extend: "
            f"give a SentencePiece (rinna family) or MeCab + WordPiece (JMedRoBERTa family) tokenizer or model folder")
    if len(ranked) < add and not (at_most and ranked):
        seen = f" seen at least {min_count} times" if min_count > 1 else ""
        raise _too_few(corpus, name, add, len(ranked), seen)
    chosen = ranked[:add]
    entries = [entry for _, _, entry in chosen]
    if isinstance(base, SentencePieceTokenizer):
        extended = SentencePieceTokenizer(_append_pieces(base.model_proto, entries).SerializeToString(),
                                          base.normalization, base.mask_token)
    else:
        extended = MecabWordPieceTokenizer([*base.vocab, *entries], base.system_dict, dicts, base.normalization,
                                           base.mask_token, base.unk_token)
    counts = {entry: count for _, count, entry in chosen}
    added = extended.vocab_size - base.vocab_size
    extended.extends = Extension(base.fingerprint, base.vocab_size, added, base_name)
    report = _report(base, extended, dev_sentences or sentences, "dev" if dev_sentences else "train", add, counts, user_dicts)
    report.min_count = min_count
    report.available = len(ranked) if at_most else None
    return extended, report


def save_extended(tokenizer: JaTokenizer, report: ExtendReport, out: str | Path) -> Path:
    """Write the extended tokenizer as a tokenizer folder of its family, and its report."""
    out = Path(out)
    tokenizer.save(out)
    report.save(out)
    return out


def base_ids_of_new_entries(base: JaTokenizer, extended: JaTokenizer) -> list[list[int]]:
    """For each entry past the base vocabulary, in id order: the base ids of its text as the
    base tokenizer cuts it (what fast vocabulary transfer averages). A SentencePiece entry is
    cut as it appears inside normalized text (no dummy prefix added: `▁` is part of the entry)."""
    check_extends(base, extended)
    entries = [extended.id_to_token(i) for i in range(base.vocab_size, extended.vocab_size)]
    if isinstance(base, SentencePieceTokenizer):
        return _literal_processor(base.model_proto).encode(entries)
    if isinstance(base, MecabWordPieceTokenizer):
        # The entry's text as the base cuts it: its MeCab words (without added dictionaries), then WordPiece.
        return base.encode_ids_batch(entries)
    raise JarobertaError(f"cannot map the entries of a {type(base).__name__} back to its base")


def check_extends(base: JaTokenizer, extended: JaTokenizer, *, what: str = "the tokenizer") -> None:
    """Refuse unless `extended` was made from `base` by `extend_tokenizer`: its sidecar names the
    base's fingerprint, and every base id has the base's piece."""
    lineage = getattr(extended, "extends", None)
    if lineage is None or lineage.base_fingerprint != base.fingerprint:
        recorded = f"it extends fingerprint {lineage.base_fingerprint[:12]}" if lineage else "it extends no tokenizer"
        raise JarobertaError(
            f"{what} (fingerprint {extended.fingerprint[:12]}) is neither the base's (fingerprint {base.fingerprint[:12]}) "
            f"nor an extension of it ({recorded}): its ids mean other words. Use the base's tokenizer, or one "
            f"made from it by `jaroberta tokenizer extend`")
    if extended.vocab_size != lineage.base_vocab_size + lineage.added or lineage.base_vocab_size != base.vocab_size or any(
        extended.id_to_token(i) != base.id_to_token(i) for i in range(base.vocab_size)
    ):
        raise JarobertaError(f"{what} says it extends the base, but the base vocabulary is not a prefix of its own: "
                             f"the folder was edited by hand; make it again with `jaroberta tokenizer extend`")


# -- SentencePiece ---------------------------------------------------------------------------
def _proto(model_proto: bytes) -> sentencepiece_model_pb2.ModelProto:
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model_proto)
    return proto


def _literal_processor(model_proto: bytes) -> spm.SentencePieceProcessor:
    """The model with normalization off: segments a piece string (already normalized, `▁`
    written out) as it appears inside normalized text."""
    proto = _proto(model_proto)
    spec = proto.normalizer_spec
    spec.name, spec.precompiled_charsmap = "identity", b""
    spec.add_dummy_prefix = spec.remove_extra_whitespaces = False
    return spm.SentencePieceProcessor(model_proto=proto.SerializeToString())


def _rank_sentencepiece(base: SentencePieceTokenizer, sentences: list[str], add: int, corpus: str, workers: int,
                        min_count: int) -> list[tuple[int, int, str]]:
    """(gain, count, piece) of every domain piece the base lacks and splits, best first."""
    base_sp = spm.SentencePieceProcessor(model_proto=base.model_proto)
    # The base's whole normalization (ours, then the model's own), spaces back from `▁`:
    # the domain model then learns on exactly the text the base segments.
    normalized = [base_sp.normalize(text).replace(WORD_START, " ").strip() for text in base.normalization.batch(sentences)]
    normalized = [text for text in normalized if text]
    domain = _train_domain_model(normalized, add, _proto(base.model_proto), workers)
    domain_proto = _proto(domain)
    domain_sp = spm.SentencePieceProcessor(model_proto=domain)
    counts = Counter(i for ids in domain_sp.encode(normalized, num_threads=max(1, workers)) for i in ids)
    candidates = [(p.piece, counts[i]) for i, p in enumerate(domain_proto.pieces)
                  if p.type == _NORMAL and counts[i] >= max(1, min_count) and base.token_to_id(p.piece) is None
                  and p.piece.strip(WORD_START)]
    if not candidates:
        return []
    literal = _literal_processor(base.model_proto)
    lengths = [len(ids) for ids in literal.encode([piece for piece, _ in candidates])]
    return sorted(((count * (n - 1), count, piece) for (piece, count), n in zip(candidates, lengths) if n > 1),
                  key=lambda item: (-item[0], item[2]))


def _train_domain_model(normalized: list[str], add: int, base: sentencepiece_model_pb2.ModelProto, workers: int) -> bytes:
    model = io.BytesIO()
    spec = base.normalizer_spec
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(normalized),
            model_writer=model,
            model_type="unigram",
            vocab_size=max(MIN_DOMAIN_VOCAB, 4 * add),
            hard_vocab_limit=False,  # a small corpus gives what it has; too few is said below
            character_coverage=0.9995,
            input_sentence_size=2_000_000,
            shuffle_input_sentence=True,
            normalization_rule_name="identity",  # normalized above, by the base itself
            add_dummy_prefix=spec.add_dummy_prefix,
            remove_extra_whitespaces=spec.remove_extra_whitespaces,
            unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1,
            max_sentence_length=1 << 16,
            num_threads=workers,
            minloglevel=2,
        )
    except RuntimeError as exc:
        raise JarobertaError(f"SentencePiece cannot train a domain model on this corpus: {str(exc).strip()[:200]}; "
                             f"give more domain text") from exc
    return model.getvalue()


def _append_pieces(model_proto: bytes, pieces: list[str]) -> sentencepiece_model_pb2.ModelProto:
    """The base proto with `pieces` appended (in this order) as normal pieces.

    Each score beats the best path the model had for the piece's string by SCORE_MARGIN.
    Shorter pieces are scored first and take part when longer ones are scored, so a long
    piece also beats a path through a shorter new one. No score goes below the base's
    lowest: SentencePiece prices an unknown character from that minimum, which must not move.
    """
    proto = _proto(model_proto)
    floor = min(p.score for p in proto.pieces if p.type == _NORMAL)
    scores: dict[str, float] = {}
    for length in sorted({len(piece) for piece in pieces}):
        group = [piece for piece in pieces if len(piece) == length]
        current = _proto(model_proto)
        for piece, score in scores.items():
            current.pieces.add(piece=piece, score=score, type=_NORMAL)
        literal = _literal_processor(current.SerializeToString())
        for piece, ids in zip(group, literal.encode(group)):
            path = sum(literal.get_score(i) if not literal.is_unknown(i) else floor - 10.0 for i in ids)
            scores[piece] = max(path + SCORE_MARGIN, floor)
    for piece in pieces:
        proto.pieces.add(piece=piece, score=scores[piece], type=_NORMAL)
    proto.trainer_spec.vocab_size = len(proto.pieces)  # the record of what the model holds, as training writes it
    return proto


# -- MeCab + WordPiece -------------------------------------------------------------------------
def _rank_wordpiece(base: MecabWordPieceTokenizer, sentences: list[str], user_dicts: Sequence[str | Path],
                    min_count: int, workers: int) -> tuple[list[tuple[int, int, str]], tuple]:
    """((gain, count, word) of every frequent domain word the base splits, best first; the dictionaries)."""
    known = {p.name for p in base.user_dicts}
    extra = [Path(p) for p in user_dicts if Path(p).name not in known]
    for path in extra:
        if not path.is_file():
            raise JarobertaError(f"user dictionary {path} does not exist: build one with `jaroberta dict build`")
    dicts = (*base.user_dicts, *extra)
    segmenter = MecabWordPieceTokenizer(list(SPECIAL_TOKENS), base.system_dict, dicts, base.normalization)
    counts = Counter(word for words in _segmented(segmenter, sentences, workers) for word in words)
    unk = base.special_ids["unk"]
    ranked = []
    for word, count in counts.items():
        if (count < min_count or base.token_to_id(word) is not None or len(word) > MAX_INPUT_CHARS_PER_WORD
                or word.startswith("##") or word == base.mask_token):
            continue
        ids = base._word_cache[word]
        pieces = len(word) if ids == [unk] else len(ids)  # an uncovered word would take a piece per character
        if pieces > 1:
            ranked.append((count * (pieces - 1), count, word))
    ranked.sort(key=lambda item: (-item[0], item[2]))
    return ranked, dicts


def _too_few(corpus: str, name: str, add: int, found: int, seen: str = "") -> JarobertaError:
    return JarobertaError(
        f"{corpus} gives {found:,} new entries{seen} that {name} splits into several pieces, fewer than the "
        f"{add:,} asked: pass add={found:,} or fewer" + (", or give more domain text" if found else "; give more domain text"))


# -- the report --------------------------------------------------------------------------------
def _pieces(tokenizer: JaTokenizer, entries: list[str]) -> list[list[str]]:
    """How `tokenizer` cuts each entry's text where it occurs: a SentencePiece entry as it is
    inside normalized text (one without `▁` continues a word), a MeCab word as text."""
    if isinstance(tokenizer, SentencePieceTokenizer):
        return _literal_processor(tokenizer.model_proto).encode(entries, out_type=str)
    return [enc.tokens for enc in tokenizer.encode_batch(entries)]


def _report(base: JaTokenizer, extended: JaTokenizer, dev: Sequence[str], measured_on: str, asked: int,
            counts: dict[str, int], user_dicts: Sequence[str | Path]) -> ExtendReport:
    dev = [s for s in dev if s.strip()]
    characters = sum(len(s) for s in dev)
    before = sum(map(len, base.encode_ids_batch(dev)))
    after = sum(map(len, extended.encode_ids_batch(dev)))
    entries = [extended.id_to_token(i) for i in range(base.vocab_size, extended.vocab_size)]
    top = sorted(entries, key=lambda e: (-counts.get(e, 0), e))[:REPORT_WORDS]
    surfaces = [entry.replace(WORD_START, " ").strip() or entry for entry in top]  # as people write them
    words = [{"word": surface, "count": counts.get(entry, 0), "before": b, "after": a}
             for entry, surface, b, a in zip(top, surfaces, _pieces(base, top), _pieces(extended, top))]
    return ExtendReport(
        tokenizer_kind=base.tokenizer_kind, base=getattr(extended.extends, "base", ""), base_fingerprint=base.fingerprint,
        base_vocab_size=base.vocab_size, asked=asked, added=len(entries), vocab_size=extended.vocab_size,
        measured_on=measured_on, sentences=len(dev), characters=characters,
        pieces_per_char_before=before / characters if characters else 0.0,
        pieces_per_char_after=after / characters if characters else 0.0,
        words=words, entries=entries, user_dicts=[Path(p).name for p in user_dicts],
    )
