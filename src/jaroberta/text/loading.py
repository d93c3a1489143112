"""`load_tokenizer(path)`: one entry point for every tokenizer folder jaroberta meets.

The family is detected from the files, in this order:
1. our sidecar `jaroberta_tokenizer.json` (anything jaroberta saved);
2. rinna's Hugging Face layout: `spiece.model` (or `google_sp.model`), with a
   `T5Tokenizer` config or none -> SentencePiece family, lower-casing (rinna's card asks
   users to set `do_lower_case` by hand; we apply it ourselves);
3. JMedRoBERTa's layout: `vocab.txt` + a `BertJapaneseTokenizer` config with MeCab
   -> MeCab + WordPiece family, full-width conversion (`normalize_text: false` there means
   users had to convert by hand). The user dictionaries named in `mecab_option` by
   absolute path are looked up *by file name*: in the user's override, then the folder
   itself; a missing one raises an error that says which file and how to supply it.
A path to a `.model` file loads that SentencePiece model with rinna's normalization.

A folder saved by jaroberta records the fingerprint of its tokenizer in the sidecar: the
file loaded (spiece.model, vocab.txt) must still give it, and a `tokenizer.json` beside a
SentencePiece model must hold the same pieces in the same order. A vocabulary cut short,
shuffled or swapped for another changes every id silently (pieces become [UNK], or the
wrong words come out); it is refused here, naming the file, before any work.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from jaroberta.errors import JarobertaError
from jaroberta.text.base import SIDECAR, JaTokenizer
from jaroberta.text.hf_layout import SP_MODEL_FILES, VOCAB_FILE, read_config, system_dict_name, user_dictionary_names
from jaroberta.text.normalize import JMED_NORMALIZATION, RINNA_NORMALIZATION, Normalization
from jaroberta.text.fast_unigram import TOKENIZER_FILE
from jaroberta.text.sidecar import Sidecar, fingerprint
from jaroberta.text.unigram import SentencePieceTokenizer
from jaroberta.text.userdict import DictionaryRef, resolve_dictionary
from jaroberta.text.wordpiece import MecabWordPieceTokenizer

UserDicts = dict[str, Path] | list[Path] | tuple[Path, ...] | None


def load_tokenizer(
    path: str | Path, *, user_dicts: UserDicts = None, normalization: Normalization | None = None
) -> JaTokenizer:
    """Load a tokenizer folder of either family (see module doc for how the family is found).

    `user_dicts`: where the MeCab user dictionaries are, as {file name: path} or a list of
    paths matched by file name; overrides the folder's own copies. `normalization`
    overrides the recorded one (e.g. Normalization() for text already normalized). A hub id
    becomes a folder before this, where the user named it (`core.hub.resolve_model`).
    """
    path = Path(path).expanduser()
    overrides = _by_name(user_dicts)
    if path.is_file() and path.suffix == ".model":
        return _sentencepiece(path, normalization or RINNA_NORMALIZATION)
    if not path.is_dir():
        raise JarobertaError(f"tokenizer {path} does not exist: give a tokenizer folder (or a SentencePiece .model file)")
    for detect, load in LAYOUTS:
        if detect(path):
            return load(path, overrides, normalization)
    raise not_a_tokenizer_folder(path)


def _by_name(user_dicts: UserDicts) -> dict[str, Path]:
    if user_dicts is None:
        return {}
    if isinstance(user_dicts, dict):
        return {name: Path(p) for name, p in user_dicts.items()}
    return {Path(p).name: Path(p) for p in user_dicts}


def _sentencepiece(model_file: Path, normalization: Normalization, word_boundaries: str | None = None) -> JaTokenizer:
    try:
        data = model_file.read_bytes()
    except OSError as exc:
        raise JarobertaError(f"cannot read the SentencePiece model {model_file}: {exc.strerror or exc}") from exc
    if not data:
        raise JarobertaError(f"{model_file} is empty: the SentencePiece model is missing its content; copy it again")
    try:
        return SentencePieceTokenizer(data, normalization, word_boundaries=word_boundaries)
    except (RuntimeError, ValueError, OSError) as exc:
        # sentencepiece's C++ parser says only "ParseFromArray" or "unk is not defined"
        raise JarobertaError(
            f"{model_file} is not a readable SentencePiece model: truncated or damaged "
            f"({'the protocol buffer does not parse' if 'ParseFromArray' in str(exc) else str(exc).strip()[:160]}); copy it again"
        ) from exc


def _wordpiece(vocab_file: Path, system_dict: str, user_dicts: list[Path], normalization: Normalization, mask_token: str = "[MASK]") -> JaTokenizer:
    try:
        lines = vocab_file.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as exc:
        raise JarobertaError(f"{vocab_file} is not UTF-8 text ({exc.reason} at byte {exc.start}): damaged; copy it again") from exc
    except OSError as exc:
        raise JarobertaError(f"cannot read {vocab_file}: {exc.strerror or exc}") from exc
    if lines and lines[-1] == "":  # as BertJapaneseTokenizer's load_vocab: one token per line
        lines.pop()
    if not lines:
        raise JarobertaError(f"{vocab_file} is empty: the WordPiece vocabulary is missing; copy it again")
    if "[UNK]" not in lines:
        raise JarobertaError(f"{vocab_file} has {len(lines):,} lines but no [UNK] token: truncated, or not a WordPiece vocabulary")
    return MecabWordPieceTokenizer(lines, system_dict, user_dicts, normalization, mask_token)


def _sp_model_file(directory: Path) -> Path | None:
    return next((directory / name for name in SP_MODEL_FILES if (directory / name).is_file()), None)


def vocabulary_file(directory: Path) -> Path | None:
    """The file a tokenizer folder's vocabulary is read from (spiece.model or vocab.txt)."""
    if _has_sidecar(directory) or _is_rinna_layout(directory):
        found = _sp_model_file(directory)
        if found is not None:
            return found
    return directory / VOCAB_FILE if (directory / VOCAB_FILE).is_file() else None


def _check_recorded(file: Path, sidecar: Sidecar, content: bytes, dictionary_hashes: list[str] = (), extra: str = "") -> None:
    """`file` still gives the fingerprint the sidecar recorded when the tokenizer was saved."""
    if sidecar.fingerprint and fingerprint(content, sidecar.normalization, list(dictionary_hashes), extra) != sidecar.fingerprint:
        raise JarobertaError(
            f"{file} is not the vocabulary this tokenizer was saved with (its fingerprint differs from the one in "
            f"{SIDECAR}): cut short, reordered or replaced; copy the folder again"
        )


def _check_fast_tokenizer(directory: Path, tokenizer: SentencePieceTokenizer) -> None:
    """A tokenizer.json beside spiece.model (what plain transformers reads) holds its pieces, in order."""
    path = directory / TOKENIZER_FILE
    if not path.is_file():
        return
    try:
        vocab = json.loads(path.read_text(encoding="utf-8"))["model"]["vocab"]
        pieces = [entry[0] for entry in vocab]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise JarobertaError(f"{path} is damaged ({type(exc).__name__}: {str(exc)[:120]}); copy the folder again") from exc
    if pieces != [tokenizer.id_to_token(i) for i in range(tokenizer.vocab_size)]:
        raise JarobertaError(
            f"{path} does not hold the pieces of {_sp_model_file(directory).name} beside it ({len(pieces):,} pieces "
            f"against {tokenizer.vocab_size:,}, or in another order): cut short, reordered or replaced; copy the folder again"
        )


# -- jaroberta's own folders ---------------------------------------------------------
def _has_sidecar(directory: Path) -> bool:
    return (directory / SIDECAR).is_file()


def _load_sidecar_folder(directory: Path, overrides: dict[str, Path], normalization: Normalization | None) -> JaTokenizer:
    sidecar = Sidecar.load(directory)
    normalization = normalization or sidecar.normalization
    if sidecar.tokenizer_kind == "sentencepiece":
        model_file = _sp_model_file(directory)
        if model_file is None:
            raise JarobertaError(f"{directory}: {SIDECAR} says sentencepiece but there is no {SP_MODEL_FILES[0]}")
        tokenizer = _sentencepiece(model_file, normalization, sidecar.word_boundaries)
        tokenizer.extends = sidecar.extends
        _check_recorded(model_file, sidecar, tokenizer.model_proto,
                        extra=f"word_boundaries={sidecar.word_boundaries}" if sidecar.word_boundaries else "")
        _check_fast_tokenizer(directory, tokenizer)
        return tokenizer
    if sidecar.tokenizer_kind == "mecab-wordpiece":
        try:
            refs = [DictionaryRef.from_dict(d) for d in sidecar.dictionaries]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise JarobertaError(f"{directory / SIDECAR}: damaged dictionaries entry ({exc!r}); re-save the tokenizer with jaroberta") from exc
        paths = _resolve(refs, directory, overrides)
        system_dict = sidecar.system_dict or "ipadic"
        tokenizer = _wordpiece(directory / VOCAB_FILE, system_dict, paths, normalization, sidecar.mask_token)
        tokenizer.extends = sidecar.extends
        content = "\n".join(tokenizer.vocab).encode("utf-8")
        _check_recorded(directory / VOCAB_FILE, sidecar, content, [ref.sha256 for ref in refs], system_dict)
        return tokenizer
    raise JarobertaError(f"{directory / SIDECAR}: unknown tokenizer kind {sidecar.tokenizer_kind!r}")


def _resolve(refs, directory: Path, overrides: dict[str, Path]) -> list[Path]:
    return [resolve_dictionary(ref, search_paths=(directory,), override=overrides.get(ref.name)) for ref in refs]


def not_a_tokenizer_folder(path: Path) -> JarobertaError:
    """The error for a folder without tokenizer files jaroberta knows (a model folder needs them too)."""
    return JarobertaError(
        f"{path} is not a tokenizer folder jaroberta knows: expected {SIDECAR} (saved by jaroberta), "
        f"{' or '.join(SP_MODEL_FILES)} (rinna layout), or {VOCAB_FILE} + tokenizer_config.json with "
        "BertJapaneseTokenizer and MeCab (JMedRoBERTa layout)"
    )


def published_layout(directory: Path) -> str | None:
    """The tokenizer kind of a published Hugging Face folder: 'sentencepiece' (rinna's layout),
    'mecab-wordpiece' (BertJapaneseTokenizer with MeCab, JMedRoBERTa's), or None."""
    if _is_rinna_layout(directory):
        return "sentencepiece"
    if _is_jmed_layout(directory):
        return "mecab-wordpiece"
    return None


# -- rinna's Hugging Face layout -----------------------------------------------------
def _is_rinna_layout(directory: Path) -> bool:
    if _sp_model_file(directory) is None:
        return False
    config_file = directory / "tokenizer_config.json"
    return not config_file.exists() or read_config(directory).get("tokenizer_class", "T5Tokenizer") in {"T5Tokenizer", "T5TokenizerFast", "PreTrainedTokenizerFast"}


def _load_rinna(directory: Path, overrides: dict[str, Path], normalization: Normalization | None) -> JaTokenizer:
    return _sentencepiece(_sp_model_file(directory), normalization or RINNA_NORMALIZATION)


# -- JMedRoBERTa's Hugging Face layout -----------------------------------------------
def _is_jmed_layout(directory: Path) -> bool:
    if not (directory / VOCAB_FILE).is_file() or not (directory / "tokenizer_config.json").is_file():
        return False
    config = read_config(directory)
    return config.get("tokenizer_class") == "BertJapaneseTokenizer" and config.get("word_tokenizer_type") == "mecab"


def _load_jmed(directory: Path, overrides: dict[str, Path], normalization: Normalization | None) -> JaTokenizer:
    config = read_config(directory)
    mecab_kwargs = config.get("mecab_kwargs") or {}
    if not isinstance(mecab_kwargs, dict):
        raise JarobertaError(f"{directory / 'tokenizer_config.json'}: mecab_kwargs must be a JSON object, got {mecab_kwargs!r}")
    if config.get("subword_tokenizer_type", "wordpiece") != "wordpiece":
        raise JarobertaError(f"{directory}: only subword_tokenizer_type 'wordpiece' is supported")
    if config.get("do_lower_case"):
        raise JarobertaError(f"{directory}: do_lower_case true is not supported for the MeCab family")
    if normalization is None:
        # normalize_text true means BertJapaneseTokenizer applied NFKC itself.
        normalization = Normalization(nfkc=True) if mecab_kwargs.get("normalize_text", True) else JMED_NORMALIZATION
    # The published config holds an absolute path from the authors' machine: only the
    # file name is meaningful here; the content hash is unknown ("").
    names = user_dictionary_names(mecab_kwargs.get("mecab_option") or "")
    paths = _resolve([DictionaryRef(name, "") for name in names], directory, overrides)
    system_dict = system_dict_name(mecab_kwargs.get("mecab_dic", "ipadic"))
    return _wordpiece(directory / VOCAB_FILE, system_dict, paths, normalization)


LAYOUTS: tuple[tuple[Callable[[Path], bool], Callable[..., JaTokenizer]], ...] = (
    (_has_sidecar, _load_sidecar_folder),
    (_is_rinna_layout, _load_rinna),
    (_is_jmed_layout, _load_jmed),
)
"""(detect, load) in order of precedence."""
