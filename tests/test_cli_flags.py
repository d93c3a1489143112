"""One vocabulary of flags: each the API field's name (old spellings gone), `--device auto`
everywhere through one resolver, `--json` where a command reports something, every `--help`
without torch, and a group without its action shows its actions."""

from __future__ import annotations

import argparse
import inspect
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from layouts import rinna_dir  # noqa: F401  (module-scoped fixture)
from test_pack import corpus_dir, tokenizer_dir  # noqa: F401  (module-scoped fixtures)

from jaroberta import api
from jaroberta.cli import TABLE, build_parser, main
from jaroberta.commands.options import config_values
from jaroberta.errors import JarobertaError
from jaroberta.train.pretrain import _accumulation
from jaroberta.model.device import resolve_device
from jaroberta.core.progress import bars_off, progress_bar


def parse(argv: list[str]):
    return build_parser(argv).parse_args(argv)


def test_pretrain_batch_size_is_micro_batches_times_processes():
    assert _accumulation(None, 4, 2) == 1
    assert _accumulation(16, 4, 2) == 2
    with pytest.raises(JarobertaError, match="multiple of micro_batch 4"):
        _accumulation(10, 4, 1)


def test_flags_carry_the_field_names():
    """The CLI's flag is the API field's name (`max_length` -> `--max-length`), default and all."""
    args = parse(["pack", "C", "T", "O", "--max-length", "64"])
    assert config_values(args, "jaroberta.corpus.pack:PackConfig") == {
        "corpus": Path("C"), "tokenizer": Path("T"), "out": Path("O"), "max_length": 64, "layout": "document",
        "workers": 1, "revision": None, "overwrite": False}
    values = config_values(parse(["pretrain", "S", "O", "--steps", "3", "--no-progress", "--collective-timeout-s", "9"]),
                           "jaroberta.train.pretrain:PretrainConfig")
    assert values["steps"] == 3 and values["progress"] is False and values["collective_timeout_s"] == 9
    assert values["lr"] is None and values["micro_batch"] == 16  # None: the recipe's, decided by the plan


@pytest.mark.parametrize("argv", [
    ["pack", "C", "T", "O", "--seq-len", "64"],
    ["pretrain", "S", "O", "--steps", "1", "--accumulation", "2"],
    ["pretrain", "S", "O", "--steps", "1", "--timeout-s", "2"],
    ["eval", "perplexity", "M", "C", "--rate", "0.2"],
    ["serve", "M", "--threads", "2"],
    ["dict", "build", "T", "O.dic", "--normalize", "nfkc"],
    ["embed", "M", "--out", "x.npy", "t"],
])
def test_old_spellings_are_gone(argv, capsys):
    with pytest.raises(SystemExit):
        parse(argv)
    assert "unrecognized arguments" in capsys.readouterr().err


def test_a_misspelt_option_fails_at_the_verb():
    with pytest.raises(TypeError, match="pretrain\\(\\): got an unexpected keyword argument 'lrr'"):
        api.pretrain("S", "O", steps=1, lrr=0.1)
    assert {"lr", "preset", "steps"} <= set(inspect.signature(api.pretrain).parameters)


def test_finetune_model_out_and_train(monkeypatch):
    seen = {}

    def fake_finetune(task, model, out, **kwargs):
        seen.update(task=task, model=model, out=str(out), train=str(kwargs["train"]), lr=kwargs["loop"].lr)
        raise JarobertaError("stop here")

    monkeypatch.setattr(api, "finetune", fake_finetune)
    assert main(["finetune", "classify", "MODEL", "OUT", "--train", "DATA"]) == 2
    assert seen == {"task": "classify", "model": "MODEL", "out": "OUT", "train": "DATA", "lr": 5e-5}


def test_finetune_needs_train_or_dataset(capsys):
    assert main(["finetune", "classify", "MODEL", "OUT"]) == 2
    assert "--train FILE" in capsys.readouterr().err


# -- --device ------------------------------------------------------------------------------------------
MODEL_COMMANDS = [["fill-mask"], ["score"], ["embed"], ["eval", "perplexity"], ["serve"], ["predict"],
                  ["finetune", "ner"], ["pretrain"], ["demo"]]


@pytest.mark.parametrize("path", MODEL_COMMANDS, ids=" ".join)
def test_every_model_command_has_device_auto(path):
    leaf = build_parser(path)
    for name in path:
        leaf = next(a for a in leaf._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
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
    with pytest.raises(JarobertaError, match="device"):
        resolve_device(name)


def test_device_on_fill_mask_and_a_bad_device(rinna_dir, capsys):  # noqa: F811
    assert main(["fill-mask", str(rinna_dir), "今日は[MASK]が良い。", "--device", "cpu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == "今日は[MASK]が良い。"
    assert main(["score", str(rinna_dir), "今日は天気が良い。", "--device", "gpu0"]) == 2
    assert "device 'gpu0' is not a device" in capsys.readouterr().err


def test_load_auto_is_cpu_without_cuda(rinna_dir):  # noqa: F811
    model = api.load(rinna_dir)
    assert model.lm.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert model.conventions == model.lm.conventions  # the wrapper answers for the loaded model


# -- outputs ------------------------------------------------------------------------------------------
def test_embed_writes_the_positional_out(rinna_dir, tmp_path, capsys):  # noqa: F811
    texts = tmp_path / "texts.txt"
    texts.write_text("猫が好きだ。\n犬が好きだ。\n", encoding="utf-8")
    assert main(["embed", str(rinna_dir), str(tmp_path / "a.npy"), "--input", str(texts)]) == 0
    assert main(["embed", str(rinna_dir), str(tmp_path / "c.npy"), "猫が好きだ。", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["rows"] == 1 and summary["path"] == str(tmp_path / "c.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy")[:1], np.load(tmp_path / "c.npy"))


def test_pack_json(corpus_dir, tokenizer_dir, tmp_path, capsys):  # noqa: F811
    assert main(["pack", str(corpus_dir), str(tokenizer_dir), str(tmp_path / "s"), "--max-length", "32", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["max_length"] == 32 and report["splits"]["dev"]["rows"] > 0


HELP_PATHS = [[]] + [[command.name] for command in TABLE] + [
    ["corpus", "build"], ["dict", "build"], ["tokenizer", "train"], ["tokenizer", "encode"], ["tokenizer", "info"],
    ["eval", "perplexity"], ["finetune", "classify"], ["finetune", "ner"], ["finetune", "pair"]]


def test_every_help_is_light():
    """Every command's --help, in a fresh interpreter, imports neither torch nor transformers (that is
    what made it take seconds): its flags come from the configs' source, not from importing them."""
    code = ("import sys\nfrom jaroberta.cli import main\n"
            f"for path in {HELP_PATHS!r}:\n"
            "    try: main([*path, '--help'])\n"
            "    except SystemExit: pass\n"
            "    heavy = {'torch', 'transformers'} & set(sys.modules)\n"
            "    assert not heavy, f'jaroberta {\" \".join(path)} --help imported {heavy}'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-1500:]


@pytest.mark.parametrize("group", [["corpus"], ["dict"], ["tokenizer"], ["eval"], ["finetune"]], ids=" ".join)
def test_a_group_without_its_action_prints_its_actions(group, capsys):
    assert main(group) == 2
    out = capsys.readouterr().out
    assert out.startswith(f"usage: jaroberta {group[0]}") and "ACTION" in out or "TASK" in out


def test_top_level_help_groups_the_commands_in_the_order_of_the_work(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    order = [out.index(f"    {name} ") for name in ("demo", "corpus", "dict", "tokenizer", "pack", "pretrain",
                                                     "fill-mask", "score", "embed", "eval", "finetune", "predict",
                                                     "serve", "export")]
    assert order == sorted(order)


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
    monkeypatch.setattr(api, "pretrain", fake_pretrain)
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


def test_a_summary_is_printed_once(corpus_dir, tokenizer_dir, tmp_path):  # noqa: F811
    """The library reports (and logs at DEBUG); the command prints the report once."""
    def run(*argv) -> str:
        done = subprocess.run([sys.executable, "-m", "jaroberta", *map(str, argv)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-1500:]
        return done.stdout + done.stderr

    printed = run("tokenizer", "train", corpus_dir, tmp_path / "tok", "--vocab-size", "300", "--no-progress")
    assert printed.count(str(tmp_path / "tok")) == 1 and "vocab 300" in printed
    printed = run("pack", corpus_dir, tokenizer_dir, tmp_path / "shards", "--max-length", "32", "--no-progress")
    assert printed.count("train: ") == 1 and printed.count("dev: ") == 1, printed
