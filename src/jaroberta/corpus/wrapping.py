"""Joining hard-wrapped lines back into paragraphs before sentence splitting.

Manuals, man pages, text pulled out of PDFs and some e-texts break a paragraph into lines
of a fixed width, in the middle of a sentence: "設定ファイルの内容を標準" / "入力から読み込みます。".
Split line by line, the head is dropped as unterminated and the tail kept as if it were a
sentence. Joining first gives the sentence whole.

Modes: 'never' (each line is its own unit, as CC-100's one-paragraph-per-line text),
'always' (every line that does not end a sentence continues on the next), and 'auto': a
line is joined to the next when it does not end a sentence, fills the document's wrap
width (the width of its longest line) and the next line does not start a list item or an
indented paragraph. Short unterminated lines (headings, labels, menu entries) are left
alone. Japanese text is joined without a space, Latin words with one.

A wrap width under `MIN_WRAP_WIDTH` columns (narrow PDF columns, e-texts of 15-20
characters a line) is taken for wrapping only where the document shows it: at least
`NARROW_MIN_LINES` lines, most of them full and unterminated, and a sentence that ends on
them (mid-line or at a line end); a short list of labels shows none of that.

In every mode, two things are never glued: a line ending in a Latin full stop and a line
that starts in Japanese (an English sentence, then a Japanese one), and two menu paths
(`メニュー → 表示` then `ファイル → 開く`).
"""

from __future__ import annotations

import re
import unicodedata

JOIN_MODES = ("auto", "always", "never")

MIN_WRAP_WIDTH = 40
"""Columns (a Japanese character counts two): narrower documents are not taken for wrapped text."""
FULL_LINE = 0.75
"""A line at least this share of the wrap width is full (a wrapped line, not a paragraph's end)."""
NARROW_MIN_WIDTH = 16
"""Columns: below this (8 Japanese characters) lines are never taken for wrapped text by 'auto'."""
NARROW_MIN_LINES = 3
"""A narrow document needs at least this many lines to show that it is wrapped."""

# A list item, numbered step or note starts a unit of its own.
_ITEM_START = re.compile(r"\s*(?:[・•●○■□◆◇▪▶※*+\-]|[①-⑳]|\(?[0-9０-９]{1,3}[.)）]|[（(][0-9０-９一二三四五六七八九十]+[)）])")
_INTRODUCES = (":", "：")
# A sentence ending inside a line (wrapped prose ends sentences mid-line; labels do not).
_SENTENCE_END = re.compile(r"[。．!?！？]")
# A menu path separator: ファイル → 開く, File > Open, 表示 ⇒ ツールバー.
_MENU_ARROW = re.compile(r"\s*(?:[→⇒➔➜▶»＞]|->|=>|\s>\s)\s*")
_MENU_LABEL_MAX = 24
"""Characters: a menu path's first label is shorter than this."""


def display_width(line: str) -> int:
    """Columns of `line`: 2 for a wide (CJK) character, 1 for ASCII (from the UTF-8 length, no loop)."""
    return len(line) + (len(line.encode("utf-8", "surrogatepass")) - len(line)) // 2


def join_wrapped_lines(text: str, mode: str, ends_sentence: re.Pattern) -> tuple[str, int]:
    """(text with wrapped lines joined, number of joins); `text` is a document's lines joined by newlines."""
    if mode == "never" or "\n" not in text:
        return text, 0
    lines = text.split("\n")
    joins = [_continues(lines[i], lines[i + 1], ends_sentence) for i in range(len(lines) - 1)]
    if mode == "auto" and any(joins):
        width = max(map(display_width, (line.strip() for line in lines)))
        if width >= MIN_WRAP_WIDTH:
            full = [_fills(line, width) for line in lines]
        elif width >= NARROW_MIN_WIDTH:
            full = _narrow_full_lines(lines, width, joins)
        else:
            return text, 0
        joins = [join and full[i] and _plain_continuation(lines[i], lines[i + 1])
                 for i, join in enumerate(joins)]
    if not any(joins):
        return text, 0
    out, current = [], lines[0]
    for line, join in zip(lines[1:], joins):
        if join:
            current = _glue(current, line)
        else:
            out.append(current)
            current = line
    out.append(current)
    return "\n".join(out), sum(joins)


def _continues(line: str, following: str, ends_sentence: re.Pattern) -> bool:
    stripped, next_stripped = line.rstrip(), following.strip()
    if not stripped or not next_stripped or ends_sentence.search(stripped) is not None:
        return False
    # "... Direct Cursor Mode." then "文書ドキュメント上の...": an English sentence ended there
    if stripped.endswith((".", "．")) and not _narrow(next_stripped[0]):
        return False
    return not _two_menu_paths(stripped, next_stripped)


def _two_menu_paths(line: str, following: str) -> bool:
    """`line` is (or ends in) a menu path and `following` starts another: ...→ オプションを選択 / メニュー表示 → ..."""
    if not _MENU_ARROW.search(line):
        return False
    arrow = _MENU_ARROW.search(following)
    return arrow is not None and 0 < arrow.start() < _MENU_LABEL_MAX and _SENTENCE_END.search(following[: arrow.start()]) is None \
        and "、" not in following[: arrow.start()]


def _fills(line: str, width: int) -> bool:
    return display_width(line.strip()) >= FULL_LINE * width


def _narrow_full_lines(lines: list[str], width: int, joins: list[bool]) -> list[bool]:
    """Which lines of a narrow document (under MIN_WRAP_WIDTH columns) are full wrapped lines;
    all False unless the document looks wrapped.

    Text wrapped by a character count (not by columns) has lines of one length but varying
    width where Latin letters mix in: a line is full by its width or by its length.
    """
    stripped = [line.strip() for line in lines]
    longest = max(map(len, stripped))
    full = [display_width(line) >= FULL_LINE * width or len(line) >= FULL_LINE * longest for line in stripped]
    candidates = sum(join and f for join, f in zip(joins, full))
    nonblank = sum(1 for line in stripped if line)
    # wrapped prose ends sentences on its lines; a list of labels of like length does not
    ends = any(_SENTENCE_END.search(line) for line in stripped)
    if nonblank < NARROW_MIN_LINES or candidates * 2 < nonblank - 1 or not ends:
        return [False] * len(lines)
    return full


def _plain_continuation(line: str, following: str) -> bool:
    """`following` continues `line`'s paragraph: no list item, no new indented paragraph, no colon before it."""
    if line.rstrip().endswith(_INTRODUCES) or _ITEM_START.match(following):
        return False
    # a Japanese paragraph starts indented by one (ideographic) space under flush lines
    return not (following[:1].isspace() and not line[:1].isspace())


def _glue(head: str, tail: str) -> str:
    head, tail = head.rstrip(), tail.lstrip()
    if head and tail and _narrow(head[-1]) and _narrow(tail[0]) and not head.endswith("-"):
        return f"{head} {tail}"  # Latin words keep their space
    return head + tail


def _narrow(char: str) -> bool:
    return unicodedata.east_asian_width(char) not in ("W", "F")
