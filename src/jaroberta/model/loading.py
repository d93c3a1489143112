"""Load a model folder with its tokenizer and its input conventions.

Three layouts load the same way:
- ours: Hugging Face model files + tokenizer files + `jaroberta_tokenizer.json` +
  `jaroberta_conventions.json` (the conventions are stored, never guessed);
- rinna's published layout: `config.json` (RobertaForMaskedLM, pad id 3) + `spiece.model`
  + `tokenizer_config.json` (T5Tokenizer);
- JMedRoBERTa's published layout: `config.json` (BertForMaskedLM) + `vocab.txt` +
  `tokenizer_config.json` (BertJapaneseTokenizer with `mecab_kwargs`).

Weights come from `model.safetensors`, or from a published `pytorch_model.bin` with
weights-only unpickling (a pickle can run code; weights-only cannot).

The returned `LoadedModel` splits the masked-LM into its encoder and its head so callers
can run the head only at the masked positions: the head's decoder is a (hidden x vocab)
matmul, by far the largest per-token cost of a small model.
"""

from __future__ import annotations

import logging
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.ao.quantization import quantize_dynamic
from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, PreTrainedModel

from jaroberta.errors import JarobertaError
from jaroberta.model.conventions import CONVENTIONS_FILE, InputConventions
from jaroberta.model.families import FAMILIES, detect_published
from jaroberta.model.integrity import LOAD_ERRORS, check_config, check_weights, load_error, read_json_object
from jaroberta.model.quiet import quiet_transformers
from jaroberta.text import load_tokenizer
from jaroberta.text.base import JaTokenizer
from jaroberta.text.loading import not_a_tokenizer_folder, published_layout, vocabulary_file
from jaroberta.text.normalize import Normalization

log = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
"""Weight files we accept, in order of preference."""

HEADS = ("mlm", "base")
"""'mlm': the masked-LM with its head (fill-mask, scoring); 'base': the encoder alone (embeddings)."""

QUANTIZATIONS = (None, "int8")
"""None: fp32 weights; 'int8': dynamic int8 quantization of every nn.Linear (CPU only)."""

# model_type -> (encoder attribute, MLM head attribute) of the *ForMaskedLM classes
_MLM_PARTS = {
    "roberta": ("roberta", "lm_head"),
    "xlm-roberta": ("roberta", "lm_head"),
    "bert": ("bert", "cls"),
}


@dataclass
class LoadedModel:
    """A model ready for inference: weights, tokenizer and how its input is framed."""

    model: "PreTrainedModel"
    """The Hugging Face model (a *ForMaskedLM with head='mlm', the bare encoder with head='base')."""
    tokenizer: "JaTokenizer"
    """Turns text into pieces (no special tokens)."""
    conventions: InputConventions
    """Framing, positions, normalization, max length: asked, never re-decided."""
    path: Path
    """The folder the model was loaded from."""
    quantized: str | None = None
    """'int8' when the linear layers were dynamically quantized."""
    _special_cache: dict[str, int] = field(default_factory=dict, repr=False)

    # -- ids ---------------------------------------------------------------------
    def token_id(self, token: str) -> int:
        """Id of a special token named by the conventions; a clear error if the vocabulary lacks it."""
        if token not in self._special_cache:
            idx = self.tokenizer.token_to_id(token)
            if idx is None:
                raise JarobertaError(
                    f"{self.path}: the tokenizer has no token {token!r}, which the '{self.conventions.name}' conventions "
                    f"need; override them with --convention (e.g. mask_token=...)"
                )
            self._special_cache[token] = idx
        return self._special_cache[token]

    @property
    def mask_id(self) -> int:
        return self.token_id(self.conventions.mask_token)

    @property
    def pad_id(self) -> int:
        return self.token_id(self.conventions.pad_token)

    @property
    def special_ids(self) -> set[int]:
        """Ids that frame a sentence (never masked when scoring)."""
        c = self.conventions
        return {self.token_id(t) for t in (*c.prefix, *c.suffix, *c.pair_separator, c.pad_token)}

    @property
    def device(self) -> "torch.device":
        return next(self.model.parameters()).device

    # -- framing -----------------------------------------------------------------
    def frame(self, piece_ids: list[int]) -> list[int]:
        """Piece ids wrapped with the family's special tokens (rinna: `[CLS]` + pieces)."""
        return self.conventions.frame(piece_ids, self.token_id)

    @property
    def prefix_length(self) -> int:
        """How many special tokens come before the pieces: piece i sits at framed index prefix_length + i."""
        return len(self.conventions.prefix)

    def fit(self, piece_ids: list[int], *, truncate: bool, where: str) -> list[int]:
        """The pieces, checked against the model's limit: an error, or cut when `truncate`."""
        limit = self.conventions.max_pieces
        if len(piece_ids) <= limit:
            return piece_ids
        if not truncate:
            raise JarobertaError(
                f"{where}: {len(piece_ids)} pieces, but the model takes at most {limit} "
                f"({self.conventions.max_length} with special tokens); shorten the text or pass --truncate"
            )
        return piece_ids[:limit]

    def batch_inputs(self, framed: list[list[int]]) -> dict[str, "torch.Tensor"]:
        """Right-padded tensors for a batch of framed inputs, on the model's device.

        `position_ids` are included when the conventions say so (rinna: 0..n-1, because
        Hugging Face RoBERTa would otherwise start them at padding_idx + 1 = 4).
        """
        width = max(len(ids) for ids in framed)
        input_ids = torch.full((len(framed), width), self.pad_id, dtype=torch.long)  # (B, T)
        attention_mask = torch.zeros((len(framed), width), dtype=torch.long)
        for row, ids in enumerate(framed):
            input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, : len(ids)] = 1
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        positions = self.conventions.position_ids(width)
        if positions is not None:
            # Padded slots get positions too; attention never looks at them.
            batch["position_ids"] = torch.tensor(positions, dtype=torch.long).expand(len(framed), width).contiguous()
        return {name: t.to(self.device) for name, t in batch.items()}

    # -- the two halves of a masked LM --------------------------------------------
    @property
    def encoder(self) -> "torch.nn.Module":
        """The transformer without any head (RobertaModel / BertModel)."""
        return self.model.base_model

    @property
    def mlm_head(self) -> "torch.nn.Module":
        """The masked-LM head (hidden states -> vocabulary logits)."""
        return _mlm_head(self.model, self.path)

    def hidden_states(self, batch: dict[str, "torch.Tensor"]) -> "torch.Tensor":
        """Last-layer hidden states (B, T, H)."""
        return self.encoder(**batch).last_hidden_state

    def logits_at(self, batch: dict[str, "torch.Tensor"], rows: "torch.Tensor", cols: "torch.Tensor") -> "torch.Tensor":
        """Vocabulary logits (M, V) at the M positions (rows[m], cols[m]) only.

        Equal to `model(**batch).logits[rows, cols]`, without paying the (hidden x vocab)
        decoder for every other position.
        """
        hidden = self.hidden_states(batch)  # (B, T, H)
        return self.mlm_head(hidden[rows, cols])  # (M, H) -> (M, V)


def _mlm_head(model, path) -> "torch.nn.Module":
    model_type = getattr(model.config, "model_type", "")
    if model_type in _MLM_PARTS:
        head = getattr(model, _MLM_PARTS[model_type][1], None)
        if head is not None:
            return head
    # Any other *ForMaskedLM: the one child that is not the encoder.
    others = [m for name, m in model.named_children() if name != model.base_model_prefix]
    if len(others) != 1 or model.base_model is model:
        raise JarobertaError(f"{path}: this model has no masked-language-model head; load it with head='mlm'")
    return others[0]


# -- conventions ---------------------------------------------------------------------
def _read_json(path: Path) -> dict:
    return read_json_object(path)


def detect_conventions(path: str | Path) -> InputConventions:
    """The input conventions of a model folder: stored (ours) or detected (a family's published layout)."""
    folder = check_model_folder(path)
    if (folder / CONVENTIONS_FILE).exists():
        return InputConventions.load(folder)
    conventions = detect_published(folder, _read_json(folder / "config.json"))
    if conventions is None and published_layout(folder) is None:
        raise not_a_tokenizer_folder(folder)
    if conventions is None:
        raise JarobertaError(
            f"{folder}: cannot tell how this model frames its input (no {CONVENTIONS_FILE}; not rinna's layout "
            f"[roberta + spiece.model + pad id 3] nor a BertJapaneseTokenizer + MeCab one [JMedRoBERTa, cl-tohoku]); "
            f"name its family with --convention name=FAMILY, one of {', '.join(FAMILIES)}"
        )
    return conventions


def parse_convention_args(items: list[str]) -> dict[str, str]:
    """`--convention KEY=VALUE` strings -> {key: value}; a clear error for anything else."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise JarobertaError(f"convention {item!r}: expected KEY=VALUE, e.g. max_length=256")
        overrides[key.strip()] = value.strip()
    return overrides


def resolve_conventions(path: str | Path, overrides: dict[str, str] | None = None) -> InputConventions:
    """Detected conventions with `key=value` overrides applied (the CLI's --convention).

    `name=rinna` / `name=jmedroberta` / `name=tohoku` alone switches to that family's conventions.
    """
    overrides = dict(overrides or {})
    if overrides.get("name") in FAMILIES:
        base = FAMILIES[overrides.pop("name")].conventions
    else:
        base = detect_conventions(path)
    return base.with_overrides(**_parse_override_values(base, overrides)) if overrides else base


def _parse_override_values(base: InputConventions, raw: dict) -> dict:
    """Turn `--convention` strings into typed values (bool, int, tuple, Normalization)."""
    typed = {}
    for key, value in raw.items():
        if not isinstance(value, str):
            typed[key] = value
            continue
        current = getattr(base, key, None)
        if isinstance(current, bool):
            typed[key] = value.lower() in ("1", "true", "yes", "on")
        elif isinstance(current, int):
            typed[key] = int(value)
        elif isinstance(current, tuple):
            typed[key] = tuple(v for v in value.split(",") if v)
        elif isinstance(current, Normalization):
            steps = {v.strip().replace("-", "_") for v in value.split("+") if v.strip() and v.strip() != "none"}
            typed[key] = Normalization(**{step: True for step in steps})
        else:
            typed[key] = value
    return typed


# -- loading -------------------------------------------------------------------------
def check_model_folder(path: str | Path) -> Path:
    """The model's folder, if it has config.json; else a clear error naming it. A hub id
    becomes a folder before this, once, where the user named it (`core.hub.resolve_model`)."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise JarobertaError(f"model folder {folder} does not exist; give the path of a folder with config.json")
    if not folder.is_dir():
        raise JarobertaError(f"{folder} is a file; give the model's folder (the one with config.json)")
    if not (folder / "config.json").exists():
        raise JarobertaError(f"{folder} has no config.json: not a Hugging Face model folder")
    return folder


def check_model_files(folder: Path) -> Path:
    """config.json and the weights file are whole (a clear error naming the damaged file); the weights' path."""
    check_config(folder)
    weights = _weights_file(folder)
    check_weights(weights)
    return weights


def _weights_file(folder: Path) -> Path:
    for name in WEIGHT_FILES:
        if (folder / name).exists():
            return folder / name
    raise JarobertaError(f"{folder} has no weights: expected one of {', '.join(WEIGHT_FILES)}")


def load(
    path: str | Path,
    *,
    conventions: InputConventions | None = None,
    user_dicts: list[str | Path] | None = None,
    device: str = "cpu",
    quantize: str | None = None,
    head: str = "mlm",
) -> LoadedModel:
    """Load a model folder (ours, rinna's or JMedRoBERTa's layout) ready for inference.

    `conventions` overrides the stored / detected ones; `user_dicts` replaces the MeCab
    user dictionaries named by the tokenizer files (JMedRoBERTa's absolute path rarely
    exists on the user's machine); `quantize='int8'` applies dynamic int8 quantization to
    the linear layers (CPU); `head='base'` loads the encoder alone (embeddings).
    """
    if head not in HEADS:
        raise JarobertaError(f"head must be one of {HEADS}, got {head!r}")
    if quantize not in QUANTIZATIONS:
        raise JarobertaError(f"quantize must be one of {QUANTIZATIONS}, got {quantize!r}")
    if quantize and str(device) != "cpu":
        raise JarobertaError(f"int8 dynamic quantization runs on CPU only; drop int8 or use device='cpu' (got {device})")
    folder = check_model_folder(path)
    conventions = conventions or detect_conventions(folder)
    tokenizer = _load_tokenizer(folder, conventions, user_dicts)
    check_vocabulary_size(folder, tokenizer)
    model = _load_model(folder, head).to(device).eval()
    if quantize == "int8":
        model = quantize_int8(model)
    lm = LoadedModel(model=model, tokenizer=tokenizer, conventions=conventions, path=folder, quantized=quantize)
    log.debug("loaded %s (%s conventions, %s head)", folder, conventions.name, head)
    return lm


def _load_tokenizer(folder: Path, conventions: InputConventions, user_dicts) -> "JaTokenizer":
    return load_tokenizer(folder, user_dicts=user_dicts, normalization=conventions.normalization)


def _load_model(folder: Path, head: str) -> "PreTrainedModel":
    weights = check_model_files(folder)
    config = AutoConfig.from_pretrained(folder)
    auto = AutoModelForMaskedLM if head == "mlm" else AutoModel
    # The encoder's pooler is never used (embeddings pool the last layer themselves): not
    # building it avoids a randomly initialised layer and a warning about it.
    extra = {} if head == "mlm" or config.model_type not in _MLM_PARTS else {"add_pooling_layer": False}
    try:
        with quiet_transformers():  # its load report is replaced by the checks below
            # weights_only=True: a published pytorch_model.bin is unpickled without running code.
            model, info = auto.from_pretrained(
                folder, config=config, dtype=torch.float32, weights_only=True, output_loading_info=True, **extra
            )
    except pickle.UnpicklingError as exc:
        raise JarobertaError(
            f"{weights}: refused, the pickle holds more than tensors and weights-only loading never runs code "
            f"from a checkpoint; get the model as model.safetensors from a source you trust"
        ) from exc
    except LOAD_ERRORS as exc:
        raise load_error(weights, exc) from exc
    _check_missing_weights(model, list(info.get("missing_keys", ())), head, folder)
    return model


def _tied_or_unused(key: str) -> bool:
    """Weights a checkpoint may lack legitimately: the MLM decoder (tied to the input
    embeddings, its bias to the head's), the unused pooler, buffers like position_ids."""
    return ".decoder." in key or key.startswith("pooler.") or ".pooler." in key or key.endswith("position_ids")


def _check_missing_weights(model, missing_keys: list[str], head: str, folder: Path) -> None:
    """transformers fills missing weights with random ones and only warns: refuse instead."""
    missing = [k for k in missing_keys if not _tied_or_unused(k)]
    if head == "mlm":
        _check_mlm_head(model, missing, folder)
    if missing:
        raise JarobertaError(
            f"{folder}: the checkpoint lacks {len(missing)} weight(s) the model needs ({', '.join(sorted(missing)[:3])}); "
            f"it is incomplete, or config.json names another architecture than the weights hold"
        )


def _check_mlm_head(model, missing_keys, folder: Path) -> None:
    """A checkpoint without the masked-LM head cannot fill masks: say so, and what it can do."""
    head_name = _MLM_PARTS.get(model.config.model_type, (None, None))[1]
    if head_name is None:
        return
    missing_head = [k for k in missing_keys if k.startswith(head_name + ".")]
    if missing_head:
        raise JarobertaError(
            f"{folder}: the checkpoint has no masked-language-model head (missing {', '.join(sorted(missing_head)[:3])}); "
            f"fill-mask and scoring need one. Use it for embeddings (jaroberta embed) or fine-tuning instead"
        )


PADDING_ROWS = 128
"""Embedding rows a model may have beyond its tokenizer's pieces: some checkpoints round the
matrix up to a multiple of 64 or 128 for speed, and those rows are never looked up."""


def check_vocabulary_size(folder: Path, tokenizer: "JaTokenizer") -> None:
    """The tokenizer's vocabulary fits the model's embedding rows (config.json's vocab_size),
    checked before the weights are read: more pieces than rows index past the embedding;
    far fewer means a vocabulary cut short (every later piece becomes [UNK])."""
    rows = _read_json(folder / "config.json").get("vocab_size")
    if not isinstance(rows, int):
        return
    pieces, file = tokenizer.vocab_size, vocabulary_file(folder) or folder
    if pieces > rows:
        raise JarobertaError(
            f"{file} has {pieces:,} tokens but the model's embedding only {rows:,} rows (config.json vocab_size): "
            f"tokenizer and weights do not belong together"
        )
    if rows - pieces >= PADDING_ROWS:
        raise JarobertaError(
            f"{file} has {pieces:,} tokens but the model's embedding {rows:,} rows (config.json vocab_size): "
            f"the vocabulary is cut short or belongs to another model; copy the folder again"
        )


def quantize_int8(model: "PreTrainedModel") -> "PreTrainedModel":
    """Dynamic int8 quantization of every nn.Linear (weights int8, activations quantized per batch).

    torch.ao.quantization is deprecated in favour of torchao, but its dynamic quantization
    is still the fastest int8 path on a plain CPU build of torch 2.13, and needs no extra
    package; silence only its deprecation notices.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.ao")
        warnings.filterwarnings("ignore", message=r".*torch\.quantize_per_tensor.*")
        warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization is deprecated.*")

        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
