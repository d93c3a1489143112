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

Speed, and threads. fugashi holds Python's GIL while MeCab parses, so two threads parse
no faster than one, and per text it pays a Python round trip. So jaroberta calls MeCab's
C API directly, through ctypes, on the very library fugashi ships and loads (its wheels
bundle libmecab); ctypes releases the GIL during a call:
- `split` calls `mecab_sparse_tostr2` with one tagger per thread (a tagger is not
  thread-safe);
- `split_batch` hands a whole batch to `mecab_do`, MeCab's own command-line entry point,
  which parses a file line by line, each line as the sentence it is (the same BOS/EOS
  context as one `parse` call), and writes wakati lines. One call per batch: the GIL is
  released for all of it, so threads parse batches truly in parallel, and the per-text
  Python cost is gone. Texts holding a line break, or too long for MeCab's line buffer,
  are parsed one by one instead (a line break would cut them in two).
Same library, same dictionary, same arguments: the same words as fugashi. This is checked
on a probe sentence when a splitter starts; where the library cannot be found (fugashi
built against a system MeCab, say), everything uses fugashi and threads do not help
(`native_parallel()` says which).

Pickling. A tagger wraps a C pointer and cannot be pickled: the splitter pickles as its
`MecabConfig` and builds new taggers in the worker process (`__reduce__`).
"""

from __future__ import annotations

import ctypes
import logging
import os
import shlex
import struct
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jaroberta.deps import require
from jaroberta.errors import JarobertaError

log = logging.getLogger(__name__)

SYSTEM_DICTS = {"ipadic": "ipadic", "unidic-lite": "unidic_lite"}
"""System dictionaries jaroberta can use (both pip-installable, no root) -> the Python package
whose `DICDIR` holds it, which is also BertJapaneseTokenizer's `mecab_dic` name for it."""


def system_dicdir(system_dict: str) -> Path:
    """The folder of a pip-installed system dictionary ('ipadic' or 'unidic-lite')."""
    if system_dict not in SYSTEM_DICTS:
        raise JarobertaError(f"unknown MeCab system dictionary {system_dict!r}; choose one of {tuple(SYSTEM_DICTS)}")
    module = require(SYSTEM_DICTS[system_dict], f"MeCab with the {system_dict} dictionary")
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
            raise JarobertaError(f"unknown MeCab system dictionary {self.system_dict!r}; choose one of {tuple(SYSTEM_DICTS)}")
        object.__setattr__(self, "user_dicts", tuple(str(p) for p in self.user_dicts))
        for path in self.user_dicts:
            if "," in path:
                # MeCab splits its -u value on commas: such a path cannot be passed.
                raise JarobertaError(f"user dictionary path {path!r} contains a comma, which MeCab cannot read; rename or move it")

    def tagger_argv(self) -> list[str]:
        """MeCab arguments, as BertJapaneseTokenizer builds them for the same settings.

        Wakati output is only used by `split`; node parsing ignores the output format.
        """
        dicdir = system_dicdir(self.system_dict)
        argv = ["-d", str(dicdir), "-r", str(dicdir / "mecabrc")]
        if self.user_dicts:
            argv += ["-u", ",".join(self.user_dicts)]
        return argv + ["-Owakati"]

    def tagger_args(self) -> str:
        """`tagger_argv` as one string, quoted for fugashi (which splits it like a shell)."""
        return " ".join(shlex.quote(arg) for arg in self.tagger_argv())


class MecabWordSplitter:
    """MeCab word segmentation with character offsets; pickles by rebuilding its tagger."""

    def __init__(self, config: MecabConfig = MecabConfig()):
        self.config = config
        self._tagger = _build_tagger(config)
        self._library = _agrees_with_fugashi(_native_library(), config, self._tagger)
        self._local = threading.local()  # this thread's native tagger

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
        return self._wakati()(_safe(text)).split()

    def split_batch(self, texts: Sequence[str]) -> list[list[str]]:
        """`[self.split(t) for t in texts]`, with MeCab run once over the batch, without the GIL."""
        return [line.split() for line in self.wakati_batch(texts)]

    def wakati_batch(self, texts: Sequence[str]) -> list[str]:
        """MeCab's wakati line of each text (words joined by spaces), parsed as one batch.

        Texts with a line break, or too long for MeCab's line buffer, are parsed one by one; so
        is everything where there is no native library, or if MeCab refuses the batch (never
        losing a text)."""
        parse = self._wakati()
        if self._library is None or len(texts) < 2:
            return [parse(_safe(text)) for text in texts]
        if "\n".join(texts).count("\n") == len(texts) - 1 and max(map(len, texts)) < _MAX_BATCH_LINE_CHARS:
            batch = range(len(texts))  # the usual case: every text
        else:
            batch = [i for i, text in enumerate(texts) if "\n" not in text and len(text) < _MAX_BATCH_LINE_CHARS]
        batched = texts if len(batch) == len(texts) else [texts[i] for i in batch]
        parsed = _parse_file(self._library, self.config.tagger_argv(), batched) if batch else []
        if parsed is None:
            parsed = [parse(_safe(texts[i])) for i in batch]
        if len(batch) == len(texts):
            return parsed
        lines = [parse(_safe(text)) if "\n" in text or len(text) >= _MAX_BATCH_LINE_CHARS else "" for text in texts]
        for i, line in zip(batch, parsed):
            lines[i] = line
        return lines

    def native_parallel(self) -> bool:
        """Whether `split` releases the GIL, so that threads parse in parallel."""
        return self._library is not None

    def _wakati(self):
        """This thread's wakati parse: the native tagger, or fugashi's where there is none."""
        parse = getattr(self._local, "parse", None)
        if parse is None:
            if self._library is None:
                parse = self._tagger.parse  # holds the GIL for the whole call: safe to share
            else:
                parse = _NativeTagger(self._library, self.config.tagger_argv()).parse
            self._local.parse = parse
        return parse

    def split_with_offsets(self, text: str) -> list[tuple[str, int, int]]:
        """`split(text)` with (word, start, end) character offsets into `text`.

        Exact by construction: the words are substrings of `text` in order, and between two
        of them lie only characters MeCab skipped or whitespace, which cannot start a word,
        so `str.find` from the end of the previous word lands on the word itself.
        """
        return with_offsets(text, self.split(text))

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


class _NativeTagger:
    """One MeCab tagger (`mecab_t`) driven through ctypes: `parse` runs without the GIL."""

    def __init__(self, library: ctypes.CDLL, argv: list[str]):
        args = [b"mecab"] + [arg.encode() for arg in argv]
        self._library = library
        self._handle = library.mecab_new(len(args), (ctypes.c_char_p * len(args))(*args))
        if not self._handle:
            error = library.mecab_strerror(None) or b"unknown error"
            raise JarobertaError(f"MeCab could not start with {' '.join(argv)}: {error.decode(errors='replace')}")
        self._tostr = library.mecab_sparse_tostr2

    def parse(self, text: str) -> str:
        data = text.encode("utf-8")
        out = self._tostr(self._handle, data, len(data))
        if out is None:
            error = self._library.mecab_strerror(self._handle) or b"unknown error"
            raise JarobertaError(f"MeCab failed on a text of {len(text)} characters: {error.decode(errors='replace')}")
        return out.decode("utf-8")

    def __del__(self) -> None:
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            self._library.mecab_destroy(handle)


_MAX_BATCH_LINE_CHARS = 8192 * 640 // 4
"""Texts this long or longer are parsed one by one: in UTF-8 they could overflow MeCab's
largest line buffer (MAX_INPUT_BUFFER_SIZE, 8192 * 640 bytes), and mecab_do would split them."""


@lru_cache(maxsize=1)
def _scratch_dir() -> str | None:
    """Memory-backed /dev/shm where there is one (MeCab writes each line with its own system
    call, cheaper there), else the default temporary folder."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None


def _parse_file(library: ctypes.CDLL, argv: list[str], texts: list[str]) -> list[str] | None:
    """Wakati lines of `texts` (none holds a line break) from one `mecab_do` call, or None if it fails."""
    longest = max(map(len, texts)) * 4 + 2  # UTF-8 bytes, an upper bound, and the newline
    with tempfile.TemporaryDirectory(prefix="jaroberta-mecab-", dir=_scratch_dir()) as folder:
        source, target = Path(folder, "in.txt"), Path(folder, "out.txt")
        source.write_bytes(_safe("\n".join(texts)).encode("utf-8") + b"\n")
        args = [b"mecab", *(arg.encode() for arg in argv), b"-b", str(max(8192, longest)).encode(),
                b"-o", str(target).encode(), str(source).encode()]
        status = library.mecab_do(len(args), (ctypes.c_char_p * len(args))(*args))
        lines = target.read_bytes().decode("utf-8").split("\n") if status == 0 and target.exists() else []
    if len(lines) != len(texts) + 1 or lines[-1]:
        log.warning("MeCab's batch parse failed (status %s, %d lines for %d texts); parsing one by one",
                    status, len(lines) - 1, len(texts))
        return None
    lines.pop()
    return lines


_PROBE = "東京都で１９９８年に生まれた猫は、ｶﾀｶﾅ\u3000と  English を話す。"
"""A sentence that exercises kanji, digits, half-width katakana, U+3000 and spaces."""


@lru_cache(maxsize=1)
def _native_library() -> ctypes.CDLL | None:
    """The libmecab that fugashi loaded, with the C API declared, or None where not found."""
    fugashi = require("fugashi", "MeCab word segmentation")
    package = Path(fugashi.__file__).parent
    # Where wheels put it: auditwheel (Linux), delocate (macOS), delvewheel (Windows).
    candidates = [*sorted(package.parent.glob("fugashi.libs/libmecab*")), *sorted(package.glob(".dylibs/libmecab*")),
                  *sorted(package.parent.glob("fugashi.libs/*mecab*.dll")), *sorted(package.glob("*mecab*.dll"))]
    for candidate in candidates:
        try:
            library = ctypes.CDLL(str(candidate))
            library.mecab_new.restype = ctypes.c_void_p
            library.mecab_new.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
            library.mecab_sparse_tostr2.restype = ctypes.c_char_p
            library.mecab_sparse_tostr2.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
            library.mecab_strerror.restype = ctypes.c_char_p
            library.mecab_strerror.argtypes = [ctypes.c_void_p]
            library.mecab_destroy.restype = None
            library.mecab_destroy.argtypes = [ctypes.c_void_p]
            library.mecab_do.restype = ctypes.c_int
            library.mecab_do.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
            return library
        except (OSError, AttributeError):
            continue
    return None


_agreement: dict[MecabConfig, bool] = {}
"""Per config: whether native parsing splits the probe exactly as fugashi does (checked once)."""


def _agrees_with_fugashi(library: ctypes.CDLL | None, config: MecabConfig, tagger) -> ctypes.CDLL | None:
    """`library` if native parsing with `config` (one text, and a batch) splits the probe
    sentence exactly as fugashi's `tagger` does, else None: the splitter stays on fugashi."""
    if library is None:
        return None
    if config not in _agreement:
        expected = tagger.parse(_PROBE).split()
        try:
            native = _NativeTagger(library, config.tagger_argv()).parse(_PROBE).split()
            batch = _parse_file(library, config.tagger_argv(), [_PROBE, "", _PROBE])
        except JarobertaError:
            native, batch = None, None
        _agreement[config] = native == expected and batch is not None and [line.split() for line in batch] == [expected, [], expected]
        if not _agreement[config]:
            log.warning("MeCab through ctypes does not split as fugashi does: using fugashi (slower, no parallel threads)")
    return library if _agreement[config] else None


def with_offsets(text: str, words: list[str]) -> list[tuple[str, int, int]]:
    """(word, start, end) of each of `text`'s MeCab words (from `split`), in characters:
    see `MecabWordSplitter.split_with_offsets`."""
    out: list[tuple[str, int, int]] = []
    position = 0
    find = text.find
    for word in words:
        start = find(word, position)
        position = start + len(word)
        out.append((word, start, position))
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


@dataclass(frozen=True)
class DictionaryHeader:
    """The fixed header of a compiled MeCab dictionary (sys.dic, unk.dic or a user .dic)."""

    kind: str
    """'system', 'user' or 'unknown-word'."""
    entries: int
    """Number of entries."""
    left_size: int
    """Number of left context ids: equal to the system dictionary's for a compatible user dictionary."""
    right_size: int
    """Number of right context ids."""
    charset: str
    """Character set the dictionary was compiled to (jaroberta writes utf-8)."""


_DICTIONARY_MAGIC = 0xEF718F77
_DICTIONARY_KINDS = {0: "system", 1: "user", 2: "unknown-word"}


def read_dictionary_header(path: Path) -> DictionaryHeader:
    """Read and check the header of a compiled MeCab dictionary (see MeCab's dictionary.cpp)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(72)
        size = path.stat().st_size
    except OSError as exc:
        raise JarobertaError(f"cannot read MeCab dictionary {path}: {exc}") from exc
    if len(raw) < 72:
        raise JarobertaError(f"{path} is not a compiled MeCab dictionary (too short); build one with `jaroberta dict build`")
    magic, version, kind, entries, left, right, _, _, _, _, charset = struct.unpack("<10I32s", raw)
    if magic ^ _DICTIONARY_MAGIC != size or kind not in _DICTIONARY_KINDS:
        raise JarobertaError(f"{path} is not a compiled MeCab dictionary (or is truncated); build one with `jaroberta dict build`")
    return DictionaryHeader(_DICTIONARY_KINDS[kind], entries, left, right, charset.rstrip(b"\0").decode("ascii", "replace"))


def check_user_dictionary(path: Path, system_dict: str) -> None:
    """Fail with a clear message unless `path` is a user dictionary compiled for `system_dict`.

    MeCab's own messages for these cases are a C++ assertion or "incompatible dictionary".
    """
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
