"""`jaroberta tokenizer train|encode|info`, run through `jaroberta.cli.main` as a user would."""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import pytest

from jaroberta.cli import main
from jaroberta.text import load_tokenizer
from jaroberta.text.userdict import DICT_PATH_ENV, build_user_dictionary

DISEASE = "糖尿病性腎症"


def run(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def _no_ambient_dictionaries(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv(DICT_PATH_ENV, raising=False)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, ja_sentences):
    path = tmp_path_factory.mktemp("corpus") / "sentences.txt"
    path.write_text("\n".join(ja_sentences + [f"患者は{DISEASE}と診断された。"]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def dic(tmp_path_factory):
    out = tmp_path_factory.mktemp("dic") / "med.dic"
    build_user_dictionary([DISEASE], out)
    return out


@pytest.fixture(scope="module")
def folders(tmp_path_factory, corpus, dic):
    """One folder per family, trained through the CLI."""
    base = tmp_path_factory.mktemp("cli")
    sp, wp = base / "sp", base / "wp"
    code, stdout, stderr = run("tokenizer", "train", corpus, sp, "--family", "rinna", "--vocab-size", 300)
    assert code == 0, stderr
    assert f"rinna tokenizer (sentencepiece), vocab 300, written to {sp}" in stdout
    code, stdout, stderr = run("tokenizer", "train", corpus, wp, "--family", "jmedroberta", "--vocab-size", 300,
                               "--min-frequency", 1, "--user-dict", dic)
    assert code == 0, stderr
    assert "jmedroberta tokenizer (mecab-wordpiece)" in stdout
    return {"sentencepiece": sp, "mecab-wordpiece": wp}


@pytest.mark.parametrize("family", ["sentencepiece", "mecab-wordpiece"])
def test_encode_json_matches_the_library(folders, family):
    texts = ["今日は天気が良い。", f"患者は{DISEASE}と[MASK]された。"]
    code, stdout, _ = run("tokenizer", "encode", folders[family], *texts, "--json")
    assert code == 0
    records = [json.loads(line) for line in stdout.splitlines()]
    tok = load_tokenizer(folders[family])
    for record, text in zip(records, texts, strict=True):
        enc = tok.encode(text)
        assert record["text"] == text and record["ids"] == enc.ids and record["tokens"] == enc.tokens
        assert [tuple(o) for o in record["offsets"]] == enc.offsets
    assert records[1]["ids"].count(tok.special_ids["mask"]) == 1


def test_encode_reads_input_file_and_prints_unknowns(folders, tmp_path):
    lines = tmp_path / "in.txt"
    lines.write_text("今日は天気が良い。\n😀\n", encoding="utf-8")
    code, stdout, _ = run("tokenizer", "encode", folders["mecab-wordpiece"], "--input", lines)
    assert code == 0
    assert stdout.count("  tokens :") == 2 and "unknown pieces: 1" in stdout


def test_info_describes_family_and_dictionaries(folders, dic):
    code, stdout, _ = run("tokenizer", "info", folders["mecab-wordpiece"])
    assert code == 0
    info = dict(line.split(":", 1) for line in stdout.splitlines())
    info = {k.strip(): v.strip() for k, v in info.items()}
    assert info["tokenizer_kind"] == "mecab-wordpiece"
    assert info["vocab_size"] == str(load_tokenizer(folders["mecab-wordpiece"]).vocab_size)
    assert info["normalization"] == "full-width" and info["system dictionary"] == "ipadic"
    assert info["user dictionaries"].startswith("med.dic (sha256 ")
    code, stdout, _ = run("tokenizer", "info", folders["sentencepiece"])
    assert code == 0 and "tokenizer_kind    : sentencepiece" in stdout and "lower-case" in stdout


def test_info_json_is_the_table_as_an_object(folders):
    code, stdout, _ = run("tokenizer", "info", folders["mecab-wordpiece"], "--json")
    assert code == 0
    info = json.loads(stdout)
    assert info["tokenizer_kind"] == "mecab-wordpiece" and info["system dictionary"] == "ipadic"
    assert info["vocab_size"] == load_tokenizer(folders["mecab-wordpiece"]).vocab_size


def test_encode_reads_stdin(folders, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("今日は天気が良い。\n\n猫が好きだ。\n"))
    code, stdout, stderr = run("tokenizer", "encode", folders["sentencepiece"], "--input", "-", "--json")
    assert code == 0, stderr
    assert [json.loads(line)["text"] for line in stdout.splitlines()] == ["今日は天気が良い。", "猫が好きだ。"]


def test_missing_dictionary_then_user_dict_option(folders, dic, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(folders["mecab-wordpiece"], moved)
    (moved / "med.dic").unlink()
    code, _, stderr = run("tokenizer", "encode", moved, DISEASE)
    assert code == 2 and "med.dic not found" in stderr and "--user-dict PATH" in stderr
    assert len(stderr.strip().splitlines()) == 1
    code, stdout, _ = run("tokenizer", "encode", moved, DISEASE, "--user-dict", dic, "--json")
    assert code == 0 and set(json.loads(stdout)["word_ids"]) == {0}  # the whole disease name is one MeCab word


@pytest.mark.parametrize(
    "argv,message",
    [
        (["tokenizer", "encode", "{tmp}/nope", "text"], "does not exist"),
        (["tokenizer", "info", "{tmp}"], "is not a tokenizer folder"),
        (["tokenizer", "train", "{tmp}/missing.txt", "{tmp}/out"], "missing.txt does not exist"),
        (["tokenizer", "train", "{tmp}/c.txt", "{tmp}/out", "--family", "rinna", "--user-dict", "{tmp}/x.dic"],
         "only apply to the mecab-wordpiece kind"),
    ],
)
def test_errors_are_one_line(tmp_path, argv, message):
    (tmp_path / "c.txt").write_text("今日は天気が良い。\n", encoding="utf-8")
    code, _, stderr = run(*[a.format(tmp=tmp_path) for a in argv])
    assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1


def test_encode_without_text_is_an_error(folders):
    code, _, stderr = run("tokenizer", "encode", folders["sentencepiece"])
    assert code == 2 and "no text given" in stderr


def test_info_reads_a_sidecar_written_before_tokenizer_kind(folders, tmp_path):
    """The sidecar's key was "family"; folders saved then still load and say their kind."""
    old = tmp_path / "old"
    shutil.copytree(folders["sentencepiece"], old)
    sidecar = old / "jaroberta_tokenizer.json"
    data = json.loads(sidecar.read_text(encoding="utf-8"))
    data["family"] = data.pop("tokenizer_kind")
    sidecar.write_text(json.dumps(data), encoding="utf-8")
    code, stdout, _ = run("tokenizer", "info", old, "--json")
    assert code == 0 and json.loads(stdout)["tokenizer_kind"] == "sentencepiece"
