"""Saving a model folder that describes itself, in Hugging Face format.

A folder holds: `config.json` + `model.safetensors` (transformers' `save_pretrained`),
the tokenizer's files (Hugging Face files + the jaroberta sidecar), the model's
`InputConventions` (`jaroberta_conventions.json`), and `jaroberta_meta.json` (what
produced it: step, tokens seen, config hash, versions, dev perplexity).
A plain `AutoModelForMaskedLM.from_pretrained(folder)` loads it; `jaroberta.load(folder)`
also gets the tokenizer and the conventions.
"""

from __future__ import annotations

import json
import logging
import os
import platform
from pathlib import Path

import torch
import transformers

from jaroberta import __version__
from jaroberta.model.card import write_card
from jaroberta.model.integrity import read_json_object
from jaroberta.model.quiet import quiet_transformers

log = logging.getLogger(__name__)

META_FILE = "jaroberta_meta.json"


def save_model(directory: str | Path, model, tokenizer, conventions, meta: dict) -> Path:
    """Write model, tokenizer, conventions and meta into `directory` (created if needed).

    `tokenizer` may be None (synthetic-data runs): the folder then lacks tokenizer files,
    which is logged.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model = getattr(model, "module", model)  # DDP / compiled wrappers: save the real model
    model = getattr(model, "_orig_mod", model)
    with quiet_transformers():  # its per-shard progress bar is noise at every checkpoint
        model.save_pretrained(directory, safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save(directory)
    else:
        log.warning("%s: no tokenizer to save (synthetic data); the folder loads as a model only", directory)
    conventions.save(directory)
    (directory / META_FILE).write_text(json.dumps(_with_versions(meta), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    write_card(directory, parameters=sum(p.numel() for p in model.parameters()))
    return directory


def read_meta(directory: str | Path) -> dict:
    """The `jaroberta_meta.json` of a model folder ({} when absent)."""
    return read_json_object(Path(directory) / META_FILE)


def _with_versions(meta: dict) -> dict:
    versions = {"jaroberta": __version__, "torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version()}
    return {**meta, "versions": versions, "hardware": _hardware(torch)}


def _hardware(torch) -> str:
    """What the model was trained or saved on, for the model card."""
    cpu = f"{os.cpu_count()} CPU cores ({platform.machine()})"
    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}, {cpu}"
    return cpu
