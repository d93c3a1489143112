"""Output folders: claimed before work, the user's files never touched, one line for every refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from jaroberta.core.outputs import MANIFEST, check_output_file, claim_output, record_output
from jaroberta.errors import JarobertaError


def _write(path: Path, text: str = "x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _run(out: Path, command: str = "pretrain", **kwargs) -> None:
    """A command run: claim, write two files, record."""
    claim_output(out, command, **kwargs)
    _write(out / "model" / "weights.safetensors", "w")
    _write(out / "log.jsonl", "l")
    record_output(out)


def test_absent_and_empty_folders_are_claimed(tmp_path):
    _run(tmp_path / "new" / "run")
    empty = tmp_path / "empty"
    empty.mkdir()
    _run(empty)
    assert (empty / MANIFEST).exists()


def test_a_folder_of_the_users_files_is_refused_and_untouched(tmp_path):
    out = tmp_path / "out"
    _write(out / "model" / "weights.bin", "mine")
    _write(out / "best" / "keep.txt", "mine")
    with pytest.raises(JarobertaError, match=r"did not write \(best/keep.txt, model/weights.bin\)"):
        claim_output(out, "finetune classify", overwrite=True)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == ["best/keep.txt", "model/weights.bin"]


def test_a_rerun_names_resume_and_overwrite(tmp_path):
    _run(tmp_path)
    with pytest.raises(JarobertaError, match="--resume to continue it or --overwrite"):
        claim_output(tmp_path, "pretrain")


def test_overwrite_deletes_only_what_the_command_wrote(tmp_path):
    _run(tmp_path)
    _write(tmp_path / "notes.txt", "the user's")
    _write(tmp_path / "model" / "my-eval.json", "the user's")
    claim_output(tmp_path, "pretrain", overwrite=True)
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == [MANIFEST, "model/my-eval.json", "notes.txt"]
    _write(tmp_path / "log.jsonl", "new")
    record_output(tmp_path)
    claim_output(tmp_path, "pretrain", overwrite=True)  # the user's files survive a second overwrite too
    assert (tmp_path / "notes.txt").read_text() == "the user's"
    assert not (tmp_path / "log.jsonl").exists()


def test_resume_keeps_everything(tmp_path):
    _run(tmp_path)
    claim_output(tmp_path, "pretrain", resume=True)
    assert (tmp_path / "log.jsonl").read_text() == "l"


def test_another_commands_folder_is_refused(tmp_path):
    _run(tmp_path, "pack")
    with pytest.raises(JarobertaError, match="holds the output of `jaroberta pack`"):
        claim_output(tmp_path, "pretrain", overwrite=True)


@pytest.mark.parametrize("make", ["file", "parent-file", "system"])
def test_unwritable_out_is_one_line_naming_the_path(tmp_path, make):
    if make == "file":
        out = tmp_path / "f"
        out.write_text("")
    elif make == "parent-file":
        (tmp_path / "f").write_text("")
        out = tmp_path / "f" / "run"
    else:
        out = Path("/sys/jaroberta-run")  # sysfs refuses new entries even to root
    with pytest.raises(JarobertaError, match=str(out).replace("[", r"\[")) as caught:
        claim_output(out, "pack")
    assert "\n" not in str(caught.value)


def test_a_damaged_manifest_is_named(tmp_path):
    (tmp_path / MANIFEST).write_text("{not json")
    with pytest.raises(JarobertaError, match="is damaged"):
        claim_output(tmp_path, "pack")


@pytest.mark.parametrize(("make", "message"), [
    ("folder", "is a folder"),
    ("missing-parent", "does not exist"),
    ("parent-file", "is a file, not a folder"),
    ("system", "cannot write"),
    ("suffix", "ending in .npy"),
])
def test_file_outputs_are_checked_before_work(tmp_path, make, message):
    if make == "folder":
        path = tmp_path / "out.npy"
        path.mkdir()
    elif make == "missing-parent":
        path = tmp_path / "no" / "out.npy"
    elif make == "parent-file":
        (tmp_path / "f").write_text("")
        path = tmp_path / "f" / "out.npy"
    elif make == "system":
        path = Path("/sys/out.npy")
    else:
        path = tmp_path / "out.txt"
    with pytest.raises(JarobertaError, match=message):
        check_output_file(path, ".npy")


def test_a_writable_file_output_passes_and_leaves_nothing(tmp_path):
    assert check_output_file(tmp_path / "v.npy", ".npy") == tmp_path / "v.npy"
    assert list(tmp_path.iterdir()) == []


def test_resume_does_not_adopt_a_folder_of_the_users_files(tmp_path):
    _write(tmp_path / "model" / "README.md", "the user's")
    with pytest.raises(JarobertaError, match="did not write"):
        claim_output(tmp_path, "pretrain", resume=True)


def test_record_leaves_an_unclaimed_folder_alone(tmp_path):
    _write(tmp_path / "x.txt")
    record_output(tmp_path)
    assert not (tmp_path / MANIFEST).exists()
