"""Cleaning: small named rules, composed in order, each counted.

A raw document (a list of lines or paragraphs) goes through:

    line rules      control_chars -> markup -> nfkc          (rewrite a line; count changed lines)
    join_lines      hard-wrapped lines joined into paragraphs (`wrapping.py`; count joins)
    sentence_split  on 。!? and line ends, 「」『』 quotes kept whole
    sentence rules  length -> terminal_punctuation -> japanese_share   (drop a sentence; count it)

Exact dedup of sentences and documents and the near-duplicate filter need to see the
whole corpus, so they run in the main process (`jaroberta.corpus.dedup`); they are
counted in the same report under their own names.

The hot path avoids per-character and per-line Python loops: the line rules and the
sentence splitter run on a whole document at once (its lines joined by newlines; every
rule is line-local and keeps the newlines), each behind a C-speed test that skips it where
it would change nothing (`_CONTROL_RE.search`, `_MARKUP_HINT.search`,
`unicodedata.is_normalized`); lines are compared one by one only in documents a rule
changed, to count them.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from jaroberta.corpus.wrapping import JOIN_MODES, join_wrapped_lines
from jaroberta.errors import JarobertaError

# -- line rules ---------------------------------------------------------------------------

# C0/C1 controls (tab and carriage return become spaces), zero-width and bidi marks, the
# BOM, soft hyphen, variation selectors, and private-use / noncharacters: none carries
# text, all break tokenizers or make identical sentences hash differently. The newline is
# left alone: rules run on documents whose lines are joined by it.
_DELETE = (
    [c for c in range(0x00, 0x20) if c not in (0x09, 0x0A, 0x0D)]
    + list(range(0x7F, 0xA0))
    + [0xAD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF, 0xFFA0]
    + list(range(0x200B, 0x2010))  # zero-width space/joiners, LRM/RLM
    + list(range(0x202A, 0x202F))  # bidi embeddings and overrides
    + list(range(0x2060, 0x2070))  # word joiner, invisible operators, bidi isolates
    + list(range(0xFE00, 0xFE10))  # variation selectors
    + list(range(0xFFF0, 0xFFFC))
    + list(range(0xE000, 0xF900))  # private use area
    + list(range(0xD800, 0xE000))  # lone surrogates (JSON escapes make them): not text, and not writable as UTF-8
)
CONTROL_TABLE: dict[int, str | None] = {c: None for c in _DELETE}
CONTROL_TABLE.update({0x09: " ", 0x0D: " "})
_INLINE_TABLE = {**CONTROL_TABLE, 0x0A: " "}  # for text decoded from entities, inside one line
_CONTROL_RE = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(CONTROL_TABLE)) + "]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def strip_control(line: str) -> str:
    """Delete control and invisible characters; tabs and carriage returns become spaces."""
    if _CONTROL_RE.search(line) is None:  # the common case: a C-speed scan, no copy
        return line
    return line.translate(CONTROL_TABLE)


# Markup left over by scrapers: HTML/XML tags and comments, character entities, MediaWiki
# links/templates/emphasis. Tag names must be ASCII so that Japanese text in ASCII angle
# brackets (rare before NFKC: Japanese uses ＜＞ and 〈〉) is kept.
_TAG_RE = re.compile(r"<!--.*?-->|<!\[CDATA\[|\]\]>|</?[A-Za-z][A-Za-z0-9:_-]*(?:[ \t][^<>\n]*)?/?>")
_ENTITY_RE = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")
_WIKI_LINK_RE = re.compile(r"\[\[(?:[^\[\]|\n]*\|)?([^\[\]\n]*)\]\]")
_WIKI_TEMPLATE_RE = re.compile(r"\{\{[^{}\n]*\}\}")
_WIKI_EMPHASIS_RE = re.compile(r"'{2,}")
_MARKUP_HINT = re.compile(r"[<&]|\[\[|\{\{|''")


def strip_markup(line: str) -> str:
    """Remove tags, comments, wiki links/templates/emphasis; decode character entities."""
    if _MARKUP_HINT.search(line) is None:
        return line
    line = _TAG_RE.sub("", line)
    line = _WIKI_TEMPLATE_RE.sub("", line)
    line = _WIKI_LINK_RE.sub(r"\1", line)
    line = _WIKI_EMPHASIS_RE.sub("", line)
    if "&" in line:
        # an entity may decode to an invisible character or a newline: clean what it gives
        line = _ENTITY_RE.sub(lambda m: html.unescape(m.group(0)).translate(_INLINE_TABLE), line)
    return line


def nfkc(line: str) -> str:
    """Unicode NFKC, as rinna's cleaning: full-width ASCII and half-width kana folded."""
    if unicodedata.is_normalized("NFKC", line):
        return line
    return unicodedata.normalize("NFKC", line)


LINE_RULES: dict[str, Callable[[str], str]] = {  # each keeps newlines: it runs on whole documents
    "control_chars": strip_control,
    "markup": strip_markup,
    "nfkc": nfkc,
}
"""Line rules by name, in the order they run. Markup must precede NFKC, which would turn
Japanese full-width brackets ＜＞ into ASCII ones that look like tags."""

# -- sentence splitting -------------------------------------------------------------------

# After NFKC the full-width ！？ are ASCII. A sentence ends at a run of terminators plus any
# closing brackets/quotes that follow them (「本当?!」と言った。 is one sentence).
_TERMINATORS = "。!?"
_CLOSERS = "」』)）]】〕〉》\"'"
# A line end always ends a sentence.
_SIMPLE_SENTENCE_RE = re.compile(f"[^{_TERMINATORS}\n]*(?:[{_TERMINATORS}]+[{re.escape(_CLOSERS)}]*|\n|$)")
# Quoted spans are atomic: a terminator inside 「...」 or 『...』 does not end the sentence.
# An unmatched opening quote falls through to the single-character alternative.
_QUOTED_SENTENCE_RE = re.compile(
    f"(?:「[^「」\n]*」|『[^『』\n]*』|[^{_TERMINATORS}\n])*(?:[{_TERMINATORS}]+[{re.escape(_CLOSERS)}]*|\n|$)"
)
_ENDS_SENTENCE_RE = re.compile(f"[{_TERMINATORS}][{re.escape(_CLOSERS)}]*$")
# A line that may continue on the next (it does not end a sentence): a C-speed test that
# spares most documents (one sentence per line) the line joiner's per-line look.
_OPEN_LINE_END_RE = re.compile(f"[^{_TERMINATORS}{re.escape(_CLOSERS)}\\s][ \t]*\n")


def split_sentences(text: str) -> list[str]:
    """Split text into sentences on 。!? (after NFKC) and line ends, keeping 「」/『』 quotes whole."""
    pattern = _QUOTED_SENTENCE_RE if ("「" in text or "『" in text) else _SIMPLE_SENTENCE_RE
    return [s.strip() for s in pattern.findall(text) if s and not s.isspace()]


# -- sentence rules -----------------------------------------------------------------------

# Hiragana, katakana (with the prolonged sound mark and half-width forms), CJK ideographs
# (with extension A, compatibility ideographs and 々〆〇), Japanese punctuation and brackets.
# U+3000 (ideographic space) is left out: it is a space, and NFKC makes it one anyway.
_JAPANESE_CHARS = (
    "\u3001-\u303f\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\uff61-\uff9f\U00020000-\U0002fa1f"
)
_FOREIGN_RUN_RE = re.compile(f"[^{_JAPANESE_CHARS}\\s]+")


def japanese_share(sentence: str) -> float:
    """Share of Japanese characters among the non-space characters of `sentence`."""
    foreign_runs = _FOREIGN_RUN_RE.findall(sentence)  # usually few or none: cheap
    visible = len(sentence) - sentence.count(" ") - sentence.count("\u3000")
    if visible <= 0:
        return 0.0
    if not foreign_runs:
        return 1.0
    return (visible - sum(map(len, foreign_runs))) / visible


@dataclass(frozen=True)
class CleanConfig:
    """What the cleaning rules keep."""

    min_chars: int = 1
    """Shortest sentence kept, in characters (rinna: 1)."""
    max_chars: int = 1024
    """Longest sentence kept, in characters (rinna: 1024)."""
    require_terminal: bool = True
    """Keep only sentences that end with 。!? (C4's line filter): drops headings, menu labels, list fragments."""
    min_japanese: float = 0.3
    """Minimum share of Japanese characters (kana, kanji, Japanese punctuation) in a sentence."""
    join_lines: str = "auto"
    """Hard-wrapped lines: 'auto' (join full-width lines that do not end a sentence), 'always' or 'never'."""
    skip_rules: tuple[str, ...] = ()
    """Names of rules to turn off (see `RULES`)."""
    keep_rejected: bool = False
    """Collect what each rule dropped, with the rule's name (written to rejected/)."""

    def __post_init__(self) -> None:
        if not 1 <= self.min_chars <= self.max_chars:
            raise JarobertaError(f"sentence length bounds must satisfy 1 <= min_chars <= max_chars, got {self.min_chars}..{self.max_chars}")
        if not 0.0 <= self.min_japanese <= 1.0:
            raise JarobertaError(f"min_japanese must be a share between 0 and 1, got {self.min_japanese}")
        if self.join_lines not in JOIN_MODES:
            raise JarobertaError(f"join_lines must be one of {JOIN_MODES}, got {self.join_lines!r}")
        unknown = sorted(set(self.skip_rules) - set(RULES))
        if unknown:
            raise JarobertaError(f"unknown rule(s) in skip_rules: {unknown}; rules are {list(RULES)}")

    def enabled(self, rule: str) -> bool:
        return rule not in self.skip_rules


RULES: dict[str, str] = {
    "control_chars": "delete control and invisible characters (lines changed)",
    "markup": "remove HTML/XML/wiki markup remnants, decode entities (lines changed)",
    "nfkc": "Unicode NFKC normalization (lines changed)",
    "join_lines": "join hard-wrapped lines into paragraphs (--join-lines; lines joined)",
    "sentence_split": "split lines into sentences on 。!? and line ends, quotes kept whole",
    "length": "drop sentences outside the length bounds",
    "terminal_punctuation": "drop sentences that do not end with 。!? (headings, labels, fragments)",
    "japanese_share": "drop sentences with too small a share of Japanese characters",
    "sentence_dedup": "drop exact duplicate sentences (first occurrence kept)",
    "document_dedup": "drop exact duplicate documents (first occurrence kept)",
    "near_dedup": "drop near-duplicate documents (MinHash LSH, with --near-dup)",
}
"""Every rule the report counts, with what its count means. Dedup rules run in the main
process (`jaroberta.corpus.dedup`); the others here, in workers."""


def document_hash(sentences: Iterable[str]) -> int:
    """64-bit document digest: of cleaned sentences for document dedup, of raw lines for the split."""
    # surrogatepass: raw lines may still hold a lone surrogate (JSON "\ud800") that cleaning removes later
    data = "\n".join(sentences).encode("utf-8", "surrogatepass")
    digest = hashlib.blake2b(data, digest_size=8, person=b"jaroberta-doc").digest()
    return int.from_bytes(digest, "little")


@dataclass
class CleanedChunk:
    """What the cleaning rules made of a batch of raw documents."""

    documents: list[list[str]] = field(default_factory=list)
    """Documents (lists of sentences) with at least one sentence left."""
    sentence_hashes: bytes = b""
    """8-byte digests of every sentence of `documents`, concatenated in order."""
    document_hashes: list[int] = field(default_factory=list)
    """64-bit digest of each document (of its cleaned sentences: drives document dedup)."""
    source_hashes: list[int] = field(default_factory=list)
    """64-bit digest of each document's raw lines as read, before any cleaning rule: drives the
    train/dev split, so a change to the cleaning rules moves no document between splits."""
    counts: Counter = field(default_factory=Counter)
    """Per-rule counters ('rule:what' -> n)."""
    rejected: list[tuple[str, str]] = field(default_factory=list)
    """(rule, text) of what was dropped, where keep_rejected is on."""


class Cleaner:
    """Applies the line rules, sentence splitting and sentence rules to raw documents.

    Holds only its config, so it pickles to worker processes as is.
    """

    def __init__(self, config: CleanConfig):
        self.config = config
        self.line_rules = [(name, rule) for name, rule in LINE_RULES.items() if config.enabled(name)]
        self.join_lines = config.join_lines if config.enabled("join_lines") else "never"
        self.split = config.enabled("sentence_split")
        self.check_length = config.enabled("length")
        self.check_terminal = config.enabled("terminal_punctuation") and config.require_terminal
        self.check_japanese = config.enabled("japanese_share") and config.min_japanese > 0

    def clean(self, raw_documents: Iterable[list[str]]) -> CleanedChunk:
        out = CleanedChunk()
        counts = out.counts
        for raw in raw_documents:
            counts["input:documents"] += 1
            counts["input:lines"] += len(raw)
            sentences = self._sentences("\n".join(raw), out)
            if not sentences:
                counts["output:empty_documents"] += 1
                continue
            out.documents.append(sentences)
            out.document_hashes.append(document_hash(sentences))
            out.source_hashes.append(document_hash(raw))
        blake2b = hashlib.blake2b
        out.sentence_hashes = b"".join([blake2b(s.encode("utf-8"), digest_size=8).digest()
                                        for doc in out.documents for s in doc])
        return out

    def _sentences(self, text: str, out: CleanedChunk) -> list[str]:
        """One document's text (lines joined by newlines) -> its kept sentences."""
        counts = out.counts
        for name, rule in self.line_rules:
            cleaned = rule(text)
            if cleaned is not text and cleaned != text:
                counts[f"{name}:changed_lines"] += sum(a != b for a, b in zip(text.split("\n"), cleaned.split("\n")))
            text = cleaned
        if not self.config.enabled("control_chars") and _SURROGATE_RE.search(text):
            text = _SURROGATE_RE.sub("", text)  # even with the rule off: the corpus is written as UTF-8
        if self.join_lines != "never" and _OPEN_LINE_END_RE.search(text) is not None:
            text, joined = join_wrapped_lines(text, self.join_lines, _ENDS_SENTENCE_RE)
            if joined:
                counts["join_lines:joined_lines"] += joined
        if self.split:
            pieces = split_sentences(text)
            counts["sentence_split:sentences"] += len(pieces)
        else:
            pieces = [line.strip() for line in text.split("\n") if line.strip()]
        kept = []
        for sentence in pieces:  # the hot loop: cheapest checks first, no call where none is needed
            if self.check_length and not self.config.min_chars <= len(sentence) <= self.config.max_chars:
                reason = "length"
            elif self.check_terminal and sentence[-1] not in _TERMINATORS and _ENDS_SENTENCE_RE.search(sentence) is None:
                reason = "terminal_punctuation"
            elif (self.check_japanese and _FOREIGN_RUN_RE.search(sentence) is not None
                  and japanese_share(sentence) < self.config.min_japanese):
                reason = "japanese_share"
            else:
                kept.append(sentence)
                continue
            counts[f"{reason}:dropped_sentences"] += 1
            counts[f"{reason}:dropped_characters"] += len(sentence)
            if self.config.keep_rejected:
                out.rejected.append((reason, sentence))
        return kept
