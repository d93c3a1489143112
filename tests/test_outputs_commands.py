"""Every command that writes a folder or a file, run from outside: the user's files in and beside
OUT never change, a rerun names --resume/--overwrite, and an unwritable OUT is one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from layouts import rinna_dir  # noqa: F401  (module-scoped fixture)
from test_pack import corpus_dir, tokenizer_dir  # noqa: F401  (module-scoped fixtures)

from jaroberta.cli import main
from jaroberta.core.outputs import MANIFEST


@pytest.fixture(scope="module")
def shards_dir(corpus_dir, tokenizer_dir, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("outputs") / "shards"
    assert main(["pack", str(corpus_dir), str(tokenizer_dir), str(out), "--max-length", "32", "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def classify_data(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("outputs") / "train.jsonl"
    rows = [{"text": text, "label": label} for text, label in [("今日は良い天気です。", "晴"), ("雨が降っています。", "雨")] * 4]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


# command -> its argv with OUT as "{out}"; every one of them writes a folder
FOLDER_COMMANDS = {
    "pack": ["pack", "{corpus}", "{tokenizer}", "{out}", "--max-length", "32", "--no-progress"],
    "tokenizer train": ["tokenizer", "train", "{corpus}", "{out}", "--vocab-size", "300", "--no-progress"],
    "pretrain": ["pretrain", "{shards}", "{out}", "--steps", "1", "--preset", "tiny", "--micro-batch", "2",
                 "--eval-limit", "2", "--no-progress"],
    "finetune": ["finetune", "classify", "{model}", "{out}", "--train", "{train}", "--labels", "晴,雨", "--steps", "1", "--batch-size", "4",
                 "--no-progress"],
    "export": ["export", "{model}", "{out}", "--no-progress"],
}


@pytest.fixture
def argv(corpus_dir, tokenizer_dir, shards_dir, rinna_dir, classify_data):  # noqa: F811
    where = {"corpus": corpus_dir, "tokenizer": tokenizer_dir, "shards": shards_dir, "model": rinna_dir,
             "train": classify_data}

    def make(command: str, out: Path, *extra: str) -> list[str]:
        return [word.format(out=out, **where) for word in FOLDER_COMMANDS[command]] + list(extra)
    return make


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err[-2000:]
    [line] = [line for line in err.splitlines() if "error:" in line]
    return line


@pytest.mark.parametrize("command", FOLDER_COMMANDS)
def test_an_out_holding_the_users_files_is_refused_and_untouched(command, argv, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "model").mkdir(parents=True)
    (out / "model" / "weights.bin").write_bytes(b"the user's weights")
    (out / "keep.txt").write_text("the user's notes")
    before = _snapshot(out)
    for extra in ((), ("--overwrite",)):
        assert main(argv(command, out, *extra)) == 2
        line = _one_error_line(capsys)
        assert str(out) in line and "did not write" in line
        assert _snapshot(out) == before


@pytest.mark.parametrize("command", FOLDER_COMMANDS)
def test_reruns_say_how_and_overwrite_keeps_the_users_files(command, argv, tmp_path, capsys):
    beside = tmp_path / "beside"
    beside.mkdir()
    (beside / "data.txt").write_text("next to OUT")
    out = tmp_path / "out"
    assert main(argv(command, out)) == 0
    assert (out / MANIFEST).exists()
    (out / "notes.txt").write_text("added by the user after the run")
    capsys.readouterr()
    assert main(argv(command, out)) == 2
    assert "--overwrite" in _one_error_line(capsys)
    assert main(argv(command, out, "--overwrite")) == 0
    assert (out / "notes.txt").read_text() == "added by the user after the run"
    assert _snapshot(beside) == {"data.txt": b"next to OUT"}


@pytest.mark.parametrize("command", [*FOLDER_COMMANDS, "embed", "dict build"])
@pytest.mark.parametrize("place", ["under-a-file", "system"])
def test_an_unwritable_out_is_one_line_naming_it(command, place, argv, rinna_dir, tmp_path, capsys):  # noqa: F811
    if place == "under-a-file":
        (tmp_path / "file").write_text("")
        parent = tmp_path / "file"
    else:
        parent = Path("/sys")  # refuses new entries, even to root
    if command == "embed":
        out = parent / "vectors.npy"
        args = ["embed", str(rinna_dir), str(out), "今日は良い天気です。"]
    elif command == "dict build":
        (tmp_path / "terms.txt").write_text("高血圧症\n", encoding="utf-8")
        out = parent / "terms.dic"
        args = ["dict", "build", str(tmp_path / "terms.txt"), str(out)]
    else:
        out = parent / "out"
        args = argv(command, out)
    assert main(args) == 2
    assert str(out.parent if command in ("embed", "dict build") and place == "system" else out) in _one_error_line(capsys)
