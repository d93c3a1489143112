"""What `jaroberta tokenizer encode` and `jaroberta tokenizer info` print."""

from __future__ import annotations

import json
from pathlib import Path

from jaroberta.text.base import JaTokenizer
from jaroberta.text.extend import ExtendReport
from jaroberta.text.training import TRAIN_REPORT


def print_encodings(tokenizer: JaTokenizer, texts: list[str], as_json: bool = False) -> None:
    """Encode texts and print tokens, ids and character offsets (or JSON lines)."""
    for text, enc in zip(texts, tokenizer.encode_batch(texts)):
        if as_json:
            record = {"text": text, "ids": enc.ids, "tokens": enc.tokens, "offsets": enc.offsets,
                      "word_ids": enc.word_ids, "unknown": enc.unknown}
            print(json.dumps(record, ensure_ascii=False))
            continue
        print(text)
        print("  tokens :", " ".join(enc.tokens))
        print("  ids    :", " ".join(map(str, enc.ids)))
        print("  offsets:", " ".join(f"{a}-{b}" for a, b in enc.offsets))
        if enc.unknown:
            print(f"  unknown pieces: {enc.unknown}")


def describe(tokenizer) -> dict:
    """Family, vocabulary, specials, normalization, dictionaries and fingerprint, as a dict."""
    specials = {role: f"{tokenizer.id_to_token(idx)}={idx}" for role, idx in sorted(tokenizer.special_ids.items(), key=lambda kv: kv[1])}
    dictionaries = [f"{d.name} (sha256 {d.sha256[:12]})" for d in getattr(tokenizer, "dictionaries", [])]
    return {
        "tokenizer_kind": tokenizer.tokenizer_kind,
        "vocab_size": tokenizer.vocab_size,
        "special tokens": ", ".join(f"{role} {spec}" for role, spec in specials.items()),
        "normalization": tokenizer.normalization.describe(),
        "system dictionary": getattr(tokenizer, "system_dict", None) or "-",
        "user dictionaries": ", ".join(dictionaries) or "-",
        "fingerprint": tokenizer.fingerprint,
        "extends": _lineage(getattr(tokenizer, "extends", None)),
    }


def _lineage(extends) -> str:
    """The base an extended tokenizer was made from, in words ('-' for any other tokenizer)."""
    if extends is None:
        return "-"
    base = f"{extends.base} " if extends.base else ""
    return (f"{base}(fingerprint {extends.base_fingerprint[:12]}): its {extends.base_vocab_size:,} entries "
            f"+ {extends.added:,} domain entries")


def training_notes(tokenizer_dir: Path) -> list[str]:
    """The notes `tokenizer train` recorded (a vocabulary of another size than asked), if any."""
    path = Path(tokenizer_dir) / TRAIN_REPORT
    try:
        notes = json.loads(path.read_text(encoding="utf-8")).get("notes", [])
    except (OSError, ValueError, AttributeError):  # absent (not trained here) or unreadable: nothing to add
        return []
    return [str(note) for note in notes] if isinstance(notes, list) else []


def extension_report(tokenizer_dir: Path) -> ExtendReport | None:
    """What `tokenizer extend` recorded (entries added, pieces per character before and after), if anything."""
    return ExtendReport.load(tokenizer_dir)
