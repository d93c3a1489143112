"""`jaroberta eval perplexity MODEL CORPUS` (document perplexity on a corpus split) and
`jaroberta eval jglue MODEL OUT --data JGLUE` (JGLUE's dev table)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jaroberta.commands import options

CONFIG = "jaroberta.infer.configs:PerplexityConfig"
JGLUE = "jaroberta.finetune.jglue_eval:JglueEvalConfig"


def register(subparsers, name: str, help: str) -> None:
    actions = options.group(subparsers, name, help)
    p = actions.add_parser(
        "perplexity",
        help="document perplexity: masked-token perplexity of whole documents (rinna's definition)",
        description="exp of the mean cross-entropy of masked tokens: each document is [CLS] + its pieces (long "
                    "ones cut into windows), 15%% of the pieces replaced by [MASK] with a fixed seed. Not pretraining's "
                    "dev rows perplexity (packed rows at the run's mask rate).",
    )
    options.model_options(p, batch=False)
    p.add_argument("corpus", type=Path, metavar="CORPUS", help="corpus folder from `jaroberta corpus build`")
    options.add_config(p, CONFIG, flags={"eval_limit": {"type": int, "metavar": "N",
                                                        "help": "evaluate at most N documents (default: all)"}})
    options.as_json(p, "print the report as JSON")
    options.no_progress(p)
    p.set_defaults(run=run)
    _register_jglue(actions)


def _register_jglue(actions) -> None:
    p = actions.add_parser(
        "jglue",
        help="JGLUE's dev table: fine-tune and score MODEL on every task of a JGLUE checkout",
        description="Fine-tune MODEL on each JGLUE task whose train and valid files are found in --data (MARC-ja from your "
                    "own conversion), with JGLUE's settings (max length per task, warmup 0.1, batch 32, learning rate "
                    "{5e-5, 3e-5, 2e-5} x epochs {3, 4} picked on dev), and write OUT/results.json, OUT/results.md "
                    "(JGLUE's table beside its published rows) and OUT/<task>/predictions.jsonl. Rerun to continue: "
                    "finished settings are not run again.",
    )
    options.add_config(p, JGLUE, positional=("model", "out"), skip=("user_dicts", "loop"), flags={
        "model": {"help": "pretrained model folder or hub id"},
        "out": {"type": Path, "help": "output folder (a rerun continues it)"},
        "data": {"type": Path, "required": True, "metavar": "JGLUE",
                 "help": "a JGLUE checkout: its root or its datasets/ folder"},
        "tasks": {"type": options.names, "metavar": "A,B", "default": None,
                  "help": "tasks to run, comma-separated: marc-ja, jsts, jnli, jsquad, jcommonsenseqa (default: all found)"},
        "init": {"choices": ["pretrained", "random"],
                 "help": "start from the pretrained weights, or the same architecture from random weights (a baseline)"},
        "word_boundaries": {"choices": ["mecab"], "default": None,
                            "help": "JSQuAD with a SentencePiece model: keep pieces inside MeCab words (a higher "
                                    "boundary ceiling)"},
    })
    options.user_dict(p)
    options.revision(p)
    p.add_argument("--seed", type=int, help="seed of the heads, the example order and dropout (default: fine-tuning's 42)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                   help="mixed precision: auto = bf16/fp16 on GPUs, fp32 on CPU (default: auto)")
    options.device(p, "; under torchrun LOCAL_RANK picks the GPU")
    options.as_json(p, "print results.json instead of the table")
    options.no_progress(p)
    p.set_defaults(run=run_jglue)


def run_jglue(args: argparse.Namespace) -> int:
    result = options.api().eval_jglue(**options.config_values(args, JGLUE), user_dict=args.user_dict,
                                      revision=args.revision, seed=args.seed, precision=args.precision,
                                      device=args.device, progress=not args.no_progress)
    if not result.is_main:
        return 0
    if args.json:
        options.print_json(result.to_dict())
        return 0
    print(result.markdown)
    print(f"results: {result.out / 'results.json'}")
    return 0


def run(args: argparse.Namespace) -> int:
    report = options.load(args).perplexity(args.corpus, **options.config_values(args, CONFIG))
    print(json.dumps(report.to_dict()) if args.json else report.describe())
    return 0
