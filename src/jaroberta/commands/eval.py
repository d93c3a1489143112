"""`jaroberta eval perplexity MODEL CORPUS`: masked-token perplexity on a corpus split."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jaroberta.commands import options

CONFIG = "jaroberta.infer.configs:PerplexityConfig"


def register(subparsers, name: str, help: str) -> None:
    actions = options.group(subparsers, name, help)
    p = actions.add_parser(
        "perplexity",
        help="dev masked-token perplexity (rinna's definition), comparable across models",
        description="exp of the mean cross-entropy of masked tokens: each document is [CLS] + its pieces (long "
                    "ones cut into windows), 15%% of the pieces replaced by [MASK] with a fixed seed.",
    )
    options.model_options(p, batch=False)
    p.add_argument("corpus", type=Path, metavar="CORPUS", help="corpus folder from `jaroberta corpus build`")
    options.add_config(p, CONFIG, flags={"eval_limit": {"type": int, "metavar": "N",
                                                        "help": "evaluate at most N documents (default: all)"}})
    options.as_json(p, "print the report as JSON")
    options.no_progress(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    report = options.load(args).perplexity(args.corpus, **options.config_values(args, CONFIG))
    print(json.dumps(report.to_dict()) if args.json else report.describe())
    return 0
