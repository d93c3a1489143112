"""One vocabulary of flags: old spellings still parse to the new meaning, `--device auto`
everywhere through one resolver, `--json` where a command reports something, and
`jaroberta --help` without torch."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from layouts import rinna_dir  # noqa: F401  (module-scoped fixture)
from test_pack import corpus_dir, tokenizer_dir  # noqa: F401  (module-scoped fixtures)

from jaroberta import api
from jaroberta.cli import build_parser, main
from jaroberta.commands import finetune as finetune_command
from jaroberta.commands import train as train_command
from jaroberta.commands.train import _batch_size
from jaroberta.errors import JarobertaError
from jaroberta.model.device import resolve_device
from jaroberta.core.progress import bars_off, progress_bar


def parse(argv: list[str]):
    return build_parser(argv).parse_args(argv)


# (old argv, new argv, dest): the old spelling is hidden from --help but means the same.
ALIASES = [
    (["eval", "perplexity", "M", "C", "--rate", "0.2"], ["eval", "perplexity", "M", "C", "--mask-rate", "0.2"], "mask_rate"),
    (["eval", "perplexity", "M", "C", "--seed", "3"], ["eval", "perplexity", "M", "C", "--mask-seed", "3"], "mask_seed"),
    (["eval", "perplexity", "M", "C", "--max-documents", "5"], ["eval", "perplexity", "M", "C", "--eval-limit", "5"], "eval_limit"),
    (["pack", "C", "T", "O", "--seq-len", "64"], ["pack", "C", "T", "O", "--max-length", "64"], "max_length"),
    (["pretrain", "S", "O", "--steps", "1", "--eval-rows", "8"], ["pretrain", "S", "O", "--steps", "1", "--eval-limit", "8"], "eval_limit"),
    (["serve", "M", "--threads", "2"], ["serve", "M", "--workers", "2"], "threads"),
    (["serve", "M", "--max-text-chars", "99"], ["serve", "M", "--max-chars", "99"], "max_text_chars"),
    (["dict", "build", "T", "O.dic", "--normalize", "nfkc"], ["dict", "build", "T", "O.dic", "--normalization", "nfkc"], "normalization"),
]


@pytest.mark.parametrize(("old", "new", "dest"), ALIASES, ids=[" ".join(a[0][:2]) + " " + a[0][-2] for a in ALIASES])
def test_old_spelling_means_the_new_one(old, new, dest):
    assert getattr(parse(old), dest) == getattr(parse(new), dest)
    assert getattr(parse(old), dest) != getattr(parse(new[: -2]), dest)  # and differs from the default


@pytest.mark.parametrize(("old", "new", "dest"), ALIASES[:1] + ALIASES[3:4])
def test_old_spelling_is_hidden_from_help(old, new, dest, capsys):
    command = [w for w in old if not w[0].isupper()][:-2]
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    out = capsys.readouterr().out
    assert new[-2] in out and old[-2] not in out


def test_pretrain_accumulation_is_a_batch_size():
    args = parse(["pretrain", "S", "O", "--steps", "1", "--micro-batch", "4", "--accumulation", "3"])
    assert _batch_size(args) == 12
    assert _batch_size(parse(["pretrain", "S", "O", "--steps", "1", "--batch-size", "8"])) == 8
    with pytest.raises(JarobertaError, match="not both"):
        _batch_size(parse(["pretrain", "S", "O", "--steps", "1", "--batch-size", "8", "--accumulation", "2"]))
    assert api._accumulation(16, 4, 2) == 2
    with pytest.raises(JarobertaError, match="multiple of --micro-batch 4"):
        api._accumulation(10, 4, 1)


@pytest.mark.parametrize("argv", [
    ["MODEL", "DATA", "OUT"],  # the old order
    ["MODEL", "OUT", "--train", "DATA"],
])
def test_finetune_old_and_new_order_mean_the_same(argv, monkeypatch):
    seen = {}

    def fake_finetune(task, model, out, **kwargs):
        seen.update(task=task, model=str(model), out=str(out), train=str(kwargs["train"]))
        raise JarobertaError("stop here")

    monkeypatch.setattr(finetune_command.api, "finetune", fake_finetune)
    assert main(["finetune", "classify", *argv]) == 2
    assert seen == {"task": "classify", "model": "MODEL", "out": "OUT", "train": "DATA"}


def test_finetune_needs_train_or_dataset(capsys):
    assert main(["finetune", "classify", "MODEL", "OUT"]) == 2
    assert "--train FILE" in capsys.readouterr().err


# -- --device ------------------------------------------------------------------------------------------
MODEL_COMMANDS = [["fill-mask"], ["score"], ["embed"], ["eval", "perplexity"], ["serve"], ["predict"],
                  ["finetune", "ner"], ["pretrain"]]


@pytest.mark.parametrize("path", MODEL_COMMANDS, ids=" ".join)
def test_every_model_command_has_device_auto(path):
    leaf = build_parser(path)
    for name in path:
        leaf = next(a for a in leaf._actions if a.dest in ("command", "eval_command", "task")).choices[name]
    (device,) = [a for a in leaf._actions if "--device" in a.option_strings]
    assert device.default == "auto"


@pytest.mark.parametrize(("name", "cuda", "local_rank", "expected"), [
    ("auto", False, 0, "cpu"),
    ("auto", True, 0, "cuda:0"),
    ("auto", True, 1, "cuda:1"),
    ("cpu", True, 0, "cpu"),
    ("cuda", True, 0, "cuda:0"),
    ("cuda:1", True, 0, "cuda:1"),
])
def test_resolve_device(name, cuda, local_rank, expected, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert resolve_device(name, local_rank) == expected


@pytest.mark.parametrize("name", ["cuda", "gpu0"])
def test_resolve_device_refuses_what_is_not_there(name, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(JarobertaError, match="--device"):
        resolve_device(name)


def test_device_on_fill_mask_and_a_bad_device(rinna_dir, capsys):  # noqa: F811
    assert main(["fill-mask", str(rinna_dir), "今日は[MASK]が良い。", "--device", "cpu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == "今日は[MASK]が良い。"
    assert main(["score", str(rinna_dir), "今日は天気が良い。", "--device", "gpu0"]) == 2
    assert "--device 'gpu0'" in capsys.readouterr().err


def test_load_auto_is_cpu_without_cuda(rinna_dir):  # noqa: F811
    model = api.load(rinna_dir)
    assert model.lm.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert model.conventions == model.lm.conventions  # the wrapper answers for the loaded model


# -- outputs ------------------------------------------------------------------------------------------
def test_embed_positional_out_and_the_old_out_flag(rinna_dir, tmp_path, capsys):  # noqa: F811
    texts = tmp_path / "texts.txt"
    texts.write_text("猫が好きだ。\n犬が好きだ。\n", encoding="utf-8")
    assert main(["embed", str(rinna_dir), str(tmp_path / "a.npy"), "--input", str(texts)]) == 0
    assert main(["embed", str(rinna_dir), "--input", str(texts), "--out", str(tmp_path / "b.npy")]) == 0
    assert main(["embed", str(rinna_dir), str(tmp_path / "c.npy"), "猫が好きだ。", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["rows"] == 1 and summary["path"] == str(tmp_path / "c.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy")[:1], np.load(tmp_path / "c.npy"))


def test_pack_json(corpus_dir, tokenizer_dir, tmp_path, capsys):  # noqa: F811
    assert main(["pack", str(corpus_dir), str(tokenizer_dir), str(tmp_path / "s"), "--max-length", "32", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["max_length"] == 32 and report["splits"]["dev"]["rows"] > 0


def test_help_does_not_import_torch():
    code = "import sys; from jaroberta.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass\n" \
           "assert 'torch' not in sys.modules, 'jaroberta --help imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_import_jaroberta_is_light_and_the_verbs_are_there():
    code = ("import sys, jaroberta\nassert 'torch' not in sys.modules, 'import jaroberta imported torch'\n"
            "from jaroberta import fill_mask, load, finetune, pretrain, Model\n"
            "assert load is jaroberta.api.load and fill_mask is jaroberta.api.fill_mask\n"
            "assert set(jaroberta.__all__) <= set(dir(jaroberta))")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_no_progress_holds_for_the_command_only(monkeypatch):
    seen = []

    def fake_pretrain(*args, **kwargs):
        seen.append(os.environ.get("TQDM_DISABLE"))
        raise JarobertaError("stop here")

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.setattr(train_command.api, "pretrain", fake_pretrain)
    assert main(["pretrain", "S", "O", "--steps", "1", "--no-progress"]) == 2
    assert main(["pretrain", "S", "O", "--steps", "1"]) == 2
    assert seen == ["1", None] and "TQDM_DISABLE" not in os.environ


def test_no_progress_silences_our_bars_even_after_tqdm_was_imported(tmp_path, capsys, ja_sentences):
    (tmp_path / "text.txt").write_text("\n".join(ja_sentences) + "\n", encoding="utf-8")
    args = ["tokenizer", "train", str(tmp_path / "text.txt"), str(tmp_path / "tok"), "--vocab-size", "300"]
    assert main([*args, "--no-progress"]) == 0
    assert "sentencepiece: reading" not in capsys.readouterr().err
    with bars_off():
        assert progress_bar(range(3)).disable
    assert not progress_bar(range(3), file=io.StringIO()).disable  # back on after the block
