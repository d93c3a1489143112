"""A Hugging Face hub cache on disk, as `hf download` leaves it, for offline tests.

`models--org--name/blobs/<digest>` holds the bytes, `snapshots/<commit>/<file>` links to
them, and `refs/<branch>` names the commit: huggingface_hub reads exactly this.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def write_hub_cache(cache: Path, repo_id: str, folder: Path, commit: str, ref: str | None = "main") -> Path:
    """Put the files of `folder` into `cache` as `repo_id` at `commit` (and `ref` -> commit)."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "blobs").mkdir(exist_ok=True)
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snapshot / path.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    if ref:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    return snapshot
