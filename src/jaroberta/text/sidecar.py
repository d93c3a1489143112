"""The jaroberta sidecar: what a tokenizer folder needs beyond the Hugging Face files.

A MeCab pre-tokenizer cannot be serialized into Hugging Face files, and neither can our
normalization, so every tokenizer folder carries `jaroberta_tokenizer.json` with the
family, the normalization, the system dictionary, the user dictionaries *by file name and
content hash* (never by absolute path: folders move between machines), and the
fingerprint that was current when it was saved.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from jaroberta.errors import JarobertaError
from jaroberta.text.base import SIDECAR
from jaroberta.text.normalize import Normalization

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Extension:
    """What an extended tokenizer records about its base: enough to recognise the base's
    vocabulary as a prefix of its own by fingerprint, not by size alone."""

    base_fingerprint: str
    """The base tokenizer's fingerprint."""
    base_vocab_size: int
    """Entries of the base vocabulary: ids below this are the base's, with the base's pieces."""
    added: int
    """Entries appended after the base's."""
    base: str = ""
    """Where the base came from (folder or hub id), for people; never used to find it."""

    def to_dict(self) -> dict:
        return {"base_fingerprint": self.base_fingerprint, "base_vocab_size": self.base_vocab_size,
                "added": self.added, "base": self.base}

    @classmethod
    def from_dict(cls, data: dict) -> "Extension":
        return cls(str(data["base_fingerprint"]), int(data["base_vocab_size"]), int(data["added"]), str(data.get("base", "")))


@dataclass
class Sidecar:
    """Contents of `jaroberta_tokenizer.json`."""

    tokenizer_kind: str
    """'sentencepiece' or 'mecab-wordpiece'."""
    normalization: Normalization
    """Applied by the tokenizer itself before segmentation."""
    mask_token: str = "[MASK]"
    """The literal that users type in text for a mask (split out before segmentation)."""
    system_dict: str | None = None
    """MeCab system dictionary ('ipadic' or 'unidic-lite'); None for SentencePiece."""
    dictionaries: list[dict] = field(default_factory=list)
    """User dictionaries as {'name': file name, 'sha256': content hash}, in MeCab order."""
    fingerprint: str = ""
    """The tokenizer's fingerprint when saved (a changed one means different ids)."""
    word_boundaries: str | None = None
    """SentencePiece only: 'mecab' when no piece may cross a MeCab word boundary; None (and not written) otherwise."""
    extends: "Extension | None" = None
    """The base tokenizer this one extends (`jaroberta.text.extend`): its ids are a prefix of ours."""

    def save(self, directory: Path) -> Path:
        path = Path(directory) / SIDECAR
        data = {
            "format_version": FORMAT_VERSION,
            "tokenizer_kind": self.tokenizer_kind,
            "normalization": self.normalization.to_dict(),
            "mask_token": self.mask_token,
            "system_dict": self.system_dict,
            "dictionaries": self.dictionaries,
            "fingerprint": self.fingerprint,
        }
        if self.word_boundaries is not None:  # absent otherwise: older folders stay byte-identical
            data["word_boundaries"] = self.word_boundaries
        if self.extends is not None:
            data["extends"] = self.extends.to_dict()
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: Path) -> "Sidecar":
        path = Path(directory) / SIDECAR
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                tokenizer_kind=data["tokenizer_kind"] if "tokenizer_kind" in data else data["family"],  # older files
                normalization=Normalization.from_dict(data.get("normalization", {})),
                mask_token=data.get("mask_token", "[MASK]"),
                system_dict=data.get("system_dict"),
                dictionaries=list(data.get("dictionaries", [])),
                fingerprint=data.get("fingerprint", ""),
                word_boundaries=data.get("word_boundaries"),
                extends=Extension.from_dict(data["extends"]) if data.get("extends") else None,
            )
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise JarobertaError(f"cannot read the tokenizer sidecar {path}: {exc}; re-save the tokenizer with jaroberta") from exc


def fingerprint(model_bytes: bytes, normalization: Normalization, dictionary_hashes: list[str] = (), extra: str = "") -> str:
    """sha256 over everything that changes ids: model/vocab bytes, normalization, dictionaries."""
    digest = hashlib.sha256()
    digest.update(model_bytes)
    digest.update(json.dumps(normalization.to_dict(), sort_keys=True).encode())
    for sha in dictionary_hashes:
        digest.update(sha.encode())
    digest.update(extra.encode())
    return digest.hexdigest()
