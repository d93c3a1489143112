"""Output folders that never cost the user a file.

Every command that writes a folder claims it first (`claim_output`). OUT may be absent, empty,
or a previous run of the *same* command, recognised by the manifest that command left there
(`.jaroberta-output.json`). A previous run is continued with `resume` or replaced with
`overwrite`, and `overwrite` deletes only the files that command recorded as its own
(`record_output`): anything the user put into the folder stays. A folder holding files no
jaroberta command wrote, or another command's output, is refused with its name and a few of
its files; so is a folder that cannot be written, before any work is done.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from jaroberta.core.files import write_atomic
from jaroberta.errors import JarobertaError

MANIFEST = ".jaroberta-output.json"
"""The file, inside OUT, naming the command that wrote the folder and the files it wrote."""


@dataclass
class Manifest:
    command: str
    """The jaroberta command that owns the folder (`pretrain`, `finetune classify`, ...)."""
    written: list[str] = field(default_factory=list)
    """Files (relative paths) the command wrote: the only ones `overwrite` may delete."""
    foreign: list[str] = field(default_factory=list)
    """Files found in the folder that the command did not write: never touched."""

    @classmethod
    def read(cls, out: Path) -> Manifest | None:
        try:
            data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
            return cls(command=str(data["command"]), written=list(data.get("written", [])),
                       foreign=list(data.get("foreign", [])))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise JarobertaError(f"{out / MANIFEST} is damaged ({exc}): choose another OUT, or delete the folder "
                                 "if nothing in it is yours") from exc

    def write(self, out: Path) -> None:
        write_atomic(out / MANIFEST, json.dumps({"command": self.command, "written": sorted(set(self.written)),
                                                 "foreign": sorted(set(self.foreign))}, ensure_ascii=False, indent=1) + "\n")


def _files(out: Path) -> list[str]:
    """Every file under `out` (relative, '/'-separated), the manifest left out."""
    found = []
    for root, _, names in os.walk(out):
        for name in names:
            relative = (Path(root) / name).relative_to(out).as_posix()
            if relative != MANIFEST:
                found.append(relative)
    return sorted(found)


def _sample(names: list[str], shown: int = 3) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def claim_output(out: str | Path, command: str, *, overwrite: bool = False, resume: bool = False) -> Path:
    """Make `out` this command's folder, or say in one line why it cannot be.

    `resume`: continue a previous run of `command` in `out` (nothing deleted).
    `overwrite`: replace a previous run of `command`: the files it recorded are deleted, others kept.
    Without either, a previous run is refused, naming both ways on."""
    out = Path(out)
    _check_writable(out)
    manifest = Manifest.read(out)
    present = _files(out)
    if manifest is None:
        if present:
            raise JarobertaError(f"OUT {out} already holds files that `jaroberta {command}` did not write "
                                 f"({_sample(present)}): choose a new or empty folder")
        Manifest(command).write(out)
        return out
    if manifest.command != command:
        raise JarobertaError(f"OUT {out} holds the output of `jaroberta {manifest.command}`, not of "
                             f"`jaroberta {command}`: choose a new or empty folder")
    unknown = [name for name in present if name not in manifest.written and name not in manifest.foreign]
    manifest.foreign.extend(unknown)
    if resume:
        manifest.write(out)
        return out
    if not overwrite:
        if not manifest.written:  # claimed, nothing written yet: a run that stopped before its first file
            manifest.write(out)
            return out
        raise JarobertaError(f"OUT {out} holds a previous `jaroberta {command}` run: pass --resume to continue it "
                             f"or --overwrite to replace what it wrote ({len(manifest.written)} files; "
                             f"{len(manifest.foreign)} other files kept either way)")
    _delete(out, manifest.written)
    manifest.written = []
    manifest.write(out)
    return out


def record_output(out: str | Path) -> None:
    """Record every file now in `out` that was not there as someone else's as written by the
    command that claimed the folder (call after writing, and at checkpoints, so that a run
    killed later is still replaceable). A folder nobody claimed is left alone."""
    out = Path(out)
    manifest = Manifest.read(out) if out.is_dir() else None
    if manifest is None:
        return
    foreign = set(manifest.foreign)
    manifest.written = [name for name in _files(out) if name not in foreign]
    manifest.write(out)


def check_output_file(path: str | Path, suffix: str | None = None) -> Path:
    """A file output (`embed`'s .npy, `dict build`'s .dic): its folder must exist and take a file,
    and the path must not be a folder, checked before any work; one line naming the path otherwise."""
    path = Path(path)
    if suffix is not None and path.suffix != suffix:
        raise JarobertaError(f"{path}: give a file name ending in {suffix}")
    if path.is_dir():
        raise JarobertaError(f"{path} is a folder: give a file path ending in {path.suffix or suffix or 'a suffix'}")
    if not path.parent.exists():
        raise JarobertaError(f"{path}: folder {path.parent} does not exist; create it first")
    if not path.parent.is_dir():
        raise JarobertaError(f"{path}: {path.parent} is a file, not a folder; choose another path")
    probe = path.parent / (path.name + ".probe")
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise JarobertaError(f"cannot write {path}: {exc.strerror or exc}; choose a folder you can write to") from None
    return path


def _check_writable(out: Path) -> None:
    """Create `out` (and its parents) and prove it takes a file, or one line naming the path."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / (MANIFEST + ".probe")
        probe.write_bytes(b"")
        probe.unlink()
    except FileExistsError:
        raise JarobertaError(f"OUT {out} is a file, not a folder: choose a folder path") from None
    except NotADirectoryError:
        raise JarobertaError(f"OUT {out}: a parent of it is a file, not a folder: choose another path") from None
    except OSError as exc:
        raise JarobertaError(f"cannot write into OUT {out}: {exc.strerror or exc}; choose a folder you can write to") from None


def _delete(out: Path, names: list[str]) -> None:
    """Delete the recorded files, then the folders they leave empty (never the user's)."""
    for name in names:
        (out / name).unlink(missing_ok=True)
    for root, _, _ in sorted(os.walk(out), key=lambda entry: -len(entry[0])):
        folder = Path(root)
        if folder != out and not any(folder.iterdir()):
            folder.rmdir()
