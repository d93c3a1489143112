"""CLI: `jaroberta adapt BASE INPUT OUT`: a published model adapted to a domain, measured before and after."""

from __future__ import annotations

import argparse
from pathlib import Path

from jaroberta.commands import options

CONFIG = "jaroberta.adapt:AdaptConfig"


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
    options.add_config(p, CONFIG, positional=("base", "input", "out"), flags={
        "base": {"help": "model folder or hub id to adapt (rinna's, JMedRoBERTa's or jaroberta's layout)"},
        "input": {"type": Path, "help": "the domain's raw text (files or folders `jaroberta corpus build` reads) or a "
                                        "corpus folder"},
        "out": {"type": Path, "help": "folder to write: corpus/, tokenizer/, shards/, run/, model/, report.json"},
    })
    options.no_progress(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    library = options.library("adapt")
    report = library.adapt(library.AdaptConfig(**options.config_values(args, CONFIG)))
    print(library.summary(report))
    return 0
