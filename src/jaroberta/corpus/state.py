"""What a `corpus build` leaves on disk while it runs: the resume state and each input's part files.

`BuildState` is `.state/` in the corpus folder: the build's options and inputs
(`build.json`), and per finished input a completion marker with its counts and the files
of digests it added to the dedup sets. A rerun with the same options skips finished inputs
and reloads their digests, so the dedup state is what an uninterrupted build would hold.

`PartFiles` are one input's outputs (train, dev, rejected, digests), written as
`*.partial` and renamed together when the input is finished: an input killed half-way
leaves nothing a rerun would take for finished.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np

from jaroberta.corpus import layout
from jaroberta.corpus.readers import InputFile, input_key
from jaroberta.errors import JarobertaError
from jaroberta.core.files import write_atomic

DIGEST_KINDS = ("sentences", "documents", "signatures")
"""What each input adds to the dedup state, one `.u64` file each."""


class BuildState:
    """`.state/` in the corpus folder: the build's options and inputs, and finished inputs."""

    def __init__(self, out: Path, fingerprint: dict, shard: tuple[int, int], inputs: list[InputFile], overwrite: bool):
        self.out = out
        self.folder = out / layout.STATE_DIR
        self.keys = [input_key(i, item) for i, item in enumerate(inputs)]
        self.suffix = "" if shard[1] == 1 else f".s{shard[0]}of{shard[1]}"
        plan = {"options": fingerprint, "inputs": [[key, str(item.path), item.size] for key, item in zip(self.keys, inputs)]}
        self._open(json.loads(json.dumps(plan)), overwrite)  # as it reads back from disk (tuples -> lists)

    def _open(self, plan: dict, overwrite: bool) -> None:
        out = self.out
        plan_file = self.folder / "build.json"
        if plan_file.exists() and not overwrite:
            previous = json.loads(plan_file.read_text(encoding="utf-8"))
            if previous == plan:
                return
            raise JarobertaError(
                f"{out} holds a build made with other inputs or options: pass --overwrite to start over, or choose another OUT"
            )
        if out.exists() and not out.is_dir():
            raise JarobertaError(f"OUT {out} exists and is not a folder")
        if out.exists() and any(out.iterdir()) and not plan_file.exists() and not overwrite:
            raise JarobertaError(f"OUT {out} is not empty and is not a corpus folder: choose another OUT, or rebuild it with overwrite (--overwrite)")
        for name in (*layout.SPLITS, layout.REJECTED_DIR, layout.STATE_DIR):
            shutil.rmtree(out / name, ignore_errors=True)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(plan_file, json.dumps(plan, ensure_ascii=False, indent=1) + "\n")
        except OSError as exc:
            raise JarobertaError(f"cannot write the corpus folder {out}: {exc.strerror or exc}") from exc

    def part_name(self, key: str) -> str:
        return key + self.suffix

    def marker(self, key: str) -> Path:
        return self.folder / f"{self.part_name(key)}.done.json"

    def finished(self, key: str) -> dict | None:
        marker = self.marker(key)
        return json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else None

    def digest_file(self, key: str, kind: str) -> Path:
        return self.folder / f"{self.part_name(key)}.{kind}.u64"

    def digests(self, key: str, kind: str) -> np.ndarray | None:
        """What a finished input added to the `kind` dedup set (None where it added nothing)."""
        path = self.digest_file(key, kind)
        return np.fromfile(path, dtype="<u8").astype(np.uint64, copy=False) if path.exists() else None

    def finish(self, key: str, record: dict) -> None:
        write_atomic(self.marker(key), json.dumps(record, ensure_ascii=False, indent=1) + "\n")

    def records(self) -> list[dict]:
        return [record for key in self.keys if (record := self.finished(key)) is not None]


class PartFiles:
    """The part files of one input (train, dev, rejected, digests), committed atomically."""

    def __init__(self, out: Path, state: BuildState, key: str, keep_rejected: bool):
        name = state.part_name(key)
        self.final = {split: out / split / f"{name}{layout.PART_SUFFIX}" for split in layout.SPLITS}
        self.final["rejected"] = out / layout.REJECTED_DIR / f"{name}.jsonl"
        for kind in DIGEST_KINDS:
            self.final[kind] = state.digest_file(key, kind)
        self.keep_rejected = keep_rejected
        self.handles: dict[str, object] = {}
        self.stats = {split: {"documents": 0, "sentences": 0, "characters": 0} for split in layout.SPLITS}
        self.documents = 0
        self.min_train: int | None = None
        for path in self.final.values():  # leftovers of an interrupted run
            path.unlink(missing_ok=True)
            path.with_name(path.name + ".partial").unlink(missing_ok=True)

    def _handle(self, kind: str, binary: bool = False):
        if kind not in self.handles:
            path = self.final[kind]
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".partial")
            self.handles[kind] = open(partial, "wb") if binary else open(partial, "w", encoding="utf-8")
        return self.handles[kind]

    def write(self, split: str, document: list[str], digest: int) -> None:
        layout.write_documents(self._handle(split), [document])
        stats = self.stats[split]
        stats["documents"] += 1
        stats["sentences"] += len(document)
        stats["characters"] += sum(map(len, document))
        self.documents += 1
        if split == "train" and (self.min_train is None or digest < self.min_train):
            self.min_train = digest

    def add_digests(self, kind: str, values: np.ndarray) -> None:
        if len(values):
            values.astype("<u8", copy=False).tofile(self._handle(kind, binary=True))

    def reject(self, rule: str, document: list[str], counts: Counter) -> None:
        unit = "documents" if rule != "sentence_dedup" else "sentences"
        counts[f"{rule}:dropped_{unit}"] += 1
        counts[f"{rule}:dropped_characters"] += sum(map(len, document))
        if self.keep_rejected:
            record = {"rule": rule, "text": "\n".join(document)}
            self._handle("rejected").write(json.dumps(record, ensure_ascii=False) + "\n")

    def write_rejected(self, rejected: list[tuple[str, str]]) -> None:
        handle = self._handle("rejected") if rejected else None
        for rule, text in rejected:
            handle.write(json.dumps({"rule": rule, "text": text}, ensure_ascii=False) + "\n")

    def commit(self) -> None:
        for kind, handle in self.handles.items():
            handle.close()
            path = self.final[kind]
            os.replace(path.with_name(path.name + ".partial"), path)
        self.handles = {}

    def discard(self) -> None:
        for kind, handle in self.handles.items():
            handle.close()
            path = self.final[kind]
            path.with_name(path.name + ".partial").unlink(missing_ok=True)
        self.handles = {}
