"""Checkpoints: written atomically, verified before resuming.

A checkpoint is `RUN/checkpoints/step-NNNNNNNN/`:
- the task's model folder (Hugging Face: safetensors, config, tokenizer, conventions, meta);
- `training_state.pt`: optimizer, scheduler, loss scaler, loop counters, the task's data
  cursor and generators (rank 0 writes it);
- `rng-rank{r}.pt`: each process's torch (and CUDA) RNG state, for dropout;
- `checkpoint.json`: step and the sha256 of every file above.

It is assembled in `step-NNNNNNNN.tmp/` and renamed into place only when complete, so a
`step-*` folder without `.tmp` is always whole and the newest one is what `--resume`
continues from: a run killed at any moment leaves the previous checkpoint or the new one,
never half of one. Resuming checks every sum and refuses a damaged checkpoint naming the
file; deleting that checkpoint makes the one before it the newest.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from jaroberta.errors import JarobertaError
from jaroberta.core.files import fresh_dir, sha256_file, write_atomic
from jaroberta.train.distributed import Runtime, barrier

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
MANIFEST = "checkpoint.json"
STATE_FILE = "training_state.pt"


def step_name(step: int) -> str:
    return f"step-{step:08d}"


def save(
    run_dir: Path,
    step: int,
    runtime: Runtime,
    *,
    save_model: Callable[[Path], None],
    state: dict | None,
    keep: int,
) -> Path:
    """Write the checkpoint of `step` (every rank calls this; rank 0 writes all but its RNG)."""
    root = Path(run_dir) / CHECKPOINTS
    final = root / step_name(step)
    tmp = root / (step_name(step) + ".tmp")
    if runtime.is_main:
        fresh_dir(tmp)
        save_model(tmp)
        torch.save(state, tmp / STATE_FILE)
    barrier(runtime)
    torch.save(_rng_state(runtime), tmp / f"rng-rank{runtime.rank}.pt")
    barrier(runtime)
    if runtime.is_main:
        files = sorted(p for p in tmp.rglob("*") if p.is_file())
        write_json(tmp / MANIFEST, {"step": step, "world_size": runtime.world_size,
                                    "sha256": {str(p.relative_to(tmp)): sha256_file(p) for p in files}})
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)  # the commit point: before it the checkpoint does not exist
        _prune(root, keep)
    barrier(runtime)
    return final


def latest(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run, or None when there is none."""
    complete = _complete(Path(run_dir) / CHECKPOINTS)
    return complete[-1] if complete else None


def load_state(directory: Path, runtime: Runtime) -> tuple[dict, dict]:
    """(training state, this rank's RNG state) of a checkpoint already checked with `verify`."""
    state = _torch_load(directory / STATE_FILE)
    rng_file = directory / f"rng-rank{runtime.rank}.pt"
    if not rng_file.exists():
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        raise JarobertaError(f"{directory} was written by {manifest.get('world_size')} processes and has no {rng_file.name}: "
                             f"resume with the same number of processes (torchrun --nproc_per_node)")
    return state, _torch_load(rng_file)


def verify(directory: Path) -> None:
    """Refuse a checkpoint whose manifest is missing or whose files do not match it, naming the file."""
    manifest_path = directory / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        sums = manifest["sha256"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise JarobertaError(f"checkpoint manifest {manifest_path} is missing or corrupt ({exc}); "
                             f"delete {directory} to resume from the one before") from exc
    for name, expected in sums.items():
        path = directory / name
        if not path.exists():
            raise JarobertaError(f"checkpoint file {path} is missing; delete {directory} to resume from the one before")
        if sha256_file(path) != expected:
            raise JarobertaError(f"checkpoint file {path} is corrupt (its sha256 differs from {manifest_path}); "
                                 f"delete {directory} to resume from the one before")


def set_rng_state(rng: dict, runtime: Runtime) -> None:
    torch.set_rng_state(rng["torch"])
    if runtime.device.type == "cuda" and rng.get("cuda") is not None:
        torch.cuda.set_rng_state(rng["cuda"], runtime.device)


def refuse_to_overwrite(run_dir: Path) -> None:
    """A fresh run must not silently mix with an earlier run's checkpoints."""
    if latest(run_dir) is not None:
        raise JarobertaError(f"{run_dir} already holds a run's checkpoints: resume it (resume), "
                             f"or choose another run folder (out)")


def write_json(path: Path, data: dict) -> None:
    write_atomic(Path(path), json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


# -- helpers ------------------------------------------------------------------------------------
def _rng_state(runtime: Runtime) -> dict:
    cuda = torch.cuda.get_rng_state(runtime.device) if runtime.device.type == "cuda" else None
    return {"torch": torch.get_rng_state(), "cuda": cuda}


def _torch_load(path: Path):
    try:
        # weights_only: a checkpoint holds tensors and plain containers, never code to run
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for damaged files
        raise JarobertaError(f"checkpoint file {path} cannot be read ({type(exc).__name__}: {exc}); "
                             f"delete {path.parent} to resume from the one before") from exc


def _complete(root: Path) -> list[Path]:
    """Finished checkpoints, oldest first (zero-padded step numbers sort as names)."""
    return sorted(p for p in root.glob("step-*") if p.is_dir() and not p.name.endswith(".tmp"))


def _prune(root: Path, keep: int) -> None:
    """Keep the newest `keep` checkpoints; drop older ones and leftovers of killed saves."""
    for old in _complete(root)[:-keep]:
        shutil.rmtree(old)
    for leftover in root.glob("step-*.tmp"):
        shutil.rmtree(leftover, ignore_errors=True)
