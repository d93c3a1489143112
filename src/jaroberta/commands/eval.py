"""`jaroberta eval perplexity MODEL CORPUS`: masked-token perplexity on a corpus split."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jaroberta.commands import options


def register(subparsers, name: str, help: str) -> None:
    actions = options.group(subparsers, name, help)
    p = actions.add_parser(
        "perplexity",
        help="dev masked-token perplexity (rinna's definition), comparable across models",
        description="exp of the mean cross-entropy of masked tokens: each document is [CLS] + its pieces (long "
                    "ones cut into windows), 15%% of the pieces replaced by [MASK] with a fixed seed.",
    )
    options.model_options(p)
    p.add_argument("corpus", type=Path, metavar="CORPUS", help="corpus folder from `jaroberta corpus build`")
    p.add_argument("--split", default="dev", help="corpus split to read (default: dev)")
    p.add_argument("--mask-seed", type=int, default=0,
                   help="seed of the fixed masks; 0 is the one pretrain's dev perplexity uses (default: 0)")
    p.add_argument("--mask-rate", type=float, default=0.15, help="fraction of pieces masked (default: 0.15)")
    p.add_argument("--eval-limit", type=int, metavar="N", help="evaluate at most N documents (default: all)")
    options.as_json(p, "print the report as JSON")
    options.no_progress(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    report = options.load(args).perplexity(args.corpus, split=args.split, mask_seed=args.mask_seed,
                                           mask_rate=args.mask_rate, batch_size=args.batch_size,
                                           eval_limit=args.eval_limit)
    print(json.dumps(report.to_dict()) if args.json else report.describe())
    return 0
