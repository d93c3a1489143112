"""Damaged model and tokenizer folders: one line naming the file and what is wrong, exit 2, no traceback."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from jaroberta.cli import main
from jaroberta.errors import JarobertaError
from jaroberta.model.loading import load
from jaroberta.text import load_tokenizer
from layouts import jmed_dir, manbyo_dic, rinna_dir  # noqa: F401  (module-scoped fixtures)


def _cut(name: str, keep: float = 0.5):
    def damage(folder: Path) -> None:
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: int(len(data) * keep)])
    return damage


def _write(name: str, content: bytes | str):
    def damage(folder: Path) -> None:
        path = folder / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return damage


def _edit_config(**changes):
    def damage(folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        (folder / "config.json").write_text(json.dumps({**config, **changes}), encoding="utf-8")
    return damage


def _as_bin(content: bytes):
    def damage(folder: Path) -> None:
        os.remove(folder / "model.safetensors")
        (folder / "pytorch_model.bin").write_bytes(content)
    return damage


def _cut_bin(folder: Path) -> None:
    from safetensors.torch import load_file

    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    os.remove(folder / "model.safetensors")
    _cut("pytorch_model.bin")(folder)


# (damage, file named in the message, what the message says)
RINNA_CASES = {
    "empty config.json": (_write("config.json", ""), "config.json", "empty"),
    "truncated config.json": (_cut("config.json", 0.3), "config.json", "not valid JSON"),
    "config.json a list": (_write("config.json", "[1, 2]"), "config.json", "not an object"),
    "config.json wrong field type": (_edit_config(hidden_size="big"), "config.json", "hidden_size"),
    "config.json positions not a number": (_edit_config(max_position_embeddings="514"), "config.json", "max_position_embeddings"),
    "config.json other shapes": (_edit_config(hidden_size=64, intermediate_size=64), "model.safetensors", "shapes do not match"),
    "safetensors cut in half": (_cut("model.safetensors"), "model.safetensors", "truncated"),
    "safetensors empty": (_write("model.safetensors", b""), "model.safetensors", "empty"),
    "safetensors header only": (_cut("model.safetensors", 0.01), "model.safetensors", "truncated"),
    "safetensors garbage": (_write("model.safetensors", bytes(range(256)) * 8), "model.safetensors", "not a safetensors"),
    "pytorch_model.bin garbage": (_as_bin(bytes(range(256)) * 8), "pytorch_model.bin", "not a PyTorch checkpoint"),
    "pytorch_model.bin an error page": (_as_bin(b"<html>404 Not Found</html>"), "pytorch_model.bin", "not a PyTorch checkpoint"),
    "pytorch_model.bin truncated": (_cut_bin, "pytorch_model.bin", "damaged or truncated"),
    "spiece.model truncated": (_cut("spiece.model", 0.3), "spiece.model", "SentencePiece"),
    "spiece.model empty": (_write("spiece.model", b""), "spiece.model", "empty"),
    "tokenizer_config.json damaged": (_cut("tokenizer_config.json", 0.5), "tokenizer_config.json", "damaged"),
}


def _damaged(source: Path, tmp_path: Path, damage) -> Path:
    folder = tmp_path / "damaged"
    shutil.copytree(source, folder)
    damage(folder)
    return folder


def _one_line_error(capsys, argv: list[str], file_name: str, says: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert file_name in err and says in err, err


@pytest.mark.parametrize("case", RINNA_CASES)
def test_damaged_rinna_folder_is_one_line_for_fill_mask(rinna_dir, tmp_path, capsys, case):
    damage, file_name, says = RINNA_CASES[case]
    folder = _damaged(rinna_dir, tmp_path, damage)
    _one_line_error(capsys, ["fill-mask", str(folder), "今日は[MASK]です。"], file_name, says)


COMMANDS = {
    "score": lambda folder, tmp: ["score", str(folder), "今日は晴れです。"],
    "embed": lambda folder, tmp: ["embed", str(folder), str(tmp / "x.npy"), "--input", str(_text_file(tmp))],
    "predict": lambda folder, tmp: ["predict", str(_as_finetuned(folder)), "今日は晴れです。"],
    "eval perplexity": lambda folder, tmp: ["eval", "perplexity", str(folder), str(tmp)],
    "serve": lambda folder, tmp: ["serve", str(folder), "--port", "0"],
    "finetune": lambda folder, tmp: ["finetune", "classify", str(folder), str(tmp / "ft"), "--train",
                                     str(_labelled_file(tmp)), "--dev", str(_labelled_file(tmp))],
}


def _text_file(tmp: Path) -> Path:
    path = tmp / "in.txt"
    path.write_text("今日は晴れです。\n", encoding="utf-8")
    return path


def _as_finetuned(folder: Path) -> Path:
    """The folder, marked as a fine-tuned classifier (what predict checks before loading)."""
    meta = {"finetune": {"task": "classify", "labels": ["a", "b"]}}
    (folder / "jaroberta_meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder


def _labelled_file(tmp: Path) -> Path:
    path = tmp / "train.jsonl"
    rows = [{"text": "今日は晴れです。", "label": "a"}, {"text": "雨が降る。", "label": "b"}] * 4
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", ["safetensors cut in half", "empty config.json", "spiece.model truncated"])
def test_every_loading_command_says_which_file(rinna_dir, tmp_path, capsys, command, case):
    damage, file_name, says = RINNA_CASES[case]
    folder = _damaged(rinna_dir, tmp_path, damage)
    _one_line_error(capsys, COMMANDS[command](folder, tmp_path), file_name, says)


JMED_CASES = {
    "vocab.txt empty": (_write("vocab.txt", ""), "vocab.txt", "empty"),
    "vocab.txt cut before [UNK]": (_write("vocab.txt", "[PAD]\n"), "vocab.txt", "no .UNK. token"),
    "vocab.txt not UTF-8": (_write("vocab.txt", b"[PAD]\n\xff\xfe\x00\n"), "vocab.txt", "not UTF-8"),
    "tokenizer_config.json a list": (_write("tokenizer_config.json", "[]"), "tokenizer_config.json", "not an object"),
    "mecab_kwargs not an object": (
        lambda d: _write("tokenizer_config.json", json.dumps({**json.loads((d / "tokenizer_config.json").read_text()),
                                                              "mecab_kwargs": "ipadic"}))(d),
        "tokenizer_config.json", "mecab_kwargs"),
    "mecab_option not a string": (
        lambda d: _write("tokenizer_config.json", json.dumps({**json.loads((d / "tokenizer_config.json").read_text()),
                                                              "mecab_kwargs": {"mecab_option": 5}}))(d),
        "tokenizer_config.json", "mecab_option"),
}


@pytest.mark.parametrize("case", JMED_CASES)
def test_damaged_jmed_tokenizer_is_a_clear_error(jmed_dir, manbyo_dic, tmp_path, case):
    damage, file_name, says = JMED_CASES[case]
    folder = _damaged(jmed_dir, tmp_path, damage)
    with pytest.raises(JarobertaError, match=says) as info:
        load_tokenizer(folder, user_dicts=[manbyo_dic])
    assert file_name in str(info.value)


@pytest.mark.parametrize("damage, says", [
    (lambda d: (d / "jaroberta_tokenizer.json").write_text("{", encoding="utf-8"), "jaroberta_tokenizer.json"),
    (lambda d: (d / "jaroberta_tokenizer.json").write_text("[]", encoding="utf-8"), "jaroberta_tokenizer.json"),
    (lambda d: (d / "jaroberta_conventions.json").write_text("[]", encoding="utf-8"), "jaroberta_conventions.json"),
    (lambda d: (d / "jaroberta_meta.json").write_text("{", encoding="utf-8"), "jaroberta_meta.json"),
])
def test_damaged_sidecars_of_our_own_folders(rinna_dir, tmp_path, damage, says):
    from jaroberta.model.families import get_family
    from jaroberta.model.saving import save_model
    from jaroberta.finetune.finetuned import load_finetuned

    lm = load(rinna_dir)
    conventions = get_family("rinna").conventions_for(lm.tokenizer.normalization, 64)
    folder = save_model(tmp_path / "ours", lm.model, lm.tokenizer, conventions, {"step": 0})
    damage(folder)
    with pytest.raises(JarobertaError, match=says):
        load(folder) if "meta" not in says else load_finetuned(folder)


@pytest.mark.parametrize("case", ["safetensors cut in half", "pytorch_model.bin garbage", "config.json wrong field type"])
def test_pretrain_init_from_a_damaged_model_names_the_file(rinna_dir, tmp_path, case):
    from jaroberta.train.pretrain import _load_hf_model

    damage, file_name, says = RINNA_CASES[case]
    with pytest.raises(JarobertaError, match=says) as info:
        _load_hf_model(_damaged(rinna_dir, tmp_path, damage))
    assert file_name in str(info.value)


# -- vocabularies that no longer match the model ------------------------------------------
def _keep_lines(name: str, n: int):
    def damage(folder: Path) -> None:
        lines = (folder / name).read_text(encoding="utf-8").splitlines(keepends=True)
        (folder / name).write_text("".join(lines[:n]), encoding="utf-8")
    return damage


def _shuffle_lines(name: str):
    def damage(folder: Path) -> None:
        import random

        lines = (folder / name).read_text(encoding="utf-8").splitlines(keepends=True)
        head, rest = lines[:5], lines[5:]  # specials stay: only the words move
        random.Random(0).shuffle(rest)
        (folder / name).write_text("".join(head + rest), encoding="utf-8")
    return damage


def _other_spiece(small: bool):
    """spiece.model replaced by another model: of about the same size, or a small one."""
    def damage(folder: Path) -> None:
        from layouts import train_rinna_spiece

        sentences = ["べつの文章です。", "ほかの言葉を学ぶ。"] * 20 + ([] if small else _sentences()[::-1][:30])
        other = train_rinna_spiece(folder / "other", sentences, vocab_size=40 if small else 400)
        shutil.copyfile(other, folder / "spiece.model")
        shutil.rmtree(folder / "other")
    return damage


def _fast_pieces_reordered(folder: Path) -> None:
    data = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = data["model"]["vocab"]
    vocab[10], vocab[11] = vocab[11], vocab[10]
    (folder / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _sentences() -> list[str]:
    from conftest import JA_SENTENCES

    return list(JA_SENTENCES)


@pytest.fixture(scope="module")
def our_folders(rinna_dir, jmed_dir, manbyo_dic, tmp_path_factory) -> dict[str, Path]:
    """Both families saved by jaroberta (sidecar with the tokenizer's fingerprint)."""
    from jaroberta.model.families import get_family
    from jaroberta.model.saving import save_model

    folders = {}
    for family, source, dicts in (("rinna", rinna_dir, None), ("jmedroberta", jmed_dir, [manbyo_dic])):
        lm = load(source, user_dicts=dicts)
        conventions = get_family(family).conventions_for(lm.tokenizer.normalization, 64)
        folders[family] = save_model(tmp_path_factory.mktemp(family), lm.model, lm.tokenizer, conventions, {"step": 0})
    return folders


# (family, damage, file named in the message)
VOCABULARY_CASES = {
    "vocab.txt cut to 10 lines": ("jmedroberta", _keep_lines("vocab.txt", 10), "vocab.txt"),
    "vocab.txt shuffled": ("jmedroberta", _shuffle_lines("vocab.txt"), "vocab.txt"),
    "spiece.model swapped": ("rinna", _other_spiece(small=False), "spiece.model"),
    "spiece.model swapped, smaller": ("rinna", _other_spiece(small=True), "spiece.model"),
    "tokenizer.json reordered": ("rinna", _fast_pieces_reordered, "tokenizer.json"),
}


@pytest.mark.parametrize("case", VOCABULARY_CASES)
def test_a_vocabulary_that_is_not_the_saved_one_is_refused_before_any_work(our_folders, tmp_path, case):
    family, damage, file_name = VOCABULARY_CASES[case]
    folder = _damaged(our_folders[family], tmp_path, damage)
    with pytest.raises(JarobertaError, match=file_name) as info:
        load(folder)
    assert str(folder) in str(info.value) and len(str(info.value).splitlines()) == 1
    with pytest.raises(JarobertaError, match=file_name):
        load_tokenizer(folder)


@pytest.mark.parametrize("command", ["fill-mask", "export", *COMMANDS])
@pytest.mark.parametrize("case", ["vocab.txt cut to 10 lines", "vocab.txt shuffled", "spiece.model swapped"])
def test_every_command_names_the_vocabulary_that_changed(our_folders, tmp_path, capsys, command, case):
    family, damage, file_name = VOCABULARY_CASES[case]
    folder = _damaged(our_folders[family], tmp_path, damage)
    argv = {
        "fill-mask": lambda: ["fill-mask", str(folder), "今日は[MASK]です。"],
        "export": lambda: ["export", str(folder), str(tmp_path / "exported")],
    }.get(command, lambda: COMMANDS[command](folder, tmp_path))()
    _one_line_error(capsys, argv, file_name, "not the vocabulary this tokenizer was saved with")


def test_the_saved_folders_load_as_they_are(our_folders):
    for folder in our_folders.values():
        assert load(folder).tokenizer.vocab_size > 100


# Published layouts record no fingerprint: the vocabulary's size is checked against the embedding.
@pytest.mark.parametrize("layout, damage, file_name", [
    ("jmed", _keep_lines("vocab.txt", 10), "vocab.txt"),
    ("rinna", _other_spiece(small=True), "spiece.model"),
])
def test_a_published_layout_with_a_vocabulary_far_smaller_than_its_embedding(rinna_dir, jmed_dir, manbyo_dic, tmp_path,
                                                                             capsys, layout, damage, file_name):
    folder = _damaged(jmed_dir if layout == "jmed" else rinna_dir, tmp_path, damage)
    argv = ["fill-mask", str(folder), "今日は[MASK]です。"] + (["--user-dict", str(manbyo_dic)] if layout == "jmed" else [])
    _one_line_error(capsys, argv, file_name, "rows (config.json vocab_size)")
