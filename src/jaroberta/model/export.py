"""`jaroberta export MODEL OUT`: a folder that plain transformers uses correctly.

SentencePiece family (rinna's checkpoint, or ours): `AutoTokenizer` reads a
`tokenizer.json` that gives jaroberta's framed ids (`text/fast_unigram.py`), and the
position table is moved so that transformers' default position ids give the trained
positions: RoBERTa derives them as `padding_idx + 1 + i` (from `input_ids != pad`,
cumulated), rinna was trained with `i`, so row `padding_idx + 1 + i` of the exported table
holds trained row `i`. Nothing then depends on a caller passing `position_ids`, and the
exported conventions say positions follow RoBERTa's default.

MeCab family: `BertJapaneseTokenizer` runs MeCab itself; the user dictionaries are copied
into the folder, but fugashi resolves a relative `-u` path against the working directory,
so `tokenizer_config.json` holds the copies' absolute paths and the card gives the one
line that points them elsewhere. Full-width conversion is not part of that tokenizer.

Everything that stays inexact in plain transformers is returned as `notes` and repeated
in the card.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from huggingface_hub import ModelCard

from jaroberta.core.outputs import claim_output, record_output
from jaroberta.errors import JarobertaError
from jaroberta.model.card import CARD_FILE, write_card
from jaroberta.model.conventions import CONVENTIONS_FILE, InputConventions
from jaroberta.model.loading import LoadedModel, check_model_folder, load
from jaroberta.model.saving import META_FILE, read_meta
from jaroberta.text.fast_unigram import INEXACT, fast_tokenizer_config, write_fast_unigram
from jaroberta.text.hf_layout import CONFIG_FILE, RINNA_SPECIAL_TOKENS

log = logging.getLogger(__name__)

_ROBERTA_TYPES = ("roberta", "xlm-roberta")
PIPELINE_NOTE = (
    "transformers' fill-mask pipeline may offer special tokens ([PAD], <unk>, ...) as candidates; "
    "jaroberta never does (the probabilities of the other tokens are the same)"
)


@dataclass
class ExportResult:
    """What `export_model` wrote."""

    out: Path
    tokenizer_kind: str
    """'sentencepiece' or 'mecab-wordpiece'."""
    conventions: InputConventions
    """The exported folder's conventions."""
    notes: list[str] = field(default_factory=list)
    """What plain transformers does not reproduce exactly, and why."""


def export_model(
    model: str | Path,
    out: str | Path,
    *,
    source: str | None = None,
    revision: str | None = None,
    user_dicts: list[Path] | None = None,
    license: str | None = None,
    overwrite: bool = False,
) -> ExportResult:
    """Write the model folder `model` into `out` for plain transformers users; `source` and
    `revision` (the hub id and ref it came from, where it did) are recorded in the card."""
    folder = check_model_folder(model)
    _check_masked_lm(folder)
    out = claim_output(out, "export", overwrite=overwrite)  # new, empty, or an earlier export
    lm = load(folder, user_dicts=user_dicts)
    if lm.tokenizer.tokenizer_kind == "sentencepiece":
        result = _export_sentencepiece(lm, out)
    else:
        result = _export_mecab(lm, out)
    meta = read_meta(lm.path)
    commit = snapshot_commit(folder)
    meta["exported_from"] = {"model": source or str(model), "revision": revision, "commit": commit, "folder": str(lm.path)}
    (out / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    own = {} if license else _own_license(folder)
    write_card(out, license=license or own.get("license"), license_name=own.get("license_name"),
               license_link=own.get("license_link"), source=source or str(model), source_commit=commit, notes=result.notes)
    record_output(out)
    return result


def snapshot_commit(folder: Path) -> str | None:
    """The commit hash of a hub snapshot folder (`.../snapshots/<commit>/`); None for a local folder."""
    folder = Path(folder)
    if folder.parent.name == "snapshots" and re.fullmatch(r"[0-9a-f]{40}", folder.name):
        return folder.name
    return None


def _own_license(folder: Path) -> dict:
    """license, license_name, license_link of the card of the model exported (rinna's says mit)."""
    card = folder / CARD_FILE
    if not card.is_file():
        return {}
    try:
        data = ModelCard.load(card).data
    except (OSError, ValueError) as exc:  # a card without metadata, or damaged YAML: the corpus decides
        log.warning("warning: cannot read the license of %s (%s)", card, exc)
        return {}
    return {key: getattr(data, key, None) for key in ("license", "license_name", "license_link") if getattr(data, key, None)}


def _check_masked_lm(folder: Path) -> None:
    try:
        architectures = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("architectures") or []
    except (OSError, json.JSONDecodeError) as exc:
        raise JarobertaError(f"cannot read {folder / 'config.json'}: {exc}") from exc
    if architectures and not any(a.endswith("ForMaskedLM") for a in architectures):
        raise JarobertaError(
            f"{folder} holds a {architectures[0]}, not a masked language model: export takes a pretrained model "
            f"(pretrain's model/, rinna's or JMedRoBERTa's checkpoint); a fine-tuned best/ loads in transformers as "
            f"its README.md says"
        )


# -- SentencePiece family -----------------------------------------------------------------
def _with_default_positions(lm: LoadedModel):
    """The model and conventions, positions moved where the family passes them explicitly."""
    if not lm.conventions.explicit_position_ids:
        return lm.model, lm.conventions
    return move_positions(lm.model, lm.conventions, where=str(lm.path))


def _export_sentencepiece(lm: LoadedModel, out: Path) -> ExportResult:
    model, conventions = _with_default_positions(lm)
    model.config.tokenizer_class = "PreTrainedTokenizerFast"  # rinna's config names T5Tokenizer
    model.save_pretrained(out, safe_serialization=True)
    lm.tokenizer.save(out)
    framing = {"prefix": conventions.prefix, "suffix": conventions.suffix, "pair_separator": conventions.pair_separator,
               "mask_token": conventions.mask_token}
    write_fast_unigram(out, lm.tokenizer.model_proto, lm.tokenizer.normalization, **framing)
    config = fast_tokenizer_config(RINNA_SPECIAL_TOKENS, model_max_length=conventions.max_length)
    (out / CONFIG_FILE).write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    conventions.save(out)
    return ExportResult(out, "sentencepiece", conventions, [*INEXACT, PIPELINE_NOTE])


def move_positions(model, conventions: InputConventions, *, where: str):
    """A copy of a RoBERTa masked LM whose default position ids reach the trained rows.

    Trained row i (explicit positions from `conventions.position_start`) moves to row
    `padding_idx + 1 + i`; the table grows to `padding_idx + 1 + max_length` rows, and the
    rows below hold zeros (only the padding row is ever read, for padding).
    """
    config = model.config
    if config.model_type not in _ROBERTA_TYPES:
        raise JarobertaError(f"{where}: positions can only be moved for RoBERTa models, not {config.model_type!r}")
    table = model.base_model.embeddings.position_embeddings.weight.detach()  # (rows, H)
    pad = config.pad_token_id
    start, length = conventions.position_start, conventions.max_length
    if table.shape[0] < start + length:
        raise JarobertaError(
            f"{where}: the position table has {table.shape[0]} rows but the conventions use positions "
            f"{start}..{start + length - 1}; its positions cannot be moved. Set max_length to at most "
            f"{max(table.shape[0] - start, 0)} in its {CONVENTIONS_FILE}"
        )
    moved = torch.zeros((pad + 1 + length, table.shape[1]), dtype=table.dtype)
    moved[pad + 1 :] = table[start : start + length]
    state = {k: v for k, v in model.state_dict().items()}
    state[_position_key(state)] = moved
    new_config = config.__class__.from_dict({**config.to_dict(), "max_position_embeddings": pad + 1 + length})
    new_model = type(model)(new_config)
    new_model.load_state_dict(state, strict=True)
    new_model.tie_weights()
    return new_model.eval(), conventions.with_overrides(explicit_position_ids=False, position_start=0)


def _position_key(state: dict) -> str:
    keys = [k for k in state if k.endswith("embeddings.position_embeddings.weight")]
    if len(keys) != 1:
        raise JarobertaError(f"expected one position table in the model, found {keys}")
    return keys[0]


# -- MeCab family -------------------------------------------------------------------------
def _export_mecab(lm: LoadedModel, out: Path) -> ExportResult:
    model, conventions = _with_default_positions(lm)  # JMedRoBERTa is a BERT: nothing to move
    model.save_pretrained(out, safe_serialization=True)
    lm.tokenizer.save(out)  # vocab.txt, BertJapaneseTokenizer config, copies of the user dictionaries
    conventions.save(out)
    notes = [PIPELINE_NOTE]
    names = [d.name for d in getattr(lm.tokenizer, "dictionaries", [])]
    if names:
        notes.append(
            "tokenizer_config.json names the user dictionaries by absolute path (fugashi reads a relative "
            f"-u path against the working directory): after moving the folder pass mecab_kwargs with "
            f"-u followed by the quoted path <folder>/{names[0]}"
        )
    if conventions.normalization.full_width:
        notes.append("BertJapaneseTokenizer does not convert text to full width: convert it before tokenizing "
                     "(jaroberta does this itself)")
    return ExportResult(out, "mecab-wordpiece", conventions, notes)
