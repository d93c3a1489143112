"""Joining hard-wrapped lines back into paragraphs before sentence splitting.

Manuals, man pages, text pulled out of PDFs and some e-texts break a paragraph into lines
of a fixed width, in the middle of a sentence: "設定ファイルの内容を標準" / "入力から読み込みます。".
Split line by line, the head is dropped as unterminated and the tail kept as if it were a
sentence. Joining first gives the sentence whole.

Modes: 'never' (each line is its own unit, as CC-100's one-paragraph-per-line text),
'always' (every line that does not end a sentence continues on the next), and 'auto': a
line is joined to the next when it does not end a sentence, fills the document's wrap
width (the width of its longest line, at least `MIN_WRAP_WIDTH` columns) and the next line
does not start a list item or an indented paragraph. Short unterminated lines (headings,
labels, menu entries) are left alone. Japanese text is joined without a space, Latin words
with one.
"""

from __future__ import annotations

import re
import unicodedata

JOIN_MODES = ("auto", "always", "never")

MIN_WRAP_WIDTH = 40
"""Columns (a Japanese character counts two): narrower documents are not taken for wrapped text."""
FULL_LINE = 0.75
"""A line at least this share of the wrap width is full (a wrapped line, not a paragraph's end)."""

# A list item, numbered step or note starts a unit of its own.
_ITEM_START = re.compile(r"\s*(?:[・•●○■□◆◇▪▶※*+\-]|[①-⑳]|\(?[0-9０-９]{1,3}[.)）]|[（(][0-9０-９一二三四五六七八九十]+[)）])")
_INTRODUCES = (":", "：")


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
        if width < MIN_WRAP_WIDTH:
            return text, 0
        joins = [join and _fills(lines[i], width) and _plain_continuation(lines[i], lines[i + 1])
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
    stripped = line.rstrip()
    return bool(stripped) and bool(following.strip()) and ends_sentence.search(stripped) is None


def _fills(line: str, width: int) -> bool:
    return display_width(line.strip()) >= FULL_LINE * width


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
