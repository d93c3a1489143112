"""`jaroberta score MODEL TEXT...`: pseudo-log-likelihood and pseudo-perplexity."""

from __future__ import annotations

import argparse

from jaroberta.commands import options
from jaroberta.infer import render

CONFIG = "jaroberta.infer.configs:ScoreConfig"


def register(subparsers, name: str, help: str) -> None:
    p = subparsers.add_parser(
        name,
        help=help,
        description="Mask each piece of each text in turn and sum the log-probabilities of the true pieces "
                    "(pseudo-log-likelihood); pseudo-perplexity = exp(-PLL / pieces). Lower perplexity = more "
                    "natural to the model.",
    )
    options.model_options(p, batch=False)
    options.texts(p)
    options.add_config(p, CONFIG)
    options.as_json(p, "print one JSON object per text instead of a table")
    options.no_progress(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    texts = options.read_texts(args.text, args.input)
    scores = options.load(args).score(texts, **options.config_values(args, CONFIG))
    if args.json:
        render.print_json_lines(scores)
    else:
        print(render.score_table(scores))
    return 0
