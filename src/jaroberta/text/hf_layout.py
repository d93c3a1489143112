"""The Hugging Face files of each family: written on save, recognised on load.

rinna's repository ships `spiece.model` with a `T5Tokenizer` config; JMedRoBERTa ships
`vocab.txt` with a `BertJapaneseTokenizer` config whose `mecab_kwargs` carry an absolute
user-dictionary path. We write the same layouts so plain `AutoTokenizer` keeps working
(the SentencePiece family with a `tokenizer.json` and `PreTrainedTokenizerFast`, because
transformers 5's `T5Tokenizer` gets rinna's ids wrong), and read them so the published
folders load in jaroberta without hand-set attributes.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from jaroberta.errors import JarobertaError
from jaroberta.text.mecab import SYSTEM_DICTS

CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"
VOCAB_FILE = "vocab.txt"
SP_MODEL_FILES = ("spiece.model", "google_sp.model")
"""Where a rinna-layout folder keeps its SentencePiece model, in order of preference."""

RINNA_SPECIAL_TOKENS = {
    "bos_token": "[CLS]",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "mask_token": "[MASK]",
}
BERT_SPECIAL_TOKENS = {
    "unk_token": "[UNK]",
    "sep_token": "[SEP]",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "mask_token": "[MASK]",
}


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def read_config(directory: Path) -> dict:
    path = Path(directory) / CONFIG_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JarobertaError(f"cannot read {path}: {exc}; the file is damaged or truncated, copy it again") from exc
    if not isinstance(data, dict):
        raise JarobertaError(f"{path} holds a JSON {type(data).__name__}, not an object: damaged; copy it again")
    return data


def write_rinna_layout(directory: Path, lowercase: bool) -> None:
    """tokenizer_config.json + special_tokens_map.json as rinna's repository has them, but
    for the class: `PreTrainedTokenizerFast` reads the folder's tokenizer.json as written,
    where transformers 5's `T5Tokenizer` rebuilds it from spiece.model (unknown -> `</s>`,
    `</s>` appended, no lower-casing)."""
    config = {
        **RINNA_SPECIAL_TOKENS,
        "extra_ids": 0,
        "additional_special_tokens": [],
        "do_lower_case": lowercase,
        "model_max_length": 512,
        "clean_up_tokenization_spaces": False,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }
    _write_json(directory / CONFIG_FILE, config)
    _write_json(directory / SPECIAL_TOKENS_FILE, dict(RINNA_SPECIAL_TOKENS))


def write_bert_japanese_layout(directory: Path, system_dict: str, dictionary_paths: list[Path]) -> None:
    """tokenizer_config.json for BertJapaneseTokenizer (+ special_tokens_map.json).

    The user dictionaries' *absolute* paths go into `mecab_option` only so that plain
    `AutoTokenizer` works on this machine; jaroberta itself finds them by name and hash.
    """
    mecab_kwargs: dict = {"mecab_dic": SYSTEM_DICTS[system_dict], "normalize_text": False}
    if dictionary_paths:
        # Quoted: fugashi splits its arguments like a shell, and paths may hold spaces.
        mecab_kwargs["mecab_option"] = "-u " + shlex.quote(",".join(str(Path(p).resolve()) for p in dictionary_paths))
    config = {
        **BERT_SPECIAL_TOKENS,
        "do_lower_case": False,
        "word_tokenizer_type": "mecab",
        "subword_tokenizer_type": "wordpiece",
        "mecab_kwargs": mecab_kwargs,
        "model_max_length": 512,
        "tokenizer_class": "BertJapaneseTokenizer",
    }
    _write_json(directory / CONFIG_FILE, config)
    _write_json(directory / SPECIAL_TOKENS_FILE, dict(BERT_SPECIAL_TOKENS))


def user_dictionary_names(mecab_option: str) -> list[str]:
    """File names of the `-u` dictionaries in a MeCab option string (comma-separated list)."""
    names: list[str] = []
    if not isinstance(mecab_option, str):
        raise JarobertaError(f"mecab_option in {CONFIG_FILE} must be a string such as \"-u user.dic\", got {mecab_option!r}")
    try:
        words = shlex.split(mecab_option.replace("--userdic=", "-u "))
    except ValueError as exc:
        raise JarobertaError(f"cannot read mecab_option {mecab_option!r} in {CONFIG_FILE}: {exc}") from exc
    for flag, value in zip(words, words[1:]):
        if flag == "-u":
            names.extend(Path(p).name for p in value.split(",") if p)
    return names


def system_dict_name(mecab_dic: str | None) -> str:
    """BertJapaneseTokenizer's `mecab_dic` value -> our system-dictionary name."""
    for ours, theirs in SYSTEM_DICTS.items():
        if mecab_dic == theirs:
            return ours
    raise JarobertaError(
        f"unsupported mecab_dic {mecab_dic!r} in {CONFIG_FILE}; jaroberta supports {sorted(SYSTEM_DICTS.values())}"
    )
