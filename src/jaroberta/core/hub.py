"""Model names: a local folder, or a Hugging Face hub id resolved through huggingface_hub.

`resolve_model(name, revision)` is the one place a model name becomes a folder; model
loading and tokenizer loading call it, so every command that takes a MODEL accepts
`rinna/japanese-roberta-base` as well as a path. A hub id goes through
`snapshot_download`, so the hub's cache, `HF_HOME` / `HF_HUB_CACHE`, `HF_HUB_OFFLINE` and
tokens behave as in transformers. A local folder of the same name wins, and says so.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from huggingface_hub import constants, snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import validate_repo_id

from jaroberta.errors import JarobertaError

log = logging.getLogger(__name__)

_TRUE = {"1", "on", "yes", "true"}

REVISION_HELP = "with a hub id: the branch, tag or commit to use (default: main)"
"""Help of every command's --revision option."""
LICENSE_HELP = ("license of the weights in the model card's metadata, a hub license id (e.g. apache-2.0, "
                "cc-by-sa-4.0); default: the corpus sources' license, else 'other'")
"""Help of every command's --license option (the model card's metadata)."""


def hub_cache() -> Path:
    """The hub cache folder as huggingface_hub resolves it, read now (tests and users may
    set HF_HOME / HF_HUB_CACHE after huggingface_hub was imported)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path(constants.HF_HUB_CACHE)


def hub_offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE), read now."""
    return any(os.environ.get(name, "").strip().lower() in _TRUE for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def is_hub_id(name: str) -> bool:
    """'org/name' or 'name' as the hub accepts it (a path with ./, ../, ~ or / at the start is not)."""
    if not name or name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name:
        return False

    try:
        validate_repo_id(name)
    except ValueError:  # huggingface_hub's HFValidationError
        return False
    return True


def resolve_model(name_or_path: str | Path, revision: str | None = None) -> Path:
    """The local folder of a model: `name_or_path` itself when it exists, else the hub
    snapshot of that id at `revision` (a branch, tag or commit; default 'main')."""
    name = str(name_or_path)
    local = Path(name).expanduser()
    if local.exists():
        if is_hub_id(name):
            log.info("%s: using the local folder %s, not the hub model of that name", name, local.resolve())
        if revision is not None:
            log.warning("--revision %s ignored: %s is a local folder", revision, local)
        return local
    if not is_hub_id(name):
        raise JarobertaError(
            f"{name} does not exist: no such folder, and not a Hugging Face hub id (org/name) either; "
            f"give the path of a model folder or an id such as rinna/japanese-roberta-base"
        )
    return _snapshot(name, revision)


def _snapshot(repo_id: str, revision: str | None) -> Path:
    # The download machinery (hf_api, httpx) costs about a second to import: only hub ids
    # pay it, not `jaroberta --help`, every tokenizer load or a pack worker given a folder.

    cache = hub_cache()
    offline = hub_offline()
    at = f" at revision {revision}" if revision else ""
    download = f"hf download {repo_id}" + (f" --revision {revision}" if revision else "")
    try:
        folder = snapshot_download(repo_id, revision=revision, cache_dir=cache, local_files_only=offline)
    except (RevisionNotFoundError, RepositoryNotFoundError, GatedRepoError) as exc:
        raise JarobertaError(
            f"{repo_id}{at}: not found on the hub ({type(exc).__name__}); check the id and --revision, "
            f"and for a private or gated model log in with `hf auth login`"
        ) from None
    except (LocalEntryNotFoundError, FileNotFoundError) as exc:
        why = "HF_HUB_OFFLINE is set" if offline else "the hub could not be reached"
        raise JarobertaError(
            f"{repo_id}{at} is not in the hub cache {cache} and {why}; download it with `{download}` "
            f"(or `huggingface-cli download {repo_id}`), or give a local folder (there is no folder {repo_id} here)"
        ) from exc
    except (OSError, ValueError) as exc:
        raise JarobertaError(f"{repo_id}{at}: cannot get it from the hub into {cache}: {exc}") from exc
    log.info("%s%s: %s", repo_id, at, folder)
    return Path(folder)
