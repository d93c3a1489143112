"""MeCab words through fugashi: a system dictionary plus user dictionaries.

`MecabWordSplitter` runs the same MeCab as Hugging Face's `BertJapaneseTokenizer`
(`fugashi.GenericTagger` with `-d <dicdir> -r <dicdir>/mecabrc -u <user dics>`), so both
see the same words. Three views of one parse:

- `surfaces(text)`: MeCab's surfaces, as `BertJapaneseTokenizer.word_tokenizer` returns them;
- `split(text)`: those surfaces split on whitespace, whitespace-only ones dropped
  (what BertJapaneseTokenizer feeds WordPiece): the fast path for ids;
- `words(text)`: (surface, start, end) with character offsets into `text`;
- `split_with_offsets(text)`: `split` with offsets (what the tokenizer's offsets come from).

Offsets. MeCab skips the characters its dictionary classes as SPACE (for IPAdic and
UniDic: U+0020, tab, LF, VT and U+00D0, a typo of the dictionaries for CR) *before* each
word and never reports them; each node carries them as `white_space`, so walking
`white_space + surface` node by node covers the input exactly. U+3000 and CR are not
SPACE: they come back as words of their own (and `split` drops them, as
BertJapaneseTokenizer does).

NUL. MeCab reads C strings: text after a U+0000 would vanish silently (it does in
BertJapaneseTokenizer). We replace U+0000 by a space before MeCab, one character for one,
so nothing is lost and offsets stay exact.

Pickling. A fugashi tagger wraps a C pointer and cannot be pickled: the splitter pickles
as its `MecabConfig` and builds a new tagger in the worker process (`__reduce__`).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from jaroberta.deps import require
from jaroberta.errors import JarobertaError

SYSTEM_DICTS = ("ipadic", "unidic-lite")
"""System dictionaries jaroberta can use (both pip-installable, no root)."""

_DICDIR_MODULES = {"ipadic": "ipadic", "unidic-lite": "unidic_lite"}
"""System dictionary name -> the Python package whose `DICDIR` holds it."""


def system_dicdir(system_dict: str) -> Path:
    """The folder of a pip-installed system dictionary ('ipadic' or 'unidic-lite')."""
    if system_dict not in _DICDIR_MODULES:
        raise JarobertaError(f"unknown MeCab system dictionary {system_dict!r}; choose one of {SYSTEM_DICTS}")
    module = require(_DICDIR_MODULES[system_dict], f"MeCab with the {system_dict} dictionary")
    return Path(module.DICDIR)


@dataclass(frozen=True)
class MecabConfig:
    """Which MeCab: a system dictionary plus zero or more compiled user dictionaries."""

    system_dict: str = "ipadic"
    """'ipadic' (JMedRoBERTa's) or 'unidic-lite'."""
    user_dicts: tuple[str, ...] = ()
    """Paths of compiled user dictionaries (.dic), in MeCab's priority order."""

    def __post_init__(self) -> None:
        if self.system_dict not in SYSTEM_DICTS:
            raise JarobertaError(f"unknown MeCab system dictionary {self.system_dict!r}; choose one of {SYSTEM_DICTS}")
        object.__setattr__(self, "user_dicts", tuple(str(p) for p in self.user_dicts))
        for path in self.user_dicts:
            if "," in path:
                # MeCab splits its -u value on commas: such a path cannot be passed.
                raise JarobertaError(f"user dictionary path {path!r} contains a comma, which MeCab cannot read; rename or move it")

    def tagger_args(self) -> str:
        """MeCab arguments, as BertJapaneseTokenizer builds them for the same settings."""
        dicdir = system_dicdir(self.system_dict)
        args = f"-d {shlex.quote(str(dicdir))} -r {shlex.quote(str(dicdir / 'mecabrc'))}"
        if self.user_dicts:
            args += " -u " + shlex.quote(",".join(self.user_dicts))
        # Wakati output is only used by `split`; node parsing ignores the output format.
        return args + " -Owakati"


class MecabWordSplitter:
    """MeCab word segmentation with character offsets; pickles by rebuilding its tagger."""

    def __init__(self, config: MecabConfig = MecabConfig()):
        self.config = config
        self._tagger = _build_tagger(config)

    def __reduce__(self):
        # The fugashi tagger is a C object: workers rebuild it from the config.
        return (self.__class__, (self.config,))

    def surfaces(self, text: str) -> list[str]:
        """MeCab's surfaces of `text` (whitespace-only ones such as U+3000 included)."""
        return [node.surface for node in self._tagger(_safe(text))]

    def split(self, text: str) -> list[str]:
        """Surfaces split on whitespace, whitespace-only ones dropped: BertJapaneseTokenizer's words.

        One C call that returns the words joined by spaces: joining by a space and splitting on
        whitespace gives exactly `[w for s in surfaces for w in s.split()]`.
        """
        return self._tagger.parse(_safe(text)).split()

    def split_with_offsets(self, text: str) -> list[tuple[str, int, int]]:
        """`split(text)` with (word, start, end) character offsets into `text`.

        Exact by construction: the words are substrings of `text` in order, and between two
        of them lie only characters MeCab skipped or whitespace, which cannot start a word,
        so `str.find` from the end of the previous word lands on the word itself.
        """
        out: list[tuple[str, int, int]] = []
        position = 0
        find = text.find
        for word in self.split(text):
            start = find(word, position)
            position = start + len(word)
            out.append((word, start, position))
        return out

    def words(self, text: str) -> list[tuple[str, int, int]]:
        """(surface, start, end) of every MeCab word, offsets in characters into `text`."""
        out: list[tuple[str, int, int]] = []
        position = 0
        for node in self._tagger(_safe(text)):
            position += len(node.white_space)  # the SPACE characters MeCab skipped
            surface = node.surface
            out.append((surface, position, position + len(surface)))
            position += len(surface)
        return out


def _safe(text: str) -> str:
    return text.replace("\x00", " ") if "\x00" in text else text


def _build_tagger(config: MecabConfig):
    fugashi = require("fugashi", "MeCab word segmentation")
    for path in config.user_dicts:
        check_user_dictionary(Path(path), config.system_dict)
    try:
        return fugashi.GenericTagger(config.tagger_args())
    except RuntimeError as exc:
        raise JarobertaError(
            f"MeCab could not start with system dictionary {config.system_dict} and user dictionaries "
            f"{list(config.user_dicts) or 'none'}: {exc}"
        ) from exc


def check_user_dictionary(path: Path, system_dict: str) -> None:
    """Fail with a clear message unless `path` is a user dictionary compiled for `system_dict`.

    MeCab's own messages for these cases are a C++ assertion or "incompatible dictionary".
    """
    from jaroberta.text.userdict import read_dictionary_header

    if not path.is_file():
        raise JarobertaError(f"MeCab user dictionary {path} does not exist; build one with `jaroberta dict build TERMS {path.name}`")
    header = read_dictionary_header(path)
    system = read_dictionary_header(system_dicdir(system_dict) / "sys.dic")
    if header.kind != "user":
        raise JarobertaError(f"{path} is a MeCab {header.kind} dictionary, not a user dictionary; build one with `jaroberta dict build`")
    if (header.left_size, header.right_size) != (system.left_size, system.right_size):
        raise JarobertaError(
            f"user dictionary {path} was compiled for another system dictionary than {system_dict} "
            f"(context ids {header.left_size}x{header.right_size}, {system_dict} has {system.left_size}x{system.right_size}); "
            f"rebuild it with `jaroberta dict build --system-dict {system_dict}`"
        )
