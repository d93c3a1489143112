"""Text out of documentation formats: HTML, LibreOffice help XML (.xhp), roff man pages.

Each extractor returns documents, each a list of paragraphs (one per block element or roff
paragraph), ready for the CC-100 writer. Only the standard library: html.parser and
xml.etree. Navigation, scripts, code listings and hidden platform variants are left out:
they are not prose, and repeated on every page.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

_SKIP_TAGS = {"script", "style", "head", "header", "nav", "aside", "footer", "noscript", "button",
              "select", "form", "pre", "svg", "math"}
_SKIP_CLASSES = {"navheader", "navfooter", "toc", "sphinxsidebar", "related", "debug", "footer", "headerlink",
                 "breadcrumbs", "screen", "programlisting", "synopsis"}
_BLOCK_TAGS = {"p", "div", "li", "dt", "dd", "td", "th", "tr", "br", "caption", "blockquote", "section", "table",
               "ul", "ol", "hr", "figcaption", "article", "main", "body", "dl", "h1", "h2", "h3", "h4", "h5", "h6",
               "title", "para", "paragraph"}
_DOCUMENT_TAGS = {"h1", "h2"}  # a new document starts at a top-level heading
_VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_WS_RE = re.compile(r"\s+")
# A line break between two CJK characters is not a space (wrapped Japanese source text).
_CJK_GAP_RE = re.compile(r"(?<=[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]) (?=[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef])")


def tidy(text: str) -> str:
    """Collapse whitespace; drop the spaces that line wrapping put between Japanese characters."""
    return _CJK_GAP_RE.sub("", _WS_RE.sub(" ", text)).strip()


class _HTMLText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.documents: list[list[str]] = [[]]
        self._buffer: list[str] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, starts a skipped region)
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        classes = set((attributes.get("class") or "").split())
        # LibreOffice help renders platform variants as hidden spans; keep only the default one
        hidden = "hidden" in attributes and not (attributes.get("id") or "").startswith("default")
        skip = tag in _SKIP_TAGS or bool(classes & _SKIP_CLASSES) or hidden
        if tag in _BLOCK_TAGS:
            self._flush()
        if tag in _DOCUMENT_TAGS and not self._skip and self.documents[-1]:
            self.documents.append([])
        if tag in _VOID_TAGS:
            return
        self._stack.append((tag, skip))
        self._skip += skip

    def handle_endtag(self, tag):
        if tag in _VOID_TAGS or not any(open_tag == tag for open_tag, _ in self._stack):
            return
        while self._stack:  # close unclosed children too (tag soup)
            open_tag, skip = self._stack.pop()
            self._skip -= skip
            if open_tag == tag:
                break
        if tag in _BLOCK_TAGS:
            self._flush()

    def handle_data(self, data):
        if not self._skip:
            self._buffer.append(data)

    def _flush(self) -> None:
        text = tidy("".join(self._buffer))
        self._buffer = []
        if text and not self._skip:
            self.documents[-1].append(text)

    def close(self):
        super().close()
        self._flush()


def html_documents(markup: str) -> list[list[str]]:
    """Paragraphs of an HTML page, one document per h1/h2 section."""
    parser = _HTMLText()
    parser.feed(markup)
    parser.close()
    return [doc for doc in parser.documents if doc]


def xhp_documents(markup: str | bytes) -> list[list[str]]:
    """Paragraphs of a LibreOffice help page (.xhp): titles and paragraphs of the body.

    `<switchinline>` holds per-platform variants; only `<defaultinline>` is kept.
    `<bookmark_value>` (index keywords), `<comment>` and embedded objects are left out.
    """
    root = ET.fromstring(markup)
    body = root.find("body")
    if body is None:
        return []
    paragraphs = []
    for element in body.iter():
        if element.tag in ("paragraph", "title") or (element.tag == "h" or re.fullmatch(r"h[1-6]", element.tag or "")):
            text = tidy("".join(_xhp_text(element)))
            if text:
                paragraphs.append(text)
    return [paragraphs] if paragraphs else []


_XHP_SKIP = {"caseinline", "case", "bookmark_value", "comment", "image", "embed", "embedvar", "ahelp_hidden"}


def _xhp_text(element):
    if element.text:
        yield element.text
    for child in element:
        if child.tag not in _XHP_SKIP:
            yield from _xhp_text(child)
        if child.tail:
            yield child.tail


# -- roff ------------------------------------------------------------------------------------
_ROFF_ESCAPES = [
    (re.compile(r"\\f(?:\[[^\]]*\]|\(..|.)"), ""),  # font changes
    (re.compile(r"\\s[+-]?\d+"), ""),  # size changes
    (re.compile(r"\\\*(?:\[[^\]]*\]|\(..|.)"), ""),  # strings
    (re.compile(r"\\\(em|\\\(en"), "—"),
    (re.compile(r"\\\(lq|\\\(rq"), '"'),
    (re.compile(r"\\\((..)"), ""),  # other named glyphs
    (re.compile(r"\\[&|^%:]"), ""),  # zero-width
    (re.compile(r"\\[-e]"), lambda m: "-" if m.group(0) == "\\-" else "\\"),
    (re.compile(r"\\ "), " "),
]
_ROFF_TEXT_MACROS = {"SH", "SS", "B", "I", "BR", "BI", "IB", "IR", "RB", "RI", "TP", "IP", "Nm", "Nd", "Sh", "Ss"}
_ROFF_BREAK_MACROS = {"PP", "LP", "P", "SH", "SS", "TP", "IP", "HP", "sp", "br", "Pp", "Sh", "Ss", "It", "Bl", "El"}


def _roff_inline(text: str) -> str:
    for pattern, replacement in _ROFF_ESCAPES:
        text = pattern.sub(replacement, text)
    return text


def roff_documents(source: str) -> list[list[str]]:
    """Paragraphs of a man page (man and mdoc macros; one document per page)."""
    paragraphs, current = [], []
    in_literal = False

    def flush():
        text = tidy(" ".join(current))
        if text:
            paragraphs.append(text)
        current.clear()

    for line in source.splitlines():
        if line.startswith(('.\\"', "'\\\"", '\\"')) or line.strip() == ".":
            continue
        if line.startswith((".", "'")):
            macro, _, args = line[1:].strip().partition(" ")
            if macro in ("nf", "EX", "Bd"):
                flush()
                in_literal = True
            elif macro in ("fi", "EE", "Ed"):
                in_literal = False
            if macro in _ROFF_BREAK_MACROS:
                flush()
            if macro in _ROFF_TEXT_MACROS and args and not in_literal:
                current.append(_roff_inline(args.replace('"', "")))
                if macro in ("SH", "SS", "Sh", "Ss"):
                    flush()
            continue
        if not in_literal:
            current.append(_roff_inline(line))
    flush()
    return [paragraphs] if paragraphs else []


EXTRACTORS = {".html": html_documents, ".htm": html_documents, ".xhtml": html_documents, ".xhp": xhp_documents}
"""File suffix -> extractor; man pages (`.1`..`.9`, optionally gzipped) use `roff_documents`."""

_MAN_RE = re.compile(r"/man/(?:[^/]+/)?man\d[^/]*/[^/]+\.\d\w*(?:\.gz)?$")


def extractor_for(member: str):
    """The extractor for a path inside a package, or None where it holds no prose we read."""
    if _MAN_RE.search(member):
        return roff_documents
    for suffix, extractor in EXTRACTORS.items():
        if member.endswith(suffix):
            return extractor
    return None
