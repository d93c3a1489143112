"""Growing a model's vocabulary to an extended tokenizer's (`jaroberta.text.extend`).

    growth = grow_model(model, base_tokenizer, extended_tokenizer, base_model="rinna/japanese-roberta-base")

The base's rows stay as they are; one row is appended per new entry, to the input
embeddings, the output layer (tied to them in RoBERTa and BERT) and the output bias. A new
row starts as the mean of the base rows of the pieces the base tokenizer cuts the entry's
text into (fast vocabulary transfer), the bias likewise: the model first reads a new entry
as roughly what it read in its place before. Nothing else changes, so hidden states of text
in which no new entry occurs are exactly the base model's until training moves them.

Only an extension of the model's own tokenizer is accepted, recognised by the fingerprint
its sidecar records (`check_extends`): a vocabulary of the same size with other pieces
would mean other words under the same ids.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from jaroberta.errors import JarobertaError
from jaroberta.text import JaTokenizer, load_tokenizer
from jaroberta.text.extend import base_ids_of_new_entries, check_extends
from jaroberta.core.hub import resolve_model

log = logging.getLogger(__name__)

INIT_METHOD = "mean of the base pieces' rows (fast vocabulary transfer)"
"""How new rows start, as the model card says it."""


@dataclass(frozen=True)
class Growth:
    """What growing did, for `jaroberta_meta.json` and the model card."""

    base_model: str
    """The model grown (folder or hub id, as given)."""
    revision: str | None
    """Its hub revision (commit) when known."""
    base_vocab_size: int
    """Rows of the base model, kept as they were."""
    added: int
    """Rows appended (new vocabulary entries)."""
    init: str
    """How the new rows were initialised."""
    base_tokenizer_fingerprint: str
    """The base model's tokenizer."""
    tokenizer_fingerprint: str
    """The extended tokenizer's fingerprint."""

    def to_dict(self) -> dict:
        return asdict(self)


def grow_model(model, base: JaTokenizer, extended: JaTokenizer, *, base_model: str = "", revision: str | None = None) -> Growth:
    """Append one row per new entry of `extended` to `model` (a transformers *ForMaskedLM, in
    place), each the mean of the rows of its base pieces; returns what was done."""
    check_extends(base, extended, what=f"the tokenizer to grow {base_model or 'the model'} to")
    rows = model.get_input_embeddings().weight.shape[0]
    if rows != base.vocab_size:
        raise JarobertaError(f"{base_model or 'the model'} has {rows:,} embedding rows but its tokenizer {base.vocab_size:,} "
                             f"entries: only a model whose rows are its tokenizer's ids can grow")
    sources = base_ids_of_new_entries(base, extended)
    output_before = model.get_output_embeddings()
    untied = output_before is not None and output_before.weight is not model.get_input_embeddings().weight
    with torch.no_grad():
        model.resize_token_embeddings(extended.vocab_size, mean_resizing=False)
        index = [torch.tensor(ids, dtype=torch.long) for ids in sources]
        matrices = [model.get_input_embeddings().weight]
        output = model.get_output_embeddings()
        if untied:
            matrices.append(output.weight)
        for matrix in matrices:
            for row, ids in enumerate(index, start=base.vocab_size):
                matrix[row] = matrix[ids].mean(dim=0)
        bias = _output_bias(model)
        if bias is not None:
            for row, ids in enumerate(index, start=base.vocab_size):
                bias[row] = bias[ids].mean()
    log.info("grew %s from %d to %d rows (%s)", base_model or "the model", base.vocab_size, extended.vocab_size, INIT_METHOD)
    return Growth(base_model, revision, base.vocab_size, extended.vocab_size - base.vocab_size, INIT_METHOD,
                  base.fingerprint, extended.fingerprint)


def _output_bias(model) -> torch.Tensor | None:
    """The output layer's bias (RoBERTa's `lm_head.bias`, BERT's `cls.predictions.bias`; the
    decoder's bias is the same tensor), resized with the embeddings by transformers."""
    output = model.get_output_embeddings()
    return output.bias if output is not None and output.bias is not None else None


def model_for_tokenizer(folder: Path, tokenizer: JaTokenizer, load: Callable[[Path], object], *,
                        revision: str | None = None) -> tuple[object, Growth | None]:
    """The model of `folder` ready for ids of `tokenizer` (packed shards'): as it is when the
    folder's tokenizer is that one, grown when `tokenizer` extends it; refused otherwise.

    `load(folder)` loads the transformers model (the caller's checks and dtype)."""
    folder = Path(folder)
    base = load_tokenizer(folder)
    if base.fingerprint == tokenizer.fingerprint:
        return load(folder), None
    lineage = getattr(tokenizer, "extends", None)
    if lineage is None or lineage.base_fingerprint != base.fingerprint:
        recorded = (f"which extends another tokenizer (fingerprint {lineage.base_fingerprint[:12]})" if lineage
                    else "which extends no tokenizer")
        raise JarobertaError(
            f"the model {folder} was made with a different tokenizer than the shards (fingerprint {base.fingerprint[:12]} "
            f"vs {tokenizer.fingerprint[:12]}, {recorded}): its token ids mean other words. Pack the corpus with that "
            f"model's tokenizer (`jaroberta pack CORPUS {folder} OUT`) or with one extended from it "
            f"(`jaroberta tokenizer extend {folder} CORPUS OUT`)")
    model = load(folder)
    growth = grow_model(model, base, tokenizer, base_model=str(folder), revision=revision or _snapshot_revision(folder))
    return model, growth


def _snapshot_revision(name: Path) -> str | None:
    """The commit of a model read from the hub cache (its folder is …/snapshots/<commit>), else None."""
    folder = resolve_model(name).resolve()
    return folder.name if folder.parent.name == "snapshots" else None
