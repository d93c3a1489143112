"""CLI: `jaroberta adapt BASE INPUT OUT`: a published model adapted to a domain, measured before and after."""

from __future__ import annotations

import argparse
from pathlib import Path

from jaroberta.commands import options


def register(subparsers, name: str, help: str) -> None:
    p = subparsers.add_parser(
        name,
        help=help,
        description="Build the domain corpus from INPUT (or take a corpus folder), extend BASE's tokenizer with domain "
                    "entries (every base id kept), pack, continue pretraining BASE grown to the new vocabulary with its "
                    "family's recipe at a continued-pretraining learning rate, and measure the base and the adapted "
                    "model on the domain's dev split in masked-LM bits per character (comparable across vocabularies). "
                    "Writes OUT/model/ (with its card) and OUT/report.json.",
    )
    p.add_argument("base", metavar="BASE", help="model folder or hub id to adapt (rinna's, JMedRoBERTa's or jaroberta's layout)")
    p.add_argument("input", type=Path, metavar="INPUT",
                   help="the domain's raw text (files or folders `jaroberta corpus build` reads) or a corpus folder")
    p.add_argument("out", type=Path, metavar="OUT", help="folder to write: corpus/, tokenizer/, shards/, run/, model/, report.json")
    vocabulary = p.add_argument_group("vocabulary")
    vocabulary.add_argument("--add", type=int, metavar="N",
                            help="domain entries to append (default: what the corpus gives, up to 2000, each seen at least "
                                 "5 times in the train split)")
    vocabulary.add_argument("--extend", action=argparse.BooleanOptionalAction, default=True,
                            help="extend the vocabulary; --no-extend continues pretraining with the base's own tokenizer "
                                 "(default: extend)")
    options.user_dict(vocabulary, "MeCab user dictionary (.dic): the base's (matched by file name) or one for the domain "
                                  "(MeCab family); repeat for several")
    training = p.add_argument_group("continued pretraining")
    training.add_argument("--steps", type=int, default=1000, help="optimizer steps (default: 1000)")
    training.add_argument("--minutes", type=float,
                          help="a time budget instead of --steps: as many steps as fit, measured on this machine")
    training.add_argument("--lr", type=float,
                          help="peak learning rate (default: half the family recipe's: rinna 3e-4, JMedRoBERTa 5e-5)")
    training.add_argument("--mask-rate", type=float, help="fraction of tokens masked (default: the recipe's, 0.15)")
    training.add_argument("--micro-batch", type=int, default=32, help="rows per optimizer step (default: 32)")
    training.add_argument("--max-length", type=int, default=128,
                          help="row length in tokens, documents packed back to back (default: 128)")
    training.add_argument("--dev-fraction", type=float, default=0.1,
                          help="share of a raw INPUT's documents held out as the dev split measured on (default: 0.1)")
    options.seed(training, "data order and masks", default="the family recipe's")
    options.revision(p)
    options.device(p)
    p.add_argument("--workers", type=int, default=1, help="tokenizer workers (default: 1)")
    options.no_progress(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    library = options.library("adapt")
    report = library.adapt(args.base, args.input, args.out, add=args.add, extend=args.extend, user_dict=tuple(args.user_dict),
                   steps=args.steps, minutes=args.minutes, lr=args.lr, mask_rate=args.mask_rate,
                   micro_batch=args.micro_batch, max_length=args.max_length, dev_fraction=args.dev_fraction,
                   seed=args.seed, revision=args.revision, device=args.device, workers=args.workers)
    print(library.summary(report))
    return 0
